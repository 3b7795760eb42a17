"""The pipeline's use of hardware, in process: what ``prepare`` looks at, refuses and builds
for a notebook's ``metadata.orbit.hardware`` and the profile's ``[hardware]`` table, on fixture
machines (tests/hardware/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.errors import BuildError
from jupyter_orbit.hardware.fit import Hardware, fit, kinds_for
from jupyter_orbit.indexes import IndexRefused
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, declared, prepare
from tests.conftest import make_notebook
from tests.hardware.test_detect import fixture, fixture_ports

CPU = "http://127.0.0.1:9/cpu/simple"
CU121 = "http://127.0.0.1:9/cu121/simple"


def machine(name: str, seen: list | None = None, **kw):
    """A ``look`` on fixture machine ``name`` that records which kinds it was asked for."""

    def look(kinds):
        if seen is not None:
            seen.append(tuple(kinds))
        return fixture(name, kinds=kinds, **kw)

    return look


def profile_settings(tmp_path: Path, hardware: str = "") -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(f'[server]\npython = "3.11"\njupyterlab = "4.2.0"\n{hardware}')
    return path


INDEXES = f'[hardware.torch_indexes]\ncpu = "{CPU}"\ncu121 = "{CU121}"\n'


def nb(tmp_path: Path, name: str = "nb.ipynb", **orbit) -> Path:
    return make_notebook(tmp_path / "proj" / name, "1", metadata={"orbit": orbit})


def lookup(target: Path, tmp_path: Path, **hardware) -> object:
    choices = Choices(as_of="2025-06-01", hardware=Hardware(**hardware))
    return prepare(target, choices, Paths(tmp_path / "orbit-home"), until="lookup")


def test_a_notebook_that_declares_nothing_costs_no_probing(tmp_path):
    seen: list = []
    p = lookup(nb(tmp_path), tmp_path, look=machine("nvidia", seen))
    assert seen == [] and p.hardware.ok and p.hardware.accelerator is None
    assert p.hardware.kernel_env() == {} and p.launch.hardware is p.hardware


def test_no_gpu_here_is_refused_with_the_fix(tmp_path):
    target = nb(tmp_path, hardware={"gpu": True})
    seen: list = []
    with pytest.raises(BuildError) as e:
        lookup(target, tmp_path, look=machine("none", seen))
    assert seen == [("gpu",)]  # GPUs only: no serial, VISA or camera scan
    assert str(e.value.message) == (
        "no GPU here: metadata.orbit.hardware.gpu asks for 1 GPU, and this machine has none"
    )
    assert e.value.path == target and "remove metadata.orbit.hardware.gpu" in e.value.hint
    assert not (tmp_path / "orbit-home").exists()  # refused before anything was looked up


def test_gpus_found_and_serial_ports_matched(tmp_path):
    p = lookup(nb(tmp_path, hardware={"gpu": 2}), tmp_path, look=machine("nvidia"))
    assert [g.path for g in p.hardware.match.gpus] == ["/dev/nvidia0", "/dev/nvidia1"]
    board = nb(tmp_path, "board.ipynb", hardware={"serial": "2e8a:0005"})
    p = lookup(
        board,
        tmp_path,
        look=machine("none", serial_ports=fixture_ports, groups=frozenset({"dialout"})),
    )
    assert p.hardware.kernel_env() == {"ORBIT_SERIAL_PORT": "/dev/ttyACM0"}
    assert kinds_for(p.resolution.hardware) == ("serial",)


def test_the_profiles_cpu_index_for_torch_is_not_the_projects(tmp_path):
    """The profile's index joins the spec (and the environment's id) but is neither reported
    as a source-changing line nor asked consent for; the project's own is refused."""
    settings = profile_settings(tmp_path, INDEXES)
    target = nb(tmp_path, packages={"pypi": ["torch"]})
    plain = lookup(target, tmp_path)
    p = lookup(target, tmp_path, settings_file=settings, look=machine("nvidia"))
    assert p.hardware.accelerator.variant == "cpu"  # no GPU declared: none for this kernel
    assert p.spec.index_options == (f"--extra-index-url {CPU}",)
    assert p.resolution.source_changing == () and declared(p.resolution) == ["pypi:torch"]
    assert p.env_id != plain.env_id and plain.spec.index_options == ()

    own = nb(
        tmp_path,
        "own.ipynb",
        packages={"pypi": ["torch"]},
        index_options=["--extra-index-url https://mirror.example/simple"],
    )
    # the project's own index is refused unless the user's configuration allows it
    with pytest.raises(IndexRefused, match=r"mirror\.example"):
        lookup(own, tmp_path, settings_file=settings, look=machine("none"))


