"""The provisioner and the pool in a real server: a prewarm waits for the user's kernel to
answer, and the environments opened in a folder are warmed again after a restart, with nothing
written in the project."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook
from tests.server.test_server import run_code
from tests.support.launcher import configure

pytestmark = pytest.mark.integration


def status(orbit: Orbit) -> dict:
    return json.loads(orbit.run("status", "--json").stdout)


def wait_warm(orbit: Orbit, env_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = status(orbit)
        if any(p["env_id"] == env_id and p["ready"] for p in info["pool"]):
            return info
        time.sleep(0.2)
    raise AssertionError(f"no warm kernel for {env_id}: {info['pool']}")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
    }


def test_the_prewarm_starts_only_after_the_users_kernel_answered(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "p"
    make_notebook(root / "one.ipynb", "1")
    configure(orbit.home, prewarm_kernels=[])  # nothing warm: the user's kernel starts anew
    server = orbit.server(root)
    _, result = run_code(server, "one.ipynb", "print(2)")
    assert result.stdout == "2\n"
    env_id = status(orbit)["kernels"][0]["env_id"]
    info = wait_warm(orbit, env_id)
    events = info["pool_usage"]["events"]
    holds = 0
    for e in events:  # no prewarm started while a user's kernel was starting
        holds += {"user-start": 1, "user-ready": -1}.get(e["event"], 0)
        if e["event"] == "prewarm-start":
            assert holds == 0, events
    kinds = [(e["event"], e["env_id"]) for e in events]
    notebook = str(root / "one.ipynb")
    assert kinds.index(("user-ready", notebook)) < kinds.index(("prewarm-start", env_id))
    usage = info["pool_usage"]
    assert usage["warm"] == 1 and 0 < usage["used_mb"] <= usage["budget_mb"]


def test_recent_environments_are_warmed_after_a_restart(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "p"
    make_notebook(root / "sub" / "one.ipynb", "1")
    before = snapshot(root)
    configure(orbit.home, prewarm_kernels=[])
    server = orbit.server(root)
    run_code(server, "sub/one.ipynb", "print(1)")
    env_id = status(orbit)["kernels"][0]["env_id"]
    assert orbit.run("down", timeout=60).returncode == 0

    server = orbit.server(root)  # nothing opened yet: the pool warms what was opened here
    info = wait_warm(orbit, env_id)
    assert info["kernels"] == []
    kinds = [(e["event"], e["env_id"]) for e in info["pool_usage"]["events"]]
    # its kernel began with the server's process (``headstart``), and the pool adopted it
    assert ("prewarm-adopt", env_id) in kinds and ("prewarm-start", env_id) not in kinds
    record = json.loads((orbit.home / "profiles" / "default" / "recent-opens.json").read_text())
    assert [e["env_id"] for e in record["roots"][str(root.resolve())]] == [env_id]
    session, result = run_code(server, "sub/one.ipynb", "print(3)")
    assert result.stdout == "3\n"
    kernels = {k["id"]: k for k in status(orbit)["kernels"]}
    assert kernels[session["kernel"]["id"]]["prewarmed"] is True
    assert snapshot(root) == before  # nothing written in the project folder


def test_another_root_does_not_warm_this_roots_environments(orbit: Orbit, tmp_path: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    make_notebook(one / "a.ipynb", "1")
    make_notebook(two / "b.ipynb", "1")
    configure(orbit.home, prewarm_kernels=[])
    run_code(orbit.server(one), "a.ipynb", "1")
    assert orbit.run("down", timeout=60).returncode == 0
    orbit.server(two)
    time.sleep(3)  # time enough to start a prewarm, were one due
    assert status(orbit)["pool"] == []
