"""The remote half of a kernel (``launcher.py``, standard library only), run here on this
machine with a stand-in kernel: detached start, watching, signals, and the lease that stops a
kernel no client has watched for too long."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from jupyter_orbit.remote.launcher import _PORTS

LAUNCHER = Path(__file__).resolve().parents[2] / "src" / "jupyter_orbit" / "remote" / "launcher.py"
KERNEL = "import signal, sys, time; print('kernel up', flush=True); time.sleep(120)"


def launcher(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, timeout=timeout
    )


def _start(tmp_path: Path, *extra: str) -> tuple[Path, dict]:
    folder = tmp_path / "k"
    folder.mkdir(mode=0o700)
    (folder / "connection.json").write_text(json.dumps({"key": "k", "signature_scheme": "x"}))
    r = launcher("start", "--cwd", str(tmp_path), *extra, str(folder), "--",
                 sys.executable, "-c", KERNEL)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return folder, json.loads(r.stdout)


def _wait(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def test_start_picks_loopback_ports_and_the_kernel_outlives_its_starter(tmp_path: Path):
    folder, started = _start(tmp_path)
    conn = json.loads((folder / "connection.json").read_text())
    assert conn["ip"] == "127.0.0.1" and conn["key"] == "k"
    assert {conn[p] for p in _PORTS} == set(started["ports"].values())
    assert len(set(started["ports"].values())) == 5
    assert oct((folder / "connection.json").stat().st_mode & 0o777) == "0o600"
    assert Path(f"/proc/{started['pid']}").exists()  # running, though `start` has returned
    r = launcher("signal", str(folder), "TERM")
    assert r.returncode == 0
    assert _wait(folder / "status") == str(128 + 15)
    assert not (folder / "connection.json").exists()  # the key does not outlive the kernel


def test_watch_copies_the_output_and_ends_with_the_exit_status(tmp_path: Path):
    folder, _ = _start(tmp_path)
    watcher = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "watch", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    log = folder / "kernel.log"
    while not log.exists() or "kernel up" not in log.read_text():
        assert time.monotonic() < deadline, "the kernel never wrote its first line"
        time.sleep(0.05)
    assert launcher("stop", str(folder)).returncode == 0
    out, err = watcher.communicate(timeout=30)
    assert "kernel up" in out
    assert err.splitlines()[-1] == "@@orbit-exit 143"


def test_a_kernel_nobody_watches_stops_when_its_lease_runs_out(tmp_path: Path):
    folder, started = _start(tmp_path, "--orphan-timeout", "1")
    assert _wait(folder / "status", timeout=30) == str(128 + 15)
    assert "no client for" in (folder / "kernel.log").read_text()
    assert (
        not Path(f"/proc/{started['pid']}/status").exists()
        or "zombie" in Path(f"/proc/{started['pid']}/status").read_text()
    )
