"""The ssh engine end to end on a real host: a numpy notebook's environment built on the
namespace host (resolved here as of 2025-06-01, exactly as the local engine resolves), its kernel
run there and driven through a standard jupyter_client KernelManager: execute, interrupt, a
10-second link cut with the kernel's state kept, shutdown."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UV_CACHE, make_notebook
from tests.support.sshhost import SshHost, give_key

CODE = "import socket, numpy; print(socket.gethostname(), numpy.__version__)"
# One test process runs this module (pytest-xdist): its environment is built once, for all.
pytestmark = pytest.mark.xdist_group("ssh-engine")


class _Steps:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, action: str, detail: str = "") -> None:
        self.steps.append(action)
        print(f"[{time.strftime('%X')}] {action} {detail}", file=sys.stderr, flush=True)

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class Built:
    host: SshHost
    base: Path
    notebook: Path
    engine: Any
    plan: Any
    env: Any
    steps: list[str]
    local_pins: list[str]


@pytest.fixture(scope="module")
def built(ssh_host: SshHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The notebook's environment, built once on the host for this module's tests."""
    from jupyter_orbit.engines.local import LocalEngine
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, prepare
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import enroll
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.ssh_engine import SshEngine
    from jupyter_orbit.remote.url import parse_ssh_url

    base = tmp_path_factory.mktemp("ssh-engine")
    home = base / "home"
    give_key(home, ssh_host)
    # The user's SSH config is honoured: quick keepalives, so a cut link is noticed in seconds.
    (home / ".ssh" / "config").write_text(
        f"Host {ssh_host.address}\n  ServerAliveInterval 2\n  ServerAliveCountMax 2\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("ORBIT_HOME", str(base / "orbit-home"))
        mp.setenv("UV_CACHE_DIR", UV_CACHE)
        mp.delenv("SSH_AUTH_SOCK", raising=False)
        mp.delenv("ORBIT_PROFILE", raising=False)
        nb = make_notebook(
            base / "project" / "analysis" / "nb.ipynb",
            CODE,
            metadata={"orbit": {"packages": {"pypi": ["numpy"]}}},
        )
        (base / "project" / "data.csv").write_text("x\n1\n")
        (base / "project" / ".env").write_text("TOKEN=do-not-send\n")
        paths = Paths.from_env()
        # Resolved as every caller resolves (the kernel's own packages dated too), so `orbit
        # run` and a server find this very environment.
        choices = Choices(engine="ssh:lab", as_of="2025-06-01")
        res = prepare(nb, choices, paths, until="resolve").resolution
        profile = paths.profile("default")
        engine = SshEngine(paths, "lab")

        # The host's "site mirror": the very wheels the lock names, served on its own loopback
        # (the namespace has no other network).
        lock, _ = engine.resolve_lock(res.spec)
        (base / "lock.txt").write_text(lock)
        wheels = base / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(wheels), "-r", str(base / "lock.txt")],
            check=True,
        )  # fmt: skip
        mirror = ssh_host.serve(wheels)
        # As a host that never saw Orbit (other tests share it): no uv, no environments.
        ssh_host.forget_orbit()
        host = RemoteHost("lab", parse_ssh_url(ssh_host.url), find_links=(mirror,), no_index=True)
        run_sync(enroll(HostStore.of(profile), host, lambda key: True))

        plan = engine.plan(res.spec)
        progress = _Steps()
        env = engine.realize(plan, progress)
        local = LocalEngine(paths)
        local_pins = local.pins(local.plan(res.spec))
        yield Built(ssh_host, base, nb, engine, plan, env, progress.steps, local_pins)


