"""A notebook's kernel being prepared, followed live: steps n of m, then ready or why not."""

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_notebook, snapshot
from tests.support.broken_packages import STDERR, add_dies_at_start
from tests.support.build_events import Follow, read_events
from tests.support.indexes import IndexedOrbit, indexed
from tests.support.kernelws import KernelWS, Server
from tests.support.launcher import Browserish
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration

AS_OF = "2025-06-01"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path) as idx:
        add_dies_at_start(idx)
        idx.add("orbit-harmless", "1.0")
        yield idx


@pytest.fixture
def orbit(tmp_path: Path, index: LocalIndex, server_env_seed) -> Iterator[IndexedOrbit]:
    o = indexed(tmp_path, index)
    server_env_seed.plant(o.home)
    yield o
    o.down_all()


def notebook(root: Path, name: str, package: str, *cells: str) -> Path:
    meta = {"orbit": {"as_of": AS_OF, "packages": {"pypi": [package]}}}
    return make_notebook(root / name, *(cells or ("print('hello')",)), metadata=meta)


def start(server: Server, path: str) -> dict:
    r = server.post(
        "/api/sessions",
        json={"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}},
    )
    r.raise_for_status()
    return r.json()


def run(server: Server, kernel_id: str, code: str) -> object:
    async def go():
        async with KernelWS(server, kernel_id) as k:
            await k.kernel_info(timeout=300)
            return await k.execute(code)

    return asyncio.run(go())


def test_a_build_is_told_step_by_step_until_the_kernel_answers(orbit, tmp_path: Path):
    root = tmp_path / "work"
    notebook(root, "nb.ipynb", "orbit-harmless")
    before = snapshot(root)
    server = orbit.server(root)
    follow = Follow(server, "nb.ipynb")
    time.sleep(0.5)  # the page asks first, as JupyterLab does when it starts the session
    session = start(server, "nb.ipynb")
    events = follow.result()
    assert events[0]["path"] == "nb.ipynb" and events[0]["job"]
    [plan] = [e for e in events if "plan" in e]
    m = plan["m"]
    counted = [(e["step"], e["n"]) for e in events if "n" in e]
    # every step of the plan is told, in order, numbered 1..m (an engine's finer steps in
    # between carry the number of the step they belong to)
    firsts = {}
    for step, n in counted:
        firsts.setdefault(n, step)
    assert list(firsts) == list(range(1, m + 1)), counted
    assert list(firsts.values()) == [s["action"] for s in plan["plan"]]
    assert all(e["m"] == m for e in events if "n" in e)
    assert any(e.get("step") == "as-of" and e["detail"].startswith("2025-06-01") for e in events)
    assert events[-2] == {**events[-2], "step": "kernel", "detail": "starting it"}
    assert events[-1]["done"] is True and events[-1]["ok"] is True
    assert run(server, session["kernel"]["id"], "print('hello')").stdout == "hello\n"
    assert snapshot(root) == before

    # A page that saw this build and asks again waits for the next one, and is told "none".
    quiet = read_events(server, "nb.ipynb", after=events[0]["job"])
    assert quiet == [{"done": True, "idle": True}]
    # A restart is a build too (nothing to build: the environment is reused).
    follow = Follow(server, "nb.ipynb", after=events[0]["job"])
    time.sleep(0.5)
    server.post(f"/api/kernels/{session['kernel']['id']}/restart").raise_for_status()
    again = follow.result()
    assert [e["step"] for e in again if "step" in e][:2] == ["resolve", "reuse"]
    assert again[-1]["ok"] is True
    assert server.get("/orbit/api/builds/events?path=../outside.ipynb").status_code == 400


def test_a_kernel_that_exits_as_it_starts_says_why_in_the_notebook(orbit, tmp_path: Path):
    root = tmp_path / "work"
    notebook(root, "dies.ipynb", "orbit-dies-at-start")
    server = orbit.server(root)
    follow = Follow(server, "dies.ipynb")
    time.sleep(0.5)
    session = start(server, "dies.ipynb")
    events = follow.result()
    assert events[-1]["done"] is True and events[-1]["ok"] is False
    problem = events[-1]["problem"]
    assert problem["kind"] == "KernelDied"
    assert problem["error"] == "the kernel exited as it started (exit code 3)"
    assert problem["stderr"][-2:] == STDERR

    # The server restarts it, as the explaining kernel: every cell run shows those lines.
    reply = run(server, session["kernel"]["id"], "print('hello')")
    assert reply.status == "error" and "hello" not in reply.stdout
    assert "This notebook's kernel could not start" in reply.stderr
    assert "exited as it started (exit code 3)" in reply.stderr
    assert "  orbit-test: refusing to start\n  ImportError: frobnicate\n" in reply.stderr
    status = json.loads(orbit.run("status", "--json").stdout)
    [kernel] = [k for k in status["kernels"] if k["id"] == session["kernel"]["id"]]
    assert kernel["error"]["kind"] == "KernelDied"

    # `orbit run` tells the same lines, not "internal error"
    r = orbit.run("run", str(root / "dies.ipynb"), "--no-server")
    assert r.returncode == 1
    assert "internal error" not in r.stderr
    assert "the kernel exited as it started (exit code 3)" in r.stderr
    assert "orbit-test: refusing to start" in r.stderr and "ImportError: frobnicate" in r.stderr
    r = orbit.run("run", str(root / "dies.ipynb"))  # through the running server
    assert r.returncode == 1 and "internal error" not in r.stderr
    assert "exited as it started" in r.stderr and "ImportError: frobnicate" in r.stderr


def test_the_kernel_menu_tells_a_kernel_that_exits_as_it_starts(orbit, tmp_path: Path):
    root = tmp_path / "work"
    root.mkdir()
    info = orbit.up(root)
    web = Browserish(info["url"], info["token"])
    created = web.launch("python", packages={"pypi": ["orbit-dies-at-start"]})
    assert created.status_code == 201, created.text
    events = web.events(created.json()["job"])
    [problem] = [e["problem"] for e in events if "problem" in e]
    assert problem["kind"] == "KernelDied" and problem["stderr"][-2:] == STDERR
    done = events[-1]
    assert done["done"] and not done["ok"]
    assert done["url"] == "lab/tree/Untitled.ipynb"  # open it anyway: the notebook explains
