"""The docker engine for real: images built through the Engine API, notebooks run in kernel
containers, layers shared between images, failures that name their step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.engines.base import Launch
from jupyter_orbit.engines.docker import DockerEngine, image_tag
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, prepare
from jupyter_orbit.resolve import resolve
from tests.conftest import Orbit, make_notebook, snapshot
from tests.support.docker import REPO, _Print, docker_gid, kernel_containers, wait_for

pytestmark = pytest.mark.integration

CELLS = (
    "import os, subprocess, idna\n"
    "print(subprocess.run(['jq', '--version'], capture_output=True, text=True).stdout.strip())",
    "print(open('data.txt').read().strip())",
    "open('written.txt', 'w').write('from the container')\n"
    "print('uid', os.getuid(), 'container', __import__('sys').prefix == '/opt/orbit/env')",
)


@pytest.fixture(scope="module")
def apt_project(tmp_path_factory: pytest.TempPathFactory, session_as_of: str) -> Path:
    """A project whose notebook needs a Debian package (apt.txt) and a PyPI package."""
    root = tmp_path_factory.mktemp("apt-project")
    (root / ".git").mkdir()
    (root / "apt.txt").write_text("jq\n")
    (root / "data.txt").write_text("project data\n")
    make_notebook(
        root / "analysis" / "nb.ipynb",
        *CELLS,
        metadata={"orbit": {"packages": {"pypi": ["idna"]}, "as_of": session_as_of}},
    )
    (root / "analysis" / "data.txt").write_text("data beside the notebook\n")
    return root


def test_notebook_with_apt_and_pypi_runs_in_a_container(
    shared_orbit: Orbit,
    apt_project: Path,
    docker_base: str,
    docker_client: Any,
    no_kernel_containers,
):
    nb = apt_project / "analysis" / "nb.ipynb"
    before = nb.read_bytes()
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("jq-1."), r.stdout  # Debian's jq, inside the image
    assert lines[1] == "data beside the notebook"
    assert lines[2] == f"uid {os.getuid()} container True"
    written = apt_project / "analysis" / "written.txt"
    assert written.read_text() == "from the container"
    assert written.stat().st_uid == os.getuid() and written.stat().st_gid == os.getgid()
    assert nb.read_bytes() == before  # running does not rewrite the notebook

    info = json.loads(shared_orbit.run("env", str(nb), "--engine", "docker", "--json").stdout)
    assert info["built"] and info["engine"] == "docker"
    assert info["location"] == image_tag(info["env_id"])
    found = docker_client.images.get(image_tag(info["env_id"]))
    assert found.labels["org.jupyter.orbit.base"] == docker_base
    assert json.loads(found.labels["org.jupyter.orbit.spec"])["packages"]["apt"] == ["jq"]
    # The image keeps the exact versions it resolved, and `orbit env --dry-run` reads them.
    pins = json.loads(
        shared_orbit.run("env", str(nb), "--engine", "docker", "--json", "--dry-run").stdout
    )["pins"]
    assert any(p.startswith("idna==") for p in pins) and any(
        p.startswith("ipykernel==") for p in pins
    )


def test_a_second_run_builds_nothing(shared_orbit: Orbit, apt_project: Path, docker_base: str):
    nb = apt_project / "analysis" / "nb.ipynb"
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert "orbit: image" not in r.stderr and "step" not in r.stderr


def test_metadata_engine_chooses_docker(
    shared_orbit: Orbit, tmp_path: Path, docker_base: str, session_as_of: str
):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "import sys; print(sys.prefix == '/opt/orbit/env')",
        metadata={"orbit": {"engine": "docker", "as_of": session_as_of}},
    )
    r = shared_orbit.run("run", str(nb), "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    r = shared_orbit.run("run", str(nb), "--yes", "--no-server", "--engine", "local")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"  # the command line wins over the notebook


def test_a_bash_notebook_runs_in_a_container(
    shared_orbit: Orbit, tmp_path: Path, docker_base: str, session_as_of: str
):
    """Not only Python: the Bash recipe's packages go into the image and its kernel runs there."""
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "echo $((6 * 7)) $(id -u)\n"
        "if test -d /opt/orbit/env; then echo in-a-container; else echo on-the-host; fi",
        metadata={
            "kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"},
            "orbit": {"engine": "docker", "as_of": session_as_of},
        },
    )
    r = shared_orbit.run("run", str(nb), "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42", str(os.getuid()), "in-a-container"]
    r = shared_orbit.run("run", str(nb), "--yes", "--no-server", "--engine", "local")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "on-the-host"  # the same notebook, on the host


