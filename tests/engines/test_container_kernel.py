"""Kernels in containers behind the profile's server: started by Orbit's provisioner, watched,
interrupted, removed when they stop or their host process dies, orphans cleaned at start; and
the container options a notebook may (or may not) ask for."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.engines.container_kernel import LABEL_KERNEL, LABEL_OWNER, owner_label
from jupyter_orbit.engines.docker import DockerEngine, image_tag
from jupyter_orbit.paths import Paths
from tests.conftest import Orbit, make_notebook, snapshot
from tests.support.docker import kernel_containers, wait_for
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration

PROBE = (
    "import os, sys, socket\n"
    "print(sys.prefix, os.getuid(), os.getgid(), os.getcwd(), socket.gethostname(), "
    "open('data.txt').read().strip())"
)


@pytest.fixture
def project(tmp_path: Path, session_as_of: str) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    make_notebook(
        root / "sub" / "nb.ipynb",
        "1",
        metadata={"orbit": {"packages": {"pypi": ["six"]}, "as_of": session_as_of}},
    )
    (root / "sub" / "data.txt").write_text("beside the notebook\n")
    return root


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def execute(server: Server, kernel_id: str, code: str) -> Any:
    async with KernelWS(server, kernel_id) as k:
        return await k.execute(code)


def container_of(client: Any, hostname: str) -> Any:
    return next(c for c in kernel_containers(client) if c.id.startswith(hostname))


def _described(client: Any) -> list[dict]:
    from jupyter_orbit.engines.container_kernel import owner_alive

    return [
        {
            "name": c.name,
            "status": c.status,
            "created": c.attrs.get("Created"),
            "owner": c.labels.get(LABEL_OWNER),
            "owner alive": owner_alive(c.labels.get(LABEL_OWNER, "")),
            "state": c.attrs.get("State"),
        }
        for c in kernel_containers(client)
    ]


def test_server_kernels_run_in_containers(
    orbit: Orbit, project: Path, docker_base: str, docker_client: Any
):
    info = orbit.up(project, "--engine", "docker")
    server = Server(info["url"], info["token"])
    status = json.loads(orbit.run("status", "--json").stdout)
    assert status["engine"] == "docker"

    session = server.new_session("sub/nb.ipynb")
    kid = session["kernel"]["id"]
    reply = run(execute(server, kid, PROBE))
    assert reply.status == "ok", reply
    prefix, uid, gid, cwd, host, data = reply.stdout.split(maxsplit=5)
    assert prefix == "/opt/orbit/env"
    assert (int(uid), int(gid)) == (os.getuid(), os.getgid())
    assert cwd == str(project / "sub") and data.strip() == "beside the notebook"

    c = container_of(docker_client, host)
    cfg, hc = c.attrs["Config"], c.attrs["HostConfig"]
    assert cfg["User"] == f"{os.getuid()}:{os.getgid()}"
    assert hc["Privileged"] is False and hc["AutoRemove"] is True
    assert "no-new-privileges" in hc["SecurityOpt"]
    bindings = [b for ports in c.attrs["NetworkSettings"]["Ports"].values() for b in ports or ()]
    assert len(bindings) == 5 and {b["HostIp"] for b in bindings} == {"127.0.0.1"}
    mounts = {m["Source"]: m["Destination"] for m in c.attrs["Mounts"]}
    assert mounts == {str(project): str(project)}  # the project, at its own path; no socket
    assert not any("docker.sock" in s or "podman" in s for s in mounts)

    # An interrupt reaches the kernel inside the container.
    async def interrupted() -> Any:
        async with KernelWS(server, kid) as k:
            task = asyncio.ensure_future(k.execute("import time; time.sleep(120)"))
            await asyncio.sleep(3)
            await asyncio.to_thread(server.post, f"/api/kernels/{kid}/interrupt")
            return await asyncio.wait_for(task, 60)

    reply = run(interrupted())
    assert reply.status == "error" and reply.error["ename"] == "KeyboardInterrupt"

    # Shutting the kernel down removes its container.
    server.delete(f"/api/sessions/{session['id']}").raise_for_status()
    wait_for(lambda: c.id not in {x.id for x in kernel_containers(docker_client)}, what="removal")

    # So does killing its host-side process outright (the container's stdin closes).
    second = server.new_session("sub/nb.ipynb")
    reply = run(execute(server, second["kernel"]["id"], PROBE))
    c2 = container_of(docker_client, reply.stdout.split()[4])
    pid = int(c2.labels[LABEL_OWNER].split(":")[2])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: c2.id not in {x.id for x in kernel_containers(docker_client)}, what="removal")

    # And a kernel that dies on its own (Jupyter then starts a new one in a new container).
    third = server.new_session("sub/nb.ipynb")
    reply = run(execute(server, third["kernel"]["id"], PROBE))
    c3 = container_of(docker_client, reply.stdout.split()[4])

    async def die() -> None:
        async with KernelWS(server, third["kernel"]["id"]) as k:
            k._send("execute_request", {"code": "import os; os._exit(3)", "silent": False})
            await asyncio.sleep(1)

    run(die())
    wait_for(lambda: c3.id not in {x.id for x in kernel_containers(docker_client)}, what="removal")

    orbit.down_all()
    try:
        wait_for(lambda: not kernel_containers(docker_client), what="every kernel container gone")
    except AssertionError:
        raise AssertionError(f"kernel containers left: {_described(docker_client)}") from None


def test_orphans_are_removed_when_a_server_starts(
    orbit: Orbit, project: Path, docker_base: str, docker_client: Any
):
    dead = subprocess.Popen(["true"])
    dead.wait()
    machine, boot, _, _ = owner_label().split(":")
    common = {
        "image": docker_base,
        "entrypoint": ["sleep", "600"],
        "detach": True,
    }
    orphan = docker_client.containers.run(
        labels={LABEL_KERNEL: "orphan", LABEL_OWNER: f"{machine}:{boot}:{dead.pid}:1"}, **common
    )
    stopped = docker_client.containers.run(
        labels={LABEL_KERNEL: "stopped", LABEL_OWNER: owner_label()},
        **{**common, "entrypoint": ["true"]},
    )
    stopped.wait(timeout=60)
    alive = docker_client.containers.run(
        labels={LABEL_KERNEL: "alive", LABEL_OWNER: owner_label()}, **common
    )
    try:
        orbit.up(project)  # the local engine's server cleans up after every engine
        wait_for(lambda: not kernel_containers(docker_client, "orphan"), what="orphan removal")
        wait_for(lambda: not kernel_containers(docker_client, "stopped"), what="stopped removal")
        assert kernel_containers(docker_client, "alive")  # its process (this test) still runs
    finally:
        for c in (orphan, stopped, alive):
            with contextlib.suppress(Exception):
                c.remove(force=True)


def test_a_container_being_started_is_left_to_its_process(
    tmp_path: Path, docker_base: str, docker_client: Any
):
    """Created, not yet started: a kernel on its way while its process runs (another server's,
    or one a server began before its sweep), never to be started once that process is gone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    machine, boot, _, _ = owner_label().split(":")
    common = {"image": docker_base, "entrypoint": ["sleep", "600"]}
    starting = docker_client.containers.create(
        labels={LABEL_KERNEL: "starting", LABEL_OWNER: owner_label()}, **common
    )
    stuck = docker_client.containers.create(
        labels={LABEL_KERNEL: "stuck", LABEL_OWNER: f"{machine}:{boot}:{dead.pid}:1"}, **common
    )
    try:
        DockerEngine(Paths(tmp_path / "orbit-home")).cleanup()
        assert kernel_containers(docker_client, "starting")
        assert not kernel_containers(docker_client, "stuck")
    finally:
        for c in (starting, stuck):
            with contextlib.suppress(Exception):
                c.remove(force=True)


