"""orbit up / down / status as real processes: a foreground server that stops with its command
(Ctrl-C even where SIGINT was ignored, SIGTERM, SIGHUP, its output going away, `orbit down`),
and a way in that works without a browser: a login link that works once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Orbit

pytestmark = pytest.mark.integration


@contextmanager
def foreground(
    orbit: Orbit,
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[tuple[subprocess.Popen, dict]]:
    """A foreground `orbit up ROOT ARGS` once its server answers, and the server's record."""
    root.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "up", str(root), *args],
        env=env or orbit.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )
    orbit.started.add("default")
    state = orbit.home / "profiles" / "default" / "server.json"
    deadline = time.monotonic() + 180
    while not state.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    try:
        yield proc, json.loads(state.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def lines_until(proc: subprocess.Popen, needle: str) -> list[str]:
    out = []
    while needle not in (line := proc.stdout.readline()):
        assert line, f"{needle!r} never came: {out}"
        out.append(line)
    return [*out, line]


def gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().split()[2] == "Z":
            return True
        time.sleep(0.1)
    return False


def login_link(text: str) -> str:
    [link] = [ln.strip() for ln in text.splitlines() if "/orbit/login?code=" in ln]
    return link


def logs_in_once(link: str, server_url: str) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        assert browser.get(server_url + "lab").status_code == 302  # to the login page
        first = browser.get(link)
        assert first.status_code == 302, first.text
        page = parse_qs(urlsplit(link).query)["next"][0]
        assert first.headers["location"] == "/" + page
        lab = browser.get(server_url + page)
        assert lab.status_code == 200 and "jupyter-config-data" in lab.text  # logged in
    with httpx.Client(follow_redirects=False, timeout=30) as other:
        again = other.get(link)
        assert again.status_code == 403 and "used already or has expired" in again.text


def test_no_browser_prints_a_link_that_logs_in_once_and_down_ends_it_cleanly(
    orbit: Orbit, tmp_path: Path
):
    with foreground(orbit, tmp_path / "proj", "--no-browser") as (proc, state):
        said = "".join(lines_until(proc, "stop with Ctrl-C"))
        assert state["token"] not in said
        link = login_link(said)
        assert link.startswith(state["url"] + "orbit/login?code=") and "next=lab" in link
        assert "(readable by you alone)" in said  # the 0600 page, as a second way in
        logs_in_once(link, state["url"])

        status = orbit.run("status")
        assert status.returncode == 0 and state["token"] not in status.stdout
        assert "orbit open" in status.stdout
        logs_in_once(login_link(status.stdout), state["url"])

        down = orbit.run("down")
        assert down.returncode == 0, down.stderr
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "the server was shut down" in err
    log = (orbit.home / "profiles" / "default" / "logs" / "server.log").read_text()
    code = parse_qs(urlsplit(link).query)["code"][0]
    assert code not in log and state["token"] not in log


def test_without_a_display_up_says_so_and_ctrl_c_works_though_sigint_was_ignored(
    orbit: Orbit, tmp_path: Path
):
    env = {k: v for k, v in orbit.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}

    def like_a_ci_script() -> None:  # a `cmd &` of a script: SIGINT ignored from the start
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with foreground(orbit, tmp_path / "proj", env=env, preexec=like_a_ci_script) as (proc, st):
        said = "".join(lines_until(proc, "stop with Ctrl-C"))
        login_link(said)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert "no browser window opened: no display here" in err
    assert "stopping the server" in err
    assert gone(st["pid"])
    assert not (orbit.home / "profiles" / "default" / "server.json").exists()


def test_a_hangup_stops_it_unless_nohup_ignores_it(orbit: Orbit, tmp_path: Path):
    with foreground(orbit, tmp_path / "proj", "--no-browser") as (proc, st):
        lines_until(proc, "stop with Ctrl-C")
        proc.send_signal(signal.SIGHUP)
        proc.communicate(timeout=60)
        assert gone(st["pid"])

    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    with foreground(orbit, tmp_path / "proj", "--no-browser", preexec=nohup) as (proc, st):
        lines_until(proc, "stop with Ctrl-C")
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        assert proc.poll() is None and not gone(st["pid"], timeout=0.5)  # as nohup asked
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert gone(st["pid"])


def test_its_output_pipe_going_away_stops_the_server(orbit: Orbit, tmp_path: Path):
    with foreground(orbit, tmp_path / "proj", "--no-browser") as (proc, st):
        lines_until(proc, "stop with Ctrl-C")
        proc.stdout.close()  # whatever read its output is gone (`orbit up | head`, a CI log)
        proc.wait(timeout=60)
        assert gone(st["pid"])
        assert not (orbit.home / "profiles" / "default" / "server.json").exists()
        assert "Traceback" not in proc.stderr.read()


def test_interrupted_while_starting_leaves_no_server(orbit: Orbit, tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    runtime = orbit.home / "profiles" / "default" / "jupyter" / "runtime"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "up", str(root), "--no-browser"],
        env=orbit.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = orbit.home / "profiles" / "default" / "logs" / "server.log"
    deadline = time.monotonic() + 120
    while not log.exists():  # the server process has been started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    time.sleep(0.5)
    servers = [
        p
        for p in Path("/proc").glob("[0-9]*")
        if b"jupyter_orbit.server" in _cmdline(p) and str(root).encode() in _cmdline(p)
    ]
    assert servers == [] and not list(runtime.glob("orbit-token*"))
    assert log.exists()


def _cmdline(p: Path) -> bytes:
    try:
        return (p / "cmdline").read_bytes()
    except OSError:
        return b""
