"""Kernels that die, and a server killed in the middle of a save.

A kernel may die at once (a broken environment), after a while (a crash in a cell) or because
it ran out of memory (bounded here by a real memory cgroup, or by ``prlimit`` where no cgroup
can be made). The server stays up, tells the notebook (a status message on its websocket) and
restarts the kernel; the same notebook then runs again. A server killed with SIGKILL while it
saves a large notebook leaves the file whole: the old version or the new one, never a torn one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.kernelws import KernelWS, Server

pytestmark = pytest.mark.integration


async def _statuses(k: KernelWS, seconds: float) -> list[str]:
    """The kernel status messages the notebook's page sees, until the kernel is reported
    restarting or dead (or ``seconds`` pass)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not {"restarting", "dead"} & set(seen):
        try:
            msg = await k._recv(min(deadline, time.monotonic() + 1))
        except TimeoutError:
            continue
        except ConnectionError:
            break
        if msg["msg_type"] == "status":
            seen.append(msg["content"]["execution_state"])
    return seen


def _server_answers(server: Server, orbit: Orbit) -> None:
    assert server.get("/api/status").status_code == 200
    assert server.get("/orbit/api/status").status_code == 200
    status = orbit.run("status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is True


async def _runs(server: Server, kernel: str, code: str = "print(6 * 7)") -> str:
    async with KernelWS(server, kernel) as k:
        await k.kernel_info(timeout=300)
        return (await k.execute(code, timeout=120)).stdout


def _kernel_pid(server: Server, kernel: str) -> int:
    async def ask() -> int:
        async with KernelWS(server, kernel) as k:
            await k.kernel_info(timeout=300)
            return int((await k.execute("import os; print(os.getpid())")).stdout)

    return asyncio.run(ask())


def test_a_kernel_that_dies_at_start(orbit: Orbit, tmp_path: Path):
    spec = orbit.home / "profiles" / "default" / "jupyter" / "data" / "kernels" / "dies"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", "import sys; sys.exit(3)", "{connection_file}"],
                "display_name": "Dies at start",
                "language": "python",
            }
        )
    )
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    server = orbit.server(project)
    r = server.post(
        "/api/sessions",
        json={"path": "nb.ipynb", "type": "notebook", "kernel": {"name": "dies"}},
    )
    assert r.status_code == 201, r.text  # the process starts; it dies at once
    kernel = r.json()["kernel"]["id"]
    deadline = time.monotonic() + 180  # five restarts, then jupyter_server gives up on it
    while server.get("/api/kernels").json() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert server.get("/api/kernels").json() == []
    _server_answers(server, orbit)
    log = (orbit.home / "profiles" / "default" / "logs" / "server.log").read_text()
    assert "restart failed" in log and f"Kernel {kernel} died, removing from map" in log
    # the notebook opens with a working kernel afterwards
    session = server.new_session("nb.ipynb")
    assert asyncio.run(_runs(server, session["kernel"]["id"])) == "42\n"