def test_notebook_metadata_picks_the_docker_engine(
    orbit: Orbit, project: Path, docker_base: str, session_as_of: str
):
    make_notebook(
        project / "in-docker.ipynb",
        "1",
        metadata={"orbit": {"engine": "docker", "as_of": session_as_of}},
    )
    make_notebook(project / "local.ipynb", "1")
    server = orbit.server(project)  # started without --engine: local by default
    for name, prefix in (("in-docker.ipynb", "/opt/orbit/env"), ("local.ipynb", None)):
        session = server.new_session(name)
        reply = run(execute(server, session["kernel"]["id"], "import sys; print(sys.prefix)"))
        assert reply.status == "ok", reply
        if prefix:
            assert reply.stdout.strip() == prefix
        else:
            assert reply.stdout.strip() != "/opt/orbit/env"
    r = orbit.run("up", str(project), "--engine", "docker", "--detach", "--no-browser")
    assert r.returncode == 1 and "already has a server running with the local engine" in r.stderr


def test_orbit_run_through_a_docker_server(
    orbit: Orbit, project: Path, docker_base: str, docker_client: Any
):
    nb = project / "sub" / "nb.ipynb"
    make_notebook(nb, PROBE, metadata=json.loads(nb.read_text())["metadata"])
    orbit.up(project, "--engine", "docker")
    r = orbit.run("run", str(nb), "--engine", "docker")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "/opt/orbit/env"
    assert r.stdout.split()[3] == str(project / "sub")


def test_container_options_from_metadata(
    orbit: Orbit, tmp_path: Path, docker_base: str, session_as_of: str
):
    folder = tmp_path / "p"
    (folder / "extra").mkdir(parents=True)
    (folder / "extra" / "x.txt").write_text("mounted read-only\n")
    nb = make_notebook(
        folder / "nb.ipynb",
        "print(open('/extra/x.txt').read().strip())\n"
        "try:\n    open('/extra/y.txt', 'w')\nexcept OSError as e:\n    print(type(e).__name__)",
        metadata={
            "orbit": {
                "as_of": session_as_of,
                "container": {"volumes": ["./extra:/extra:ro"], "environment": {"ANSWER": 42}},
            }
        },
    )
    r = orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["mounted read-only", "OSError"]


