"""What a run request may ask of the server (the attacks are in tests/security/test_run_body.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices
from jupyter_orbit.server import execute as server_execute
from jupyter_orbit.server.execute import Refused, check_request
from jupyter_orbit.server.runanswers import Answer, Asked, RunAnswers


def runtime(root: Path, allow_host_access: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        root_dir=root.resolve(), allow_host_access=allow_host_access, default_engine="local"
    )


def body(cwd: Path, session: Path, **more) -> dict:
    return {"notebook": {}, "env_id": "abc", "cwd": str(cwd), "session": str(session), **more}


def test_requests_inside_the_root(tmp_path: Path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    root = tmp_path / "root"
    request = check_request(runtime(root), body(root / "sub", root / "sub" / "nb.ipynb"))
    assert request.cwd == root / "sub" and request.path == root / "sub" / "nb.ipynb"
    assert request.engine == "local" and request.kernel == "python"
    wide = check_request(
        runtime(root, allow_host_access=True),
        body(root, root / "nb.ipynb", allow_host_access=True, project_root="/"),
    )
    assert wide.cwd == root  # a body's project root is not taken at all


def test_requests_beyond_the_root_or_the_server_s_permissions(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "away").symlink_to(tmp_path, target_is_directory=True)
    for cwd, session, more, why in (
        (tmp_path, root / "nb.ipynb", {}, "not a folder inside"),
        (root / "away", root / "nb.ipynb", {}, "not a folder inside"),
        (Path(), root / "nb.ipynb", {}, "not a folder inside"),
        (root, tmp_path / "nb.ipynb", {}, "outside this server's root"),
        (root, root / "away" / "nb.ipynb", {}, "outside this server's root"),
        (root, root / "nb.ipynb", {"allow_host_access": True}, "--allow-host-access"),
    ):
        with pytest.raises(Refused, match=why):
            check_request(runtime(root), body(cwd, session, **more))


def test_a_request_without_an_environment_names_a_notebook(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    raw = body(root, root / "nb.ipynb", python="3.12", locked=True)
    del raw["env_id"]
    request = check_request(runtime(root), raw)
    assert request.env_id is None and request.path == root / "nb.ipynb"
    assert request.asked == Asked(python="3.12", locked=True)
    with pytest.raises(Refused, match="names a built environment or a notebook"):
        check_request(runtime(root), {k: v for k, v in raw.items() if k != "session"})


class Runtime:
    """What run_streaming reaches of the server's runtime before a kernel starts."""

    def __init__(self, root: Path) -> None:
        self.root_dir, self.allow_host_access, self.default_engine = root, False, "local"


def test_a_notebook_orbit_run_must_prepare_is_answered_before_any_kernel(
    tmp_path: Path, monkeypatch
):
    root = tmp_path / "root"
    root.mkdir()
    (root / "nb.ipynb").write_text("{}")
    rt = Runtime(root)
    home = Paths(tmp_path / "home")
    asked: list[Path] = []

    class NotBuilt(RunAnswers):
        def answer(self, notebook: Path, wanted: Asked) -> Answer:
            asked.append(notebook)
            return Answer(here="its environment is not built")

    server_execute._answers[rt] = NotBuilt(home, home.profile("default"), Choices)

    async def no_kernel(*args, **kwargs):
        raise AssertionError("no kernel may start")

    monkeypatch.setattr(server_execute, "start_kernel", no_kernel)
    raw = body(root, root / "nb.ipynb")
    del raw["env_id"]
    events: list[dict] = []

    async def emit(event: dict) -> None:
        events.append(event)

    asyncio.run(server_execute.run_streaming(rt, check_request(rt, raw), emit))
    assert asked == [root / "nb.ipynb"]
    assert events == [
        {"done": True, "ok": False, "prepare": "here", "why": "its environment is not built"}
    ]