def test_a_kernel_killed_right_after_start_and_one_that_dies_after_5s(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    server = orbit.server(project)
    kernel = server.new_session("nb.ipynb")["kernel"]["id"]

    async def scenario() -> tuple[list[str], list[str]]:
        async with KernelWS(server, kernel) as k:
            await k.kernel_info(timeout=300)
            pid = int((await k.execute("import os; print(os.getpid())")).stdout)
            os.kill(pid, signal.SIGKILL)  # dies at once, under the server's feet
            first = await _statuses(k, 60)
        async with KernelWS(server, kernel) as k:
            await k.kernel_info(timeout=300)
            k._send(
                "execute_request",
                {"code": "import os, time; time.sleep(5); os._exit(1)", "silent": False},
            )
            second = await _statuses(k, 90)
        return first, second

    first, second = asyncio.run(scenario())
    assert "restarting" in first or "dead" in first, first
    assert "restarting" in second or "dead" in second, second
    _server_answers(server, orbit)
    assert asyncio.run(_runs(server, kernel)) == "42\n"  # restarted in its environment
    status = json.loads(orbit.run("status", "--json").stdout)
    assert next(k for k in status["kernels"] if k["id"] == kernel)["env_id"]


def _memory_cgroup(pid: int, limit: int) -> Path | None:
    """A memory cgroup (v1's memory controller, or v2) beside this process's, holding only
    ``pid``, capped at ``limit`` bytes with no swap; None where this machine lets us make none."""
    lines = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    v1 = next((path for _, names, path in lines if "memory" in names.split(",")), None)
    v2 = next((path for number, _, path in lines if number == "0"), None)
    if v1 is not None and Path("/sys/fs/cgroup/memory").is_dir():
        parent = Path("/sys/fs/cgroup/memory") / v1.lstrip("/")
        limits = {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit}
    elif v2 is not None and Path("/sys/fs/cgroup/cgroup.controllers").exists():
        parent = Path("/sys/fs/cgroup") / v2.lstrip("/")
        limits = {"memory.max": limit, "memory.swap.max": 0}
    else:
        return None
    group = parent / f"orbit-oom-{secrets.token_hex(4)}"
    try:
        group.mkdir()
        for name, value in limits.items():
            if (group / name).exists():
                (group / name).write_text(str(value))
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def test_a_kernel_that_runs_out_of_memory(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    server = orbit.server(project)
    kernel = server.new_session("nb.ipynb")["kernel"]["id"]
    pid = _kernel_pid(server, kernel)
    limit = 300 * 1024 * 1024
    group = _memory_cgroup(pid, limit)
    if group is None:  # no cgroup here: the kernel's address space is bounded instead
        subprocess.run(["prlimit", f"--pid={pid}", f"--as={limit * 2}"], check=True)
    bomb = "chunks = []\nwhile True:\n    chunks.append(b'x' * (64 * 1024 * 1024))"

    async def scenario() -> list[str]:
        async with KernelWS(server, kernel) as k:
            k._send("execute_request", {"code": bomb, "silent": False})
            return await _statuses(k, 120)

    try:
        seen = asyncio.run(scenario())
        if group is not None:  # killed by the kernel's OOM killer: the server restarts it
            assert "restarting" in seen or "dead" in seen, seen
        _server_answers(server, orbit)
        server_pid = json.loads(orbit.run("status", "--json").stdout)["pid"]
        rss = int(Path(f"/proc/{server_pid}/statm").read_text().split()[1]) * os.sysconf(
            "SC_PAGE_SIZE"
        )
        assert rss < limit, "the server itself grew with the kernel's allocation"
        assert asyncio.run(_runs(server, kernel)) == "42\n"
    finally:
        if group is not None:
            deadline = time.monotonic() + 30
            while (group / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
                time.sleep(0.2)
            group.rmdir()  # empty once the killed kernel is gone (its files are the kernel's)


def _notebook(marker: str, megabytes: int) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(f"print({marker!r})")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * megabytes * 2**20)]
    nb.cells = [cell]
    nb.metadata["marker"] = marker
    return nb


def _save(info: dict, path: str, body: str) -> None:
    """PUT a notebook; the server may be killed under it."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.put(
            info["url"].rstrip("/") + "/api/contents/" + path,
            content=body,
            headers={"Authorization": f"token {info['token']}"},
            timeout=120,
        )


def test_sigkill_during_a_save_leaves_the_file_whole(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    nb_path = project / "big.ipynb"
    project.mkdir()
    versions = {m: _notebook(m, 40) for m in ("old", "new")}
    nbformat.write(nbformat.from_dict(versions["old"]), nb_path)
    for round_ in range(3):
        info = orbit.up(project)
        before = {p.name for p in project.iterdir()}
        body = json.dumps({"type": "notebook", "content": versions["new"]})
        thread = threading.Thread(target=_save, args=(info, "big.ipynb", body))
        thread.start()
        # kill as soon as the save starts touching the folder (a new file, or the old one
        # changing), i.e. in the middle of writing
        size = nb_path.stat().st_size
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and thread.is_alive():
            names = {p.name for p in project.iterdir()}
            if names != before or nb_path.stat().st_size != size:
                break
        os.killpg(info["pid"], signal.SIGKILL)
        thread.join(60)
        orbit.started.clear()
        text = nb_path.read_text()
        nb = nbformat.reads(text, as_version=4)  # whole JSON, a valid notebook
        nbformat.validate(nb)
        assert nb.metadata["marker"] in ("old", "new"), round_
        assert len(nb.cells[0].outputs[0]["text"]) == 40 * 2**20
        versions["old"], versions["new"] = versions["new"], versions["old"]
        nbformat.write(nbformat.from_dict(versions["old"]), nb_path)
