"""orbit up / status / down with a real Jupyter server and real kernels."""

import asyncio
import json
import os
import signal
import socket
import stat
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import KernelWS, Server
from tests.support.launcher import configure

pytestmark = pytest.mark.integration


def run_code(server: Server, notebook: str, code: str, timeout: float = 600):
    session = server.new_session(notebook)

    async def go():
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=timeout)
            return await k.execute(code, timeout=timeout)

    return session, asyncio.run(go())


def cmdlines() -> list[str]:
    return [_cmd(p) for p in Path("/proc").iterdir() if p.name.isdigit()]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":
                found.add(addr)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    make_notebook(root / "plain.ipynb", "print(1)")
    make_notebook(
        root / "old" / "np.ipynb",
        "import numpy",
        metadata={"orbit": {"packages": {"pypi": ["numpy==1.26.4"]}}},
    )
    make_notebook(
        root / "new" / "np.ipynb",
        "import numpy",
        metadata={"orbit": {"packages": {"pypi": ["numpy>=2"]}}},
    )
    make_notebook(
        root / "broken" / "nb.ipynb",
        "print('hi')",
        metadata={"orbit": {"packages": {"pypi": ["orbit-test-no-such-package-xyz"]}}},
    )
    return root


def test_up_detach_secure_and_reusable(orbit: Orbit, project: Path):
    info = orbit.up(project)
    assert set(info) == {"url", "token", "root_dir", "pid"}
    assert info["url"].startswith("http://127.0.0.1:") and info["root_dir"] == str(project)
    server = Server(info["url"], info["token"])
    assert server.get("/api/status").status_code == 200
    import httpx

    assert httpx.get(info["url"].rstrip("/") + "/api/kernels").status_code == 403  # no token

    # loopback only, and the port the server reported is the one it holds
    port = int(info["url"].rsplit(":", 1)[1].strip("/"))
    assert listening_addresses(port) == {"0100007F"}

    # the token is in no process's argv and in no log; state files are private
    assert not [c for c in cmdlines() if info["token"] in c]
    prof = orbit.home / "profiles" / "default"
    assert info["token"] not in (prof / "logs" / "server.log").read_text()
    assert stat.S_IMODE((prof / "server.json").stat().st_mode) == 0o600
    assert not (prof / "jupyter" / "runtime" / "orbit-token").exists()  # read, then removed
    assert stat.S_IMODE((prof / "jupyter" / "runtime").stat().st_mode) == 0o700

    again = orbit.up(project / "old")  # a folder inside the running root reuses the server
    assert again["pid"] == info["pid"]

    elsewhere = orbit.run("up", str(project.parent), "--detach", "--no-browser")
    assert elsewhere.returncode == 1 and "already has a server running" in elsewhere.stderr