def _kernel(built: Built, log: Path) -> tuple[Any, Any]:
    """A KernelManager running the engine's kernel command, as Jupyter would."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    from jupyter_orbit.engines.base import Launch
    from jupyter_orbit.kernels.recipes import get_recipe

    recipe = get_recipe("python")
    argv = built.engine.kernel_command(
        built.env,
        recipe,
        Launch(notebook=built.notebook, project_root=built.notebook.parent.parent),
    )
    specs = log.parent / "kernels"
    (specs / "remote").mkdir(parents=True, exist_ok=True)
    (specs / "remote" / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "remote", "language": "python"})
    )
    km = KernelManager(
        kernel_name="remote", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
    )
    out = log.open("ab")
    km.start_kernel(cwd=str(built.notebook.parent), stdout=out, stderr=out)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
    except Exception:
        km.shutdown_kernel(now=True)
        raise AssertionError(log.read_text()) from None
    return km, kc


def run_cell(kc: Any, code: str, timeout: float = 60) -> tuple[str, dict]:
    outputs: list[str] = []
    reply = kc.execute_interactive(
        code,
        timeout=timeout,
        output_hook=lambda msg: (
            outputs.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
        ),
    )
    return "".join(outputs), reply["content"]


def late_stream(kc: Any, timeout: float) -> str:
    """The text of the first stream message IOPub brings within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if msg["msg_type"] == "stream":
            return msg["content"].get("text", "")
    return ""


@pytest.mark.integration
def test_the_environment_is_built_remotely_with_the_local_resolution(built: Built):
    plan, env, host = built.plan, built.env, built.host
    assert [s.action for s in plan.steps] == ["connect", "uv", "resolve", "install"]
    assert "copy Orbit's uv" in plan.steps[1].detail  # the host has none on its PATH
    # realize runs the plan's steps; the remote build reports its own parts as it goes
    assert {"connect", "uv", "resolve", "venv", "install", "commit"} <= set(built.steps)
    assert env.engine == "ssh:lab" and env.env_id == plan.spec.env_id  # the same id as here
    prefix = host.home / ".cache" / "orbit-remote" / "envs" / env.env_id
    assert str(env.location) == str(prefix) and (prefix / "orbit-env.json").is_file()
    assert (host.home / ".cache" / "orbit-remote" / "bin" / "uv").is_file()
    remote_pins = [
        ln for ln in (prefix / "orbit" / "requirements.lock.txt").read_text().splitlines() if ln
    ]
    assert remote_pins == built.local_pins  # the local engine's resolution, exactly
    assert "numpy==2.2.6" in remote_pins  # the newest numpy on 2025-06-01
    assert not list(prefix.parent.glob(".build-*")) and not list(prefix.parent.glob(".stage-*"))
    # Looking it up again finds it, and planning again says it is built: from the note this
    # machine keeps, without asking the host (a fresh engine, the host's link down).
    from jupyter_orbit.remote.ssh_engine import SshEngine

    host.cut()
    try:
        again = SshEngine(built.engine.paths, "lab")
        assert again.lookup_id(env.env_id) == env
        assert again.plan(plan.spec).built is True
    finally:
        host.restore()


@pytest.mark.integration
def test_a_kernel_on_the_host_answers_through_a_kernel_manager(built: Built, tmp_path: Path):
    km, kc = _kernel(built, tmp_path / "proxy.log")
    try:
        out, reply = run_cell(kc, CODE)
        assert reply["status"] == "ok", reply
        assert out.split() == [built.host.hostname, "2.2.6"]
        # It runs as the host's user, in Orbit's copy of the project (secrets left behind).
        out, _ = run_cell(
            kc,
            "import os, pathlib; print(os.getuid()); print(os.getcwd());"
            "print(sorted(p.name for p in pathlib.Path('..').iterdir()))",
        )
        uid, cwd, listing = out.splitlines()
        assert int(uid) == built.host.uid
        assert cwd.startswith(str(built.host.home / ".cache" / "orbit-remote" / "projects"))
        assert cwd.endswith("/analysis")
        assert "data.csv" in listing and ".env" not in listing
        _check_loopback_and_private(built, km)
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert not km.is_alive()
    deadline = time.monotonic() + 15
    while any("ipykernel" in p for p in built.host.user_processes()):
        assert time.monotonic() < deadline, built.host.user_processes()
        time.sleep(0.2)