def test_host_access_from_metadata_is_refused_unless_allowed(
    orbit: Orbit, tmp_path: Path, docker_base: str, docker_client: Any, session_as_of: str
):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "print(open('/proc/1/cmdline').read().replace(chr(0), ' '))",
        metadata={"orbit": {"as_of": "2024-01-02", "container": {"pid": "host"}}},
    )
    before = snapshot(tmp_path)
    r = orbit.run("run", str(nb), "--engine", "docker", "--yes", "--no-server")
    assert r.returncode == 2
    assert f"{nb}: metadata.orbit.container.pid shares the host's processes" in r.stderr
    assert "--allow-host-access" in r.stderr
    assert snapshot(tmp_path) == before
    env_id = json.loads(orbit.run("env", str(nb), "--engine", "docker", "--json").stdout)["env_id"]
    assert not docker_client.images.list(name=image_tag(env_id))  # nothing was built

    allowed = make_notebook(
        tmp_path / "q" / "nb.ipynb",
        "print(open('/proc/1/cmdline').read().replace(chr(0), ' '))",
        metadata={"orbit": {"as_of": session_as_of, "container": {"pid": "host"}}},
    )
    r = orbit.run(
        "run", str(allowed), "--engine", "docker", "--yes", "--no-server", "--allow-host-access"
    )
    assert r.returncode == 0, r.stderr
    assert "orbit-guard" not in r.stdout  # PID 1 is the host's init, not the container's


def test_refused_options_explain_themselves_in_the_notebook(
    orbit: Orbit, project: Path, docker_base: str
):
    server = orbit.server(project)
    docker_nb = project / "bad-docker.ipynb"
    make_notebook(
        docker_nb,
        "1",
        metadata={"orbit": {"engine": "docker", "container": {"privileged": True}}},
    )
    session = server.new_session("bad-docker.ipynb")
    reply = run(execute(server, session["kernel"]["id"], "1"))
    assert reply.status == "error"
    assert "metadata.orbit.container.privileged asks for a privileged container" in reply.stderr
    assert "--allow-host-access" in reply.stderr


def _connection_file(folder: Path, first_port: int) -> Path:
    """A kernel connection file whose five ports start at ``first_port``."""
    connection = folder / "kernel.json"
    names = ("shell", "iopub", "stdin", "control", "hb")
    info = {f"{k}_port": first_port + i for i, k in enumerate(names)}
    connection.write_text(json.dumps(info | {"ip": "127.0.0.1", "key": "k", "transport": "tcp"}))
    return connection


# Stands for a stop (SIGTERM, as a kernel manager escalates to) that lands while the engine is
# still creating the container: it is sent from inside the create call, once the container exists.
_STOPPED_WHILE_CREATED = """
import os, signal, sys
import docker.models.containers as containers
from jupyter_orbit.engines import container_kernel

real = containers.ContainerCollection.create

def create(self, *args, **kwargs):
    made = real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
    return made

containers.ContainerCollection.create = create
sys.exit(container_kernel.main(sys.argv[1:]))
"""


def test_a_stop_while_the_container_is_created_leaves_no_container(
    tmp_path: Path, docker_base: str, docker_client: Any
):
    connection = _connection_file(tmp_path, 50101)
    env_id = "stoppedwhilecreated"
    r = subprocess.run(
        [sys.executable, "-c", _STOPPED_WHILE_CREATED, "--image", docker_base, "--env-id", env_id,
         "--connection-file", str(connection), "--", "python3", "-c", "pass"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1 and "stopped before it started" in r.stderr, (r.returncode, r.stderr)
    assert kernel_containers(docker_client, env_id) == []


# Starts the host side of a kernel as a server does (a session of its own), then waits.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-m", "jupyter_orbit.engines.container_kernel", *sys.argv[1:]],
    start_new_session=True,
)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_kernel_whose_server_is_gone_stops_and_leaves_no_container(
    tmp_path: Path, docker_base: str, docker_client: Any
):
    """The process that started the kernel died without stopping it (a server killed, or one
    that exited while its warm kernel was starting): the kernel stops, its container goes."""
    connection = _connection_file(tmp_path, 50121)
    env_id = "orphanedkernel"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, "--image", docker_base, "--env-id", env_id,
         "--connection-file", str(connection), "--", "python3", "-c", "import time; time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert parent.stdout is not None
    host = int(parent.stdout.readline())
    try:
        wait_for(
            lambda: [c for c in kernel_containers(docker_client, env_id) if c.status == "running"],
            timeout=120,
            what="the kernel's container running",
        )
        parent.kill()
        parent.wait()
        wait_for(lambda: not kernel_containers(docker_client, env_id), what="its container gone")
        wait_for(lambda: _gone(host), what="its host process gone")
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(host, signal.SIGKILL)
        for c in kernel_containers(docker_client, env_id):
            c.remove(force=True)


def _gone(pid: int) -> bool:
    try:  # (a zombie no init reaped is gone too)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