def test_a_declared_gpu_gets_the_cuda_build_the_driver_supports(tmp_path):
    settings = profile_settings(tmp_path, INDEXES)
    target = nb(tmp_path, packages={"pypi": ["torch", "jax"]}, hardware={"gpu": "nvidia"})
    p = lookup(target, tmp_path, settings_file=settings, look=machine("nvidia"))
    assert p.hardware.accelerator.variant == "cu121"  # the fixture's driver: CUDA 12.4
    assert f"--extra-index-url {CU121}" in p.spec.index_options
    assert "jax[cuda12]" in [r.text for r in p.spec.packages("pypi")]
    assert p.resolution.source_changing == ()


def test_stages_that_write_files_never_see_the_profiles_index(tmp_path):
    """stamp, add, lock and export stop after resolve: what they write holds no profile index."""
    settings = profile_settings(tmp_path, INDEXES)
    target = nb(tmp_path, packages={"pypi": ["torch"]})
    choices = Choices(hardware=Hardware(settings_file=settings, look=machine("none")))
    p = prepare(target, choices, Paths(tmp_path / "home"), until="resolve")
    assert p.hardware is None and p.spec.index_options == ()


def test_fit_reports_as_orbit_env_shows_it(tmp_path):
    p = lookup(nb(tmp_path, hardware={"gpu": 1}), tmp_path, look=machine("nvidia"))
    doc = fit(p.resolution, p.launch.hardware.hardware).to_dict()
    assert doc["ok"] is True and doc["gpus"] == ["/dev/nvidia0"]
    assert doc["needs"] == {"gpu": {"vendor": None, "count": 1}} and doc["accelerator"] is None


@pytest.mark.integration
def test_a_board_notebook_through_the_pipeline_to_its_kernel(tmp_path, board, device_kernel):
    """A MicroPython notebook declaring its board by USB id: the pipeline finds the port (a
    simulated board on a pty, listed as pyserial would list the board), builds the recipe's
    environment, and hands the kernel the port through its variables, as the provisioner does;
    the kernel answers cells from the board."""
    from jupyter_orbit.hardware.detect import Probe, SerialPort, detect
    from jupyter_orbit.prepare import Consent

    b = board()
    target = make_notebook(
        tmp_path / "proj" / "blink.ipynb",
        "print(6 * 7)",
        metadata={"orbit": {"kernel": "micropython", "hardware": {"serial": "f055:9800"}}},
    )

    def look(kinds):
        ports = [SerialPort(b.port, "Pyboard", vid=0xF055, pid=0x9800, product="Pyboard")]
        return detect(Probe(), serial_ports=lambda: ports, kinds=kinds)

    choices = Choices(as_of="2025-06-01", consent=Consent(yes=True), hardware=Hardware(look=look))
    prepared = prepare(target, choices, Paths(tmp_path / "orbit-home"))
    assert prepared.recipe.name == "micropython" and prepared.built
    assert prepared.kernel_env["ORBIT_SERIAL_PORT"] == b.port
    k = device_kernel("", prepared.kernel_env, argv=prepared.argv)
    assert k.execute("print(6 * 7)").stream() == "42\n"


def test_opened_in_jupyterlab_a_gpu_notebook_says_no_gpu_here(orbit, tmp_path):
    """The server's kernel provisioner goes through the same pipeline: on this machine (no GPU)
    the notebook's kernel is Orbit's explaining kernel, which says what is missing."""
    import asyncio

    from jupyter_orbit.hardware.detect import detect
    from tests.support.kernelws import KernelWS

    if detect(kinds=("gpu",)).gpus():
        pytest.skip("this machine has a GPU")
    project = tmp_path / "lab"
    make_notebook(project / "train.ipynb", "1", metadata={"orbit": {"hardware": {"gpu": True}}})
    server = orbit.server(project)
    session = server.new_session("train.ipynb")

    async def go():
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=120)
            return await k.execute("print('hi')", timeout=120)

    reply = asyncio.run(go())
    assert reply.status == "error" and "hi" not in reply.stdout
    assert "no GPU here: metadata.orbit.hardware.gpu asks for 1 GPU" in reply.stderr
    assert "remove metadata.orbit.hardware.gpu to run on the CPU" in reply.stderr
