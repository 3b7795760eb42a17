"""The acceptance of issue 18: one Orbit server, two notebooks open at once, one kernel on this
machine and one on the namespace host (``metadata.orbit.engine = "ssh:lab"``), each printing
its host name and numpy version from its own environment (resolved as of 2025-06-01). The
remote one survives a 10-second link cut with its variables intact; a notebook whose host is
down gets the reason in the notebook itself."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import KernelWS, Server
from tests.support.sshhost import SshHost, give_key

pytestmark = pytest.mark.integration

CODE = "import socket, numpy; print(socket.gethostname(), numpy.__version__)"
NUMPY = {"packages": {"pypi": ["numpy"]}, "as_of": "2025-06-01"}


def _mirror(orbit: Orbit, host: SshHost, notebook: Path, base: Path) -> str:
    """The host's package mirror (it has no other network): the wheels of the pins the local
    engine resolves for ``notebook``, served on the host's own loopback."""
    r = orbit.run("env", str(notebook), "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    pins = json.loads(r.stdout)["pins"]
    assert "numpy==2.2.6" in pins  # the newest numpy on 2025-06-01
    (base / "pins.txt").write_text("\n".join(pins) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", "-d", str(base / "wheels"), "-r", str(base / "pins.txt")],
        check=True,
    )  # fmt: skip
    return host.serve(base / "wheels")


async def _settle(k: KernelWS, timeout: float = 120) -> None:
    """As a frontend does after a reconnect: ask until shell and IOPub both answer again
    (what a kernel publishes before the subscription is back is dropped, as PUB/SUB does)."""
    deadline = time.monotonic() + timeout
    await k.kernel_info(timeout=timeout)
    while True:
        try:
            reply = await k.execute("1", timeout=5)
            if reply.status == "ok":
                return
        except TimeoutError:
            pass
        assert time.monotonic() < deadline, "the remote kernel did not answer after the cut"


def test_one_server_runs_a_local_and_a_remote_notebook(
    orbit: Orbit, ssh_host: SshHost, tmp_path: Path
):
    work = tmp_path / "work"
    here = make_notebook(work / "here.ipynb", CODE, metadata={"orbit": NUMPY})
    there = make_notebook(
        work / "analysis" / "there.ipynb",
        CODE,
        metadata={"orbit": {**NUMPY, "engine": "ssh:lab"}},
    )
    give_key(orbit.user_home, ssh_host)
    # The user's own SSH config is what Orbit follows: quick keepalives notice a cut link.
    (orbit.user_home / ".ssh" / "config").write_text(
        f"Host {ssh_host.address}\n  ServerAliveInterval 2\n  ServerAliveCountMax 2\n"
    )
    mirror = _mirror(orbit, ssh_host, here, tmp_path)
    # As a host that never saw Orbit (other tests share it): no uv, no environments.
    ssh_host.forget_orbit()
    r = orbit.run(
        "remote", "add", "lab", ssh_host.url, "--accept-new-host-key",
        "--no-index", "--find-links", mirror,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert orbit.run("trust", str(work)).returncode == 0

    server = Server(**{k: v for k, v in orbit.up(work).items() if k in ("url", "token")})
    local = server.new_session("here.ipynb")
    remote = server.new_session("analysis/there.ipynb")
    kernels = {k["notebook"]: k for k in server.get("/orbit/api/status").json()["kernels"]}
    assert kernels[str(there)].get("engine") == "ssh:lab", json.dumps(kernels[str(there)])
    assert kernels[str(here)]["engine"] == "local"
    assert kernels[str(here)]["env_id"] == kernels[str(there)]["env_id"]  # one resolution

    async def scenario() -> None:
        async with (
            KernelWS(server, local["kernel"]["id"]) as lk,
            KernelWS(server, remote["kernel"]["id"]) as rk,
        ):
            await lk.kernel_info()
            await rk.kernel_info()
            a, b = await asyncio.gather(lk.execute(CODE), rk.execute(CODE))
            assert a.status == "ok" and b.status == "ok", (a, b)
            assert a.stdout.split() == [socket.gethostname(), "2.2.6"]
            assert b.stdout.split() == [ssh_host.hostname, "2.2.6"]
            assert ssh_host.hostname != socket.gethostname()
            # The remote kernel runs in Orbit's copy of the project, in the notebook's folder.
            cwd = await rk.execute("import os; x = 41 + 1; print(os.getpid(), os.getcwd())")
            pid, folder = cwd.stdout.split()
            assert folder.startswith(str(ssh_host.home)) and folder.endswith("/analysis")

            ssh_host.cut()
            try:
                await asyncio.sleep(10)
                # This machine's notebook does not wait for the other one's link.
                during = await lk.execute("print('here, during the cut')", timeout=30)
                assert during.stdout.strip() == "here, during the cut"
                # The remote one says why a cell does not run now (and does not run it).
                told = await rk.execute("x = 'overwritten'", timeout=30)
                assert told.status == "error" and told.error["ename"] == "ConnectionLost"
                assert "connection to lab was lost" in told.stderr
                assert "keeps running there, with its variables" in told.stderr
            finally:
                ssh_host.restore()
            await _settle(rk)
            after = await rk.execute("print(x, os.getpid())", timeout=120)
            assert after.status == "ok", after
            assert after.stdout.split() == ["42", pid]  # the same kernel, its variables kept

    asyncio.run(scenario())
    sessions = server.get("/api/sessions").json()
    assert {s["path"] for s in sessions} == {"here.ipynb", "analysis/there.ipynb"}
    log = (orbit.home / "profiles" / "default" / "logs" / "server.log").read_text()
    assert "was lost" in log and "reconnected to lab" in log, log[-3000:]