def test_images_that_start_alike_share_layers(
    tmp_path: Path, docker_base: str, docker_client: Any, session_as_of: str, record_property
):
    """Two environments with the same Debian packages and different PyPI packages: the base and
    the apt layer are stored once; only each one's PyPI layer is its own."""
    engine = DockerEngine(Paths(tmp_path / "home"))
    images = []
    for pkg in ("six", "idna"):
        nb = make_notebook(
            tmp_path / pkg / "nb.ipynb",
            "1",
            metadata={
                "orbit": {"packages": {"apt": ["jq"], "pypi": [pkg]}, "as_of": session_as_of}
            },
        )
        res = engine.adapt(resolve(nb, default_python="3.11"))
        env = engine.ensure(res.spec, _Print())
        images.append(docker_client.images.get(env.record["image"]))
    a, b = (img.attrs["RootFS"]["Layers"] for img in images)
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    base_layers = docker_client.images.get(docker_base).attrs["RootFS"]["Layers"]
    assert a[: len(base_layers)] == base_layers
    assert shared == len(base_layers) + 2  # the base, then apt.txt and the apt layer
    sizes = [_layer_sizes(docker_client, img) for img in images]
    shared_bytes = sum(sizes[0][:shared])
    own = [sum(s[shared:]) for s in sizes]
    record_property("shared_bytes", shared_bytes)
    record_property("own_bytes", own)
    print(
        f"layers shared: {shared} ({shared_bytes / 1e6:.1f} MB); own: {[o / 1e6 for o in own]} MB"
    )
    assert shared_bytes > 10 * max(own)  # what a second environment adds is small


def _layer_sizes(client: Any, img: Any) -> list[int]:
    """Sizes of an image's file-system layers, bottom first (history has one entry per
    instruction; those that made no layer have size 0 and are skipped)."""
    history = [h for h in reversed(img.history()) if h["Size"] or "#(nop)" not in h["CreatedBy"]]
    sizes = [h["Size"] for h in history]
    layers = img.attrs["RootFS"]["Layers"]
    return sizes[-len(layers) :] if len(sizes) >= len(layers) else sizes


def test_a_failing_build_names_its_step_and_changes_no_image(
    shared_orbit: Orbit, tmp_path: Path, docker_base: str, docker_client: Any, session_as_of: str
):
    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    (project / "apt.txt").write_text("jq\n")
    nb = make_notebook(
        project / "nb.ipynb", "print(1)", metadata={"orbit": {"as_of": session_as_of}}
    )
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    good = json.loads(shared_orbit.run("env", str(nb), "--engine", "docker", "--json").stdout)
    good_id = docker_client.images.get(good["location"]).id

    (project / "apt.txt").write_text("jq\nno-such-package-orbit\n")
    before = snapshot(project)
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 1
    err = r.stderr
    assert "failed at step 3/" in err and "apt-get update" in err, err
    assert "Unable to locate package no-such-package-orbit" in err
    assert f"declared in {project / 'apt.txt'}" in err
    assert "no image was tagged" in err
    bad = json.loads(shared_orbit.run("env", str(nb), "--engine", "docker", "--json").stdout)
    assert not bad["built"]
    assert docker_client.images.get(good["location"]).id == good_id
    assert snapshot(project) == before


def test_python_the_image_cannot_provide_is_refused(shared_orbit: Orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata={"orbit": {"python": "3.12"}})
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 2
    assert "images have Python 3.11" in r.stderr and "asks for Python 3.12" in r.stderr


def test_npm_packages_layer(
    tmp_path: Path, docker_base: str, docker_client: Any, session_as_of: str
):
    engine = DockerEngine(Paths(tmp_path / "home"))
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        "1",
        metadata={"orbit": {"packages": {"npm": ["is-number@7.0.0"]}, "as_of": session_as_of}},
    )
    env = engine.ensure(engine.adapt(resolve(nb, default_python="3.11")).spec, _Print())
    out = docker_client.containers.run(
        env.record["image"],
        ["/opt/orbit/env/bin/node", "-e", "console.log(require('is-number')(5))"],
        environment={"NODE_PATH": "/opt/orbit/env/lib/node_modules"},
        remove=True,
    )
    assert out.decode().strip() == "true"
    listed = docker_client.containers.run(
        env.record["image"], ["sh", "-c", "command -v npm || echo none"], remove=True
    )
    assert listed.decode().strip() == "none"  # npm itself is not kept