def test_kernels_run_in_their_own_environments_side_by_side(orbit: Orbit, project: Path):
    server = orbit.server(project)
    _, old = run_code(
        server, "old/np.ipynb", "import numpy, sys; print(numpy.__version__, sys.prefix)"
    )
    _, new = run_code(
        server, "new/np.ipynb", "import numpy, sys; print(numpy.__version__, sys.prefix)"
    )
    old_version, old_prefix = old.stdout.split()
    new_version, new_prefix = new.stdout.split()
    assert old_version == "1.26.4" and new_version.startswith("2.")
    envs = orbit.home / "envs" / "local"
    assert Path(old_prefix).parent == envs and Path(new_prefix).parent == envs
    assert old_prefix != new_prefix

    status = json.loads(orbit.run("status", "--json").stdout)
    assert status["running"] is True and "token" not in status
    by_nb = {Path(k["notebook"]).relative_to(project).as_posix(): k for k in status["kernels"]}
    assert Path(by_nb["old/np.ipynb"]["location"]) == Path(old_prefix)
    assert by_nb["new/np.ipynb"]["env_id"] == Path(new_prefix).name

    human = orbit.run("status").stdout
    assert "old/np.ipynb" in human and Path(old_prefix).name in human

    # `orbit down` shuts the kernels down too
    kernel_pids = [
        int(p.name)
        for p in Path("/proc").iterdir()
        # kernels only: an environment's bytecode job may still be finishing, and may
        if p.name.isdigit() and str(envs) in (cmd := _cmd(p)) and "ipykernel_launcher" in cmd
    ]
    assert kernel_pids
    down = orbit.run("down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not (orbit.home / "profiles" / "default" / "server.json").exists()
    for pid in kernel_pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def _cmd(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_unbuildable_environment_gives_an_explaining_kernel(orbit: Orbit, project: Path):
    server = orbit.server(project)
    session, reply = run_code(server, "broken/nb.ipynb", "print('hi')")
    assert reply.status == "error"
    assert "Orbit could not prepare this notebook's environment" in reply.stderr
    assert "orbit-test-no-such-package-xyz" in reply.stderr
    assert "Fix:" in reply.stderr and "hi" not in reply.stdout
    status = json.loads(orbit.run("status", "--json").stdout)
    [kernel] = [k for k in status["kernels"] if k["id"] == session["kernel"]["id"]]
    assert "no package named orbit-test-no-such-package-xyz" in kernel["error"]["error"]
    # nothing of it was built (the environments there are the kernel menu's, kept warm)
    built = (orbit.home / "envs" / "local").glob("*/orbit-env.json")
    assert not [f for f in built if "orbit-test-no-such-package-xyz" in f.read_text()]


def test_run_uses_the_running_server_and_its_warm_kernels(orbit: Orbit, project: Path):
    orbit.up(project)
    nb = project / "plain.ipynb"
    first = orbit.run("run", str(nb))
    assert first.returncode == 0 and first.stdout == "1\n", first.stderr
    log = (orbit.home / "profiles" / "default" / "logs" / "server.log").read_text()
    assert f"Orbit: running {nb} in environment" in log
    # again, and changed: the server runs the pipeline for it (orbit run sends no environment)
    again = orbit.run("run", str(nb))
    assert again.returncode == 0 and again.stdout == "1\n", again.stderr
    raw = json.loads(nb.read_text())
    raw["cells"].append({**raw["cells"][-1], "id": "more", "source": "print(2)"})
    nb.write_text(json.dumps(raw))
    changed = orbit.run("run", str(nb))
    assert changed.returncode == 0 and changed.stdout == "1\n2\n", changed.stderr
    log = (orbit.home / "profiles" / "default" / "logs" / "server.log").read_text()
    assert log.count(f"Orbit: running {nb} in environment") == 3
    # the pool now keeps a kernel warm for this environment
    status = json.loads(orbit.run("status", "--json").stdout)
    assert [p["env_id"] for p in status["pool"]] == [
        json.loads(orbit.run("env", str(nb), "--json").stdout)["env_id"]
    ]


def test_port_in_use(orbit: Orbit, project: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = orbit.run("up", str(project), "--detach", "--no-browser", "--port", str(port))
    assert r.returncode == 1
    assert f"port {port} is already in use" in r.stderr and "--port" in r.stderr
    assert not (orbit.home / "profiles" / "default" / "server.json").exists()


def test_explicit_port_is_used(orbit: Orbit, project: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = orbit.up(project, "--port", str(port))
    assert info["url"] == f"http://127.0.0.1:{port}/"


def test_a_server_that_died(orbit: Orbit, project: Path):
    info = orbit.up(project)
    os.killpg(info["pid"], signal.SIGKILL)
    for _ in range(100):
        if not Path(f"/proc/{info['pid']}").exists():
            break
        import time

        time.sleep(0.05)
    status = orbit.run("status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is False
    assert not (orbit.home / "profiles" / "default" / "server.json").exists()
    r = orbit.run("run", str(project / "plain.ipynb"))  # falls back to running here
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
    assert "no server is running" in orbit.run("down").stdout
    orbit.started.clear()


def test_missing_path(orbit: Orbit, tmp_path: Path):
    r = orbit.run("up", str(tmp_path / "nope"), "--detach", "--no-browser")
    assert r.returncode == 2 and "no such file or folder" in r.stderr


def test_second_kernel_for_an_environment_is_prewarmed(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "warm"
    make_notebook(root / "a" / "one.ipynb", "1")
    make_notebook(root / "b" / "two.ipynb", "1")
    (root / "a" / "data.txt").write_text("from a\n")
    (root / "b" / "data.txt").write_text("from b\n")
    configure(orbit.home, prewarm_kernels=[])  # so the first kernel is not a warm one
    server = orbit.server(root)
    code = "import os; print(open('data.txt').read().strip(), os.environ['JPY_SESSION_NAME'], __session__)"
    first, r1 = run_code(server, "a/one.ipynb", code)
    assert r1.stdout.split()[:2] == ["from", "a"]
    import time

    # the pool refills in the background, niced: on a loaded machine that takes its time
    deadline = time.monotonic() + 240
    while not (
        (pool := json.loads(orbit.run("status", "--json").stdout)["pool"]) and pool[0]["ready"]
    ):
        assert time.monotonic() < deadline, f"no warm kernel after 240 s: {pool}"
        time.sleep(0.2)
    second, r2 = run_code(server, "b/two.ipynb", code)
    # a warm kernel was handed over, and moved into the notebook's folder and session
    assert r2.stdout.split() == [
        "from",
        "b",
        str(root / "b" / "two.ipynb"),
        str(root / "b" / "two.ipynb"),
    ]
    status = json.loads(orbit.run("status", "--json").stdout)
    kernels = {k["id"]: k for k in status["kernels"]}
    assert kernels[first["kernel"]["id"]]["prewarmed"] is False
    assert kernels[second["kernel"]["id"]]["prewarmed"] is True

    # an adopted kernel restarts like any other
    kid = second["kernel"]["id"]
    assert server.post(f"/api/kernels/{kid}/restart").status_code == 200

    async def after_restart():
        async with KernelWS(server, kid) as k:
            await k.kernel_info()
            return await k.execute("import sys; print(sys.prefix)")

    assert asyncio.run(after_restart()).stdout.strip() == kernels[kid]["location"]
    assert server.delete(f"/api/kernels/{kid}").status_code == 204


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_foreground_up_stops_its_server_on_ctrl_c_or_kill(orbit: Orbit, tmp_path: Path, sig):
    import subprocess
    import sys
    import time

    root = tmp_path / "fg"
    root.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "up", str(root), "--no-browser"],
        env=orbit.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = orbit.home / "profiles" / "default" / "server.json"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = json.loads(state.read_text())["pid"]
    time.sleep(1)  # past the start, into the wait loop
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert "JupyterLab (profile default) at http://127.0.0.1:" in out
    assert "stopping the server" in err
    assert not state.exists()
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )
