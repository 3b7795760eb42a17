"""The server's identity is checked before its token or a signal goes anywhere.

After a server dies, the system may hand its pid to another program, and another program may
listen on its old port. ``server.json`` still names that pid and port: ``orbit status``,
``run``, ``up``, ``add`` and ``down`` must then treat the server as gone — send the token and
the notebook to no impostor, and signal no unrelated process group.

The impostor is a real process: an HTTP server on the old port that answers like Jupyter and
records every request it gets, with a child in its process group. The pid reuse is made real
by pointing the record's pid at it (the system would have done exactly that, given time).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook

pytestmark = pytest.mark.integration

IMPOSTOR = textwrap.dedent(
    """
    import http.server, json, subprocess, sys

    log = open(sys.argv[2], "a", buffering=1)
    child = subprocess.Popen(["sleep", "600"])  # shares the impostor's process group
    open(sys.argv[3], "w").write(str(child.pid))

    class Answer(http.server.BaseHTTPRequestHandler):
        def _any(self):
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size).decode(errors="replace") if size else ""
            log.write(json.dumps({"path": self.path, "headers": dict(self.headers),
                                  "body": body[:2000]}) + "\\n")
            data = json.dumps({"started": "x", "kernels": [], "pool": [], "version": "2"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data.encode())
        do_GET = do_POST = do_PUT = do_DELETE = _any

    server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer)
    print("listening", flush=True)
    server.serve_forever()
    """
)


def _gone(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text() or False
    except FileNotFoundError:
        return True


def _kill_server(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


class Impostor:
    def __init__(self, port: int, folder: Path) -> None:
        script = folder / "impostor.py"
        script.write_text(IMPOSTOR)
        self.log = folder / "impostor.log"
        self.log.touch()
        child_file = folder / "impostor-child"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(port), str(self.log), str(child_file)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "listening"
        self.child = int(child_file.read_text())

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def alive(self) -> bool:
        return self.proc.poll() is None and not _gone(self.child)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def impostor_setup(orbit: Orbit, tmp_path: Path):
    project = tmp_path / "project"
    nb = make_notebook(project / "nb.ipynb", "print('ran here')")
    info = orbit.up(project)
    port = int(info["url"].rstrip("/").rsplit(":", 1)[1])
    _kill_server(info["pid"])  # the server dies (a crash, an OOM kill, a reboot)
    impostor = Impostor(port, tmp_path)
    yield info, impostor, nb
    impostor.stop()


def _record(orbit: Orbit) -> Path:
    return orbit.home / "profiles" / "default" / "server.json"


def _commands(orbit: Orbit, nb: Path) -> dict[str, subprocess.CompletedProcess]:
    return {
        "status": orbit.run("status"),
        "status --json": orbit.run("status", "--json"),
        "run": orbit.run("run", str(nb), "--timeout", "300"),
        "down": orbit.run("down"),
    }


def test_a_reused_pid_with_an_impostor_on_the_port(orbit: Orbit, impostor_setup):
    info, impostor, nb = impostor_setup
    record = _record(orbit)
    state = json.loads(record.read_text())
    state["pid"] = impostor.proc.pid  # the system gave the dead server's pid to the impostor
    record.write_text(json.dumps(state))

    results = _commands(orbit, nb)
    sent = impostor.requests()
    assert not [r for r in sent if info["token"] in json.dumps(r)], sent
    assert sent == [], f"requests reached the impostor: {[r['path'] for r in sent]}"
    assert impostor.alive(), "orbit down signalled an unrelated process group"
    assert "no server is running" in results["status"].stdout
    assert json.loads(results["status --json"].stdout)["running"] is False
    assert results["run"].returncode == 0 and results["run"].stdout == "ran here\n"
    assert "no server is running" in results["down"].stdout
    assert not record.exists()
    # a new server starts on a port of its own; the impostor still got nothing
    again = orbit.up(nb.parent)
    assert again["pid"] != impostor.proc.pid and again["token"] != info["token"]
    assert impostor.requests() == []


def test_a_reused_pid_is_never_signalled(orbit: Orbit, impostor_setup):
    """The pid now belongs to an unrelated program that listens nowhere."""
    _, impostor, _ = impostor_setup
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        record = _record(orbit)
        state = json.loads(record.read_text())
        state["pid"] = victim.pid
        record.write_text(json.dumps(state))
        down = orbit.run("down")
        assert down.returncode == 0 and "no server is running" in down.stdout
        assert victim.poll() is None, "orbit down killed an unrelated process"
        assert impostor.requests() == [] and impostor.alive()
    finally:
        victim.kill()
        victim.wait()


def test_a_dead_pid_and_an_impostor_on_the_port(orbit: Orbit, impostor_setup):
    info, impostor, nb = impostor_setup  # the record's pid is simply gone
    results = _commands(orbit, nb)
    assert impostor.requests() == [] and impostor.alive()
    assert results["run"].returncode == 0 and results["run"].stdout == "ran here\n"
    assert not _record(orbit).exists()
    runtime = orbit.home / "profiles" / "default" / "jupyter" / "runtime"
    # the killed server's files that held the token are gone with the record
    leftovers = [
        p.name for p in runtime.iterdir() if info["token"] in p.read_text(errors="replace")
    ]
    assert leftovers == []