def _check_loopback_and_private(built: Built, km: Any) -> None:
    """Security baseline: ports on loopback at both ends, the kernel's files private to its
    user, its key in no command line."""
    host = built.host
    local = json.loads(Path(km.connection_file).read_text())
    ports = {
        local[p] for p in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    }
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.split("\n")
    here = {ln.split()[3] for ln in listening if ln.strip()}
    assert {f"127.0.0.1:{p}" for p in ports} <= here  # the tunnels' local ends
    assert not any(a.rsplit(":", 1)[1] in map(str, ports) for a in here if not a.startswith("127."))
    kernels = host.home / ".cache" / "orbit-remote" / "kernels"
    [folder] = [d for d in kernels.iterdir() if (d / "connection.json").exists()]
    remote = json.loads((folder / "connection.json").read_text())
    assert remote["ip"] == "127.0.0.1" and remote["key"] == local["key"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "connection.json").stat().st_mode & 0o777 == 0o600
    inside = subprocess.run(
        ["ip", "netns", "exec", host.netns, "ss", "-ltnH"], capture_output=True, text=True
    ).stdout.split("\n")
    addresses = {ln.split()[3] for ln in inside if ln.strip()}
    kernel_ports = {f"127.0.0.1:{remote[p]}" for p in ("shell_port", "iopub_port", "hb_port")}
    assert kernel_ports <= addresses
    assert all(a.startswith("127.0.0.1:") or a == f"{host.address}:22" for a in addresses)
    assert not any(local["key"] in cmd for cmd in host.user_processes())
    proxy = Path(f"/proc/{km.provisioner.process.pid}/cmdline").read_bytes()
    assert local["key"].encode() not in proxy


@pytest.mark.integration
def test_an_interrupt_reaches_the_remote_kernel(built: Built, tmp_path: Path):
    km, kc = _kernel(built, tmp_path / "proxy.log")
    try:
        msg_id = kc.execute("import time; time.sleep(120)")
        time.sleep(2)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        out, content = run_cell(kc, "print('still here')")
        if content["status"] == "aborted":  # it came while ipykernel still aborted what was
            time.sleep(0.5)  # queued behind the error (its stop-on-error window): once more
            out, content = run_cell(kc, "print('still here')")
        assert content["status"] == "ok", content
        if not out:  # a loaded machine: ipykernel may flush a stream after its idle status
            out = late_stream(kc, timeout=15)
        assert out.strip() == "still here"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


@pytest.mark.integration
def test_orbit_run_with_the_engine_runs_the_cells_on_the_host(built: Built):
    """``orbit run --engine ssh:lab``: the environment already built there is the one used
    (nothing built again), and the cells' output comes back to this machine's stdout."""
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(built.notebook), "--engine", "ssh:lab",
         "--yes", "--as-of", "2025-06-01"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{built.host.hostname} 2.2.6" in r.stdout.splitlines()
    assert "install on lab" not in r.stderr  # found built: nothing built again


# The acceptance test (test_mixed_server) cuts the link under a running server; this one, at
# the level of a bare KernelManager, is kept for the slow step.
@pytest.mark.slow
@pytest.mark.integration
def test_the_kernel_survives_a_ten_second_link_cut(built: Built, tmp_path: Path):
    log = tmp_path / "proxy.log"
    km, kc = _kernel(built, log)
    host = built.host
    try:
        out, _ = run_cell(kc, "import os; x = 41 + 1; print(os.getpid())")
        pid = out.strip()
        host.cut()
        try:
            time.sleep(10)
            assert km.is_alive()  # the local process waits for the link, it does not give up
        finally:
            host.restore()
        # As a frontend does after a reconnect: kernel_info until IOPub answers too (messages
        # published before the subscription is back are dropped, as PUB/SUB does).
        kc.wait_for_ready(timeout=120)
        out, reply = run_cell(kc, "print(x, os.getpid())", timeout=120)
        assert reply["status"] == "ok", reply
        assert out.split() == ["42", pid]  # the same kernel, its variables kept
        text = log.read_text()
        assert "was lost" in text and "reconnected" in text, text
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


