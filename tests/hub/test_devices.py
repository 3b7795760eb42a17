"""The GPUs a hub's users' servers get: what the project's notebooks declare together, held
against a fixture machine; serial devices left out with a warning; refusal without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError
from jupyter_orbit.hardware.fit import Hardware
from jupyter_orbit.hub.devices import hub_devices, notebooks, project_needs
from tests.conftest import make_notebook
from tests.hardware.test_detect import fixture


class Warnings:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def step(self, action: str, detail: str = "") -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.seen.append(message)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    make_notebook(root / "a.ipynb", "1", metadata={"orbit": {"hardware": {"gpu": 1}}})
    make_notebook(root / "sub" / "b.ipynb", "1", metadata={"orbit": {"hardware": {"gpu": 2}}})
    make_notebook(
        root / "board.ipynb", "1", metadata={"orbit": {"hardware": {"serial": "2e8a:0005"}}}
    )
    make_notebook(root / "plain.ipynb", "1")
    # a checkpoint copy asks for more, and is not the project's
    make_notebook(
        root / ".ipynb_checkpoints" / "a-checkpoint.ipynb",
        "1",
        metadata={"orbit": {"hardware": {"gpu": 8}}},
    )
    return root


def look(name: str):
    return Hardware(look=lambda kinds: fixture(name, kinds=kinds))


def test_the_projects_notebooks_together(tmp_path):
    root = project(tmp_path)
    assert [p.relative_to(root).as_posix() for p in notebooks(root)] == [
        "a.ipynb",
        "board.ipynb",
        "plain.ipynb",
        "sub/b.ipynb",
    ]
    needs = project_needs(root)
    assert (needs.gpu.count, len(needs.serial), needs.notebook) == (2, 1, root)


def test_gpu_requests_for_every_users_server_and_no_serial(tmp_path):
    progress = Warnings()
    devices = hub_devices(project(tmp_path), look("nvidia"), {}, progress)
    assert devices == {
        "device_requests": [
            {
                "capabilities": [["gpu"]],
                "device_ids": [
                    "GPU-3b6e1c2a-8f0d-4d6e-9a51-0c7e2f9b1d11",
                    "GPU-91f2d7c4-2b8e-4f3a-a6d0-5e4c3b2a1f00",
                ],
            }
        ]
    }
    assert progress.seen == [
        "the hub does not pass USB device 2e8a:0005 to its users' servers (they share the "
        "machine); open those notebooks in Orbit itself"
    ]
    # an engine that resolves CDI names gets those instead
    cdi = hub_devices(
        project(tmp_path / "again"), look("nvidia"), {"CDISpecDirs": ["/etc/cdi"]}, Warnings()
    )
    assert cdi == {
        "device_requests": [
            {"driver": "cdi", "device_ids": ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]}
        ]
    }


def test_no_gpu_here_refuses_the_hub(tmp_path):
    with pytest.raises(BuildError, match="no GPU here") as e:
        hub_devices(project(tmp_path), look("none"), {}, Warnings())
    assert e.value.path == tmp_path / "proj"


def test_a_project_without_gpus_looks_at_nothing(tmp_path):
    root = tmp_path / "plain"
    make_notebook(root / "nb.ipynb", "1")

    def never(kinds):
        raise AssertionError("looked at the machine")

    assert hub_devices(root, Hardware(look=never), {}, Warnings()) == {}