def test_kernel_runs_as_a_non_root_callers_uid(
    apt_project: Path,
    shared_orbit: Orbit,
    docker_base: str,
    docker_client: Any,
    no_kernel_containers,
):
    """The caller's uid and gid, not root's: the host-side process runs as uid 4321 here."""
    if os.geteuid() != 0:
        pytest.skip("switching to another uid needs root")
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    nb = apt_project / "analysis" / "nb.ipynb"
    r = shared_orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    # the environment that run built, as the pipeline finds it
    found = prepare(nb, Choices(engine="docker"), Paths(shared_orbit.home), until="lookup")
    engine, env = found.engine, found.environment
    assert env is not None
    uid = gid = 4321
    work = Path(tempfile.mkdtemp(prefix="orbit-uid-"))
    os.chown(work, uid, gid)
    connection, _ = write_connection_file(str(work / "kernel.json"), ip="127.0.0.1")
    os.chown(connection, uid, gid)
    argv = engine.kernel_command(env, get_recipe("python"), Launch(project_root=work))
    # The test venv's interpreter lives under /root; another user runs the system's Python 3.11
    # on the same packages (the host-side process needs only docker-py and Orbit).
    site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"), None)
    system_python = Path("/usr/bin/python3.11")
    if site is None or not system_python.exists():
        pytest.skip("needs /usr/bin/python3.11 and a venv of this repository")
    code = _readable_code(site)
    argv = [str(system_python), *argv[1:]]
    argv = [connection if a == "{connection_file}" else a for a in argv]
    group = docker_gid()

    def demote() -> None:
        os.setgroups([group])
        os.setgid(gid)
        os.setuid(uid)

    proc = subprocess.Popen(
        argv,
        cwd=work,
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin", "HOME": str(work)},
        preexec_fn=demote,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    kc = BlockingKernelClient(connection_file=connection)
    kc.load_connection_file()
    kc.start_channels()
    try:
        _wait_ready(kc, proc)
        out: list[str] = []
        reply = kc.execute_interactive(
            "import os; open('mine.txt', 'w').write('x'); print(os.getuid(), os.getgid())",
            timeout=60,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok"
        assert "".join(out).strip() == f"{uid} {gid}"
        made = work / "mine.txt"
        assert (made.stat().st_uid, made.stat().st_gid) == (uid, gid)
        container = kernel_containers(docker_client, env.env_id)
        assert container and container[0].attrs["HostConfig"]["CapDrop"] == ["ALL"]
        kc.shutdown()
        assert proc.wait(timeout=60) == 0
    finally:
        kc.stop_channels()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(code, ignore_errors=True)
    wait_for(lambda: not kernel_containers(docker_client, env.env_id), what="the container to go")


def _readable_code(site: Path) -> Path:
    """Orbit and the packages the host-side process imports, copied where any user can read
    them: a checkout may sit in a folder only its owner can enter (a `mktemp -d` clone)."""
    probe = (
        "import sys, docker, docker.utils.socket, jupyter_orbit.engines.container_kernel\n"
        "print(*sorted({n.split('.')[0] for n, m in list(sys.modules.items())"
        " if str(getattr(m, '__file__', None) or '').startswith(sys.argv[1])}))"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{site}"}
    names = subprocess.run(
        [sys.executable, "-c", probe, str(site)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    code = Path(tempfile.mkdtemp(prefix="orbit-code-"))
    code.chmod(0o755)
    shutil.copytree(REPO / "src" / "jupyter_orbit", code / "jupyter_orbit")
    for name in names:
        if (site / name).is_dir():
            shutil.copytree(site / name, code / name)
        elif (site / f"{name}.py").is_file():
            shutil.copy2(site / f"{name}.py", code / f"{name}.py")
    return code


def _wait_ready(kc: Any, proc: subprocess.Popen, timeout: float = 120) -> None:
    """kernel_info until it is answered (a client without a manager cannot tell "not started
    yet" from "dead" by the heartbeat, so ask the host-side process instead)."""
    import time
    from queue import Empty

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[0].decode(errors="replace"))
        msg_id = kc.kernel_info()
        try:
            while True:
                msg = kc.get_shell_msg(timeout=1)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return
        except Empty:
            continue
    raise AssertionError("the kernel did not answer")


def test_docker_engine_needs_an_engine(tmp_path: Path):
    """Without an engine the error says so and how to fix it."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "ORBIT_HOME": str(tmp_path)}
    nb = make_notebook(tmp_path / "nb.ipynb", "1")
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--engine", "docker", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "no container engine answers" in r.stderr and "DOCKER_HOST" in r.stderr


# -- GPUs and devices a notebook declares (metadata.orbit.hardware) -------------------------------


def _gpu_look(name: str) -> Any:
    """Detection of a fixture machine (tests/hardware/fixtures/<name>) instead of this one."""
    from tests.hardware.test_detect import fixture

    return lambda kinds: fixture(name, kinds=kinds)


def test_a_gpu_notebook_gets_its_device_requests_in_the_kernel_container(
    tmp_path: Path, docker_client: Any, docker_base: str
):
    """Through the engine's own path: the pipeline fits the notebook to a machine with two
    NVIDIA GPUs and the container toolkit (fixture), the docker engine puts the devices on the
    kernel's command, the container starter turns them into its create arguments, and this
    engine records them on a real (never started) container."""
    from jupyter_orbit.engines.container_kernel import _parse, container_spec
    from jupyter_orbit.hardware.fit import Hardware
    from jupyter_orbit.model import Environment
    from jupyter_orbit.prepare import Choices, prepare
    from tests.support.golden import golden_in

    nb = make_notebook(
        tmp_path / "train.ipynb",
        "print(1)",
        metadata={"orbit": {"hardware": {"gpu": {"vendor": "nvidia", "count": 2}}}},
    )
    paths = Paths(tmp_path / "orbit-home")
    choices = Choices(
        engine="docker", as_of="2025-06-01", hardware=Hardware(look=_gpu_look("nvidia"))
    )
    prepared = prepare(nb, choices, paths, until="lookup")
    assert [g.path for g in prepared.hardware.match.gpus] == ["/dev/nvidia0", "/dev/nvidia1"]
    engine = prepared.engine
    env = Environment("docker", prepared.env_id, tmp_path, Path("/opt/orbit/env/bin/python"))
    argv = engine.kernel_command(env, prepared.recipe, prepared.launch)
    devices = json.loads(argv[argv.index("--devices") + 1])
    args = _parse(argv[argv.index("-m") + 2 :])
    assert args.image == image_tag(prepared.env_id)
    conn = dict.fromkeys(("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"), 1)
    kw = container_spec(args, conn)
    assert kw["privileged"] is False and "no-new-privileges" in kw["security_opt"]
    container = docker_client.containers.create(**dict(kw, image=docker_base, auto_remove=False))
    try:
        host = container.attrs["HostConfig"]
    finally:
        container.remove(force=True)
    golden_in(Path(__file__).parent / "golden")(
        "gpu-kernel-container.json",
        json.dumps(
            {"--devices": devices, "DeviceRequests": host["DeviceRequests"]},
            indent=2,
            sort_keys=True,
        )
        + "\n",
    )
    assert host["Privileged"] is False and not host.get("Devices")


def test_a_gpu_notebook_without_a_gpu_is_refused_before_anything_is_built(tmp_path: Path):
    from jupyter_orbit.errors import BuildError
    from jupyter_orbit.hardware.fit import Hardware
    from jupyter_orbit.prepare import Choices, prepare

    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata={"orbit": {"hardware": {"gpu": True}}})
    paths = Paths(tmp_path / "orbit-home")
    choices = Choices(engine="docker", hardware=Hardware(look=_gpu_look("none")))
    with pytest.raises(BuildError) as e:
        prepare(nb, choices, paths, until="launch")
    assert e.value.message.startswith("no GPU here: metadata.orbit.hardware.gpu asks for 1 GPU")
    assert "remove metadata.orbit.hardware.gpu to run on the CPU" in e.value.hint
    assert e.value.path == nb