@pytest.mark.integration
def test_orbit_env_shows_the_remote_plan(lab, client, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    r = client.run("env", str(nb), "--engine", "ssh:lab", "--as-of", "2025-06-01", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["location"].startswith("lab:") and report["location"].endswith(report["env_id"])
    steps = [s["action"] for s in report["plan"]["steps"]]
    assert steps == ["connect", "uv", "resolve", "install"]
    r = client.run("env", str(nb), "--engine", "ssh:nowhere", "--json")
    assert "no remote host named 'nowhere'" in r.stdout + r.stderr


def test_ssh_names_a_host(tmp_path: Path, monkeypatch):
    from jupyter_orbit.engines.base import get_engine
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.ssh_engine import SshEngine
    from jupyter_orbit.remote.url import parse_ssh_url

    monkeypatch.setenv("ORBIT_PROFILE", "work")  # the profile a server or --profile chose
    paths = Paths(tmp_path / "orbit-home")
    HostStore.of(paths.profile("work")).add(RemoteHost("lab", parse_ssh_url("ssh://me@lab")))
    engine = get_engine("ssh:lab", paths)
    assert isinstance(engine, SshEngine) and engine.id == "ssh:lab"
    assert engine.host.target.host == "lab" and engine.warm_kernels is False
    with pytest.raises(InputError, match="takes no target"):
        get_engine("local:lab", paths)
    with pytest.raises(InputError, match="needs a host: ssh:NAME"):
        get_engine("ssh", paths).host  # noqa: B018
    with pytest.raises(InputError, match="no remote host named 'gpu'"):
        get_engine("ssh:gpu", paths).host  # noqa: B018
    with pytest.raises(InputError, match="invalid remote name"):
        get_engine("ssh:../x", paths)
    assert get_engine("ssh", paths).cleanup() == 0  # a server's start-up sweep asks every engine
    monkeypatch.setenv("ORBIT_PROFILE", "default")
    with pytest.raises(InputError, match="no remote host named 'lab'"):
        get_engine("ssh:lab", paths).host  # noqa: B018


@pytest.mark.integration
def test_the_kernel_command_is_the_local_proxy(built: Built):
    from jupyter_orbit.engines.base import Launch
    from jupyter_orbit.kernels.recipes import get_recipe

    env, engine = built.env, built.engine
    recipe = get_recipe("python")
    project = built.notebook.parent.parent
    argv = engine.kernel_command(env, recipe, Launch(built.notebook, project_root=project))
    assert argv[1:3] == ["-m", "jupyter_orbit.remote.kernel_proxy"]
    opts = dict(zip(argv[3:-6:2], argv[4:-6:2], strict=True))
    prefix = str(env.location)
    copy = opts.pop("--cwd")
    assert opts == {
        "--profile-root": str(engine.profile.root),
        "--host": "lab",
        "--python": f"{prefix}/bin/python",
        "--env-prefix": prefix,
        "--connection-file": "{connection_file}",
    }
    # The project was sent before: the kernel's folder is the notebook's, in Orbit's copy.
    assert copy.startswith(str(built.host.home / ".cache" / "orbit-remote" / "projects"))
    assert copy.endswith("/analysis") and Path(copy, "nb.ipynb").is_file()
    assert argv[-6:] == [
        "--", f"{prefix}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"
    ]  # fmt: skip
    assert engine.kernel_env(env, recipe) == {}  # the kernel's variables go to the remote


def test_the_cli_says_when_a_notebooks_host_cannot_be_reached(client, tmp_path: Path):
    """``orbit run`` and ``orbit env`` on a notebook whose host refuses: the host, the reason
    and what to try, as an error (exit status 1), with nothing built or written."""
    from jupyter_orbit.remote.hosts import HostStore, RemoteHost
    from jupyter_orbit.remote.url import parse_ssh_url

    store = HostStore(client.home / "profiles" / "work")
    store.add(RemoteHost("gone", parse_ssh_url("ssh://nobody@127.0.0.1:1")))
    nb = make_notebook(tmp_path / "p" / "nb.ipynb", "1", metadata={"orbit": {"engine": "ssh:gone"}})
    before = nb.read_bytes()
    r = client.run("run", str(nb), "--yes", "--profile", "work", "--as-of", "2025-06-01")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error: cannot reach the remote host gone at nobody@[127.0.0.1]:1" in r.stderr
    assert "`ssh -p 1 nobody@127.0.0.1 true` should work" in r.stderr  # the hint
    # orbit env shows what was resolved and what stands in the way
    r = client.run("env", str(nb), "--dry-run", "--profile", "work", "--as-of", "2025-06-01")
    assert r.returncode == 0 and "ssh:gone, not built" in r.stdout
    assert "problem: cannot reach the remote host gone" in r.stdout
    r = client.run("run", str(nb), "--yes", "--as-of", "2025-06-01")  # another profile
    assert r.returncode != 0 and "no remote host named 'gone'" in r.stderr
    assert nb.read_bytes() == before and not (client.home / "envs" / "local").exists()
