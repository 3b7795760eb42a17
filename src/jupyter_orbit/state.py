"""What Orbit records about a profile's running server, read by every process that talks to it.

The record (``server.json``, mode 0600) holds the server's address, token and process id; the
command line, profiles and the desktop integration read it, the command that starts a server
writes it. It lives below both the server and the profiles, which both need it.

A process id alone does not name a process for long: once the server is gone, the system may
give its pid to any other program, and another program may listen on its old port. So the
record also holds when the process started and its command line, and nothing is sent to the
server (not its token, not a signal) unless the process with that pid still has both
(``ServerState.alive``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_orbit import __version__
from jupyter_orbit.client import ServerClient
from jupyter_orbit.errors import ServerError
from jupyter_orbit.paths import ProfilePaths


@dataclass(frozen=True)
class ServerState:
    pid: int
    url: str
    port: int
    root_dir: str
    token: str
    profile: str
    started: str
    log: str
    version: str = __version__
    process_start: str = ""  # when the server's process started (see process_identity)
    cmdline: tuple[str, ...] = ()  # its command line, as the system reports it

    def __post_init__(self) -> None:
        object.__setattr__(self, "cmdline", tuple(self.cmdline))  # a list when read from JSON

    def alive(self) -> bool:
        """Whether the process this record names is still the server it was written for, and
        not a process that got its pid since (a record without an identity is never trusted)."""
        if not self.process_start:
            return False
        return process_identity(self.pid) == (self.process_start, self.cmdline)

    def client(self, timeout: float = 10) -> ServerClient:
        return ServerClient(self.url, self.token, timeout=timeout)

    def public(self) -> dict:
        """Everything but the token."""
        data = asdict(self)
        data.pop("token")
        return data


def read_state(profile: ProfilePaths) -> ServerState | None:
    try:
        data = json.loads(profile.server_state.read_text())
        return ServerState(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def process_identity(pid: int) -> tuple[str, tuple[str, ...]] | None:
    """When process ``pid`` started and its command line; None if there is no such process
    (a zombie has no command line left, so it never matches a live server's).

    On Linux both come from ``/proc`` (start time in clock ticks since boot, proc(5)): two
    small reads on the path of every ``orbit run``; elsewhere from psutil."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self/stat").exists():
        try:
            stat = (proc / "stat").read_text()
            raw = (proc / "cmdline").read_bytes()
        except OSError:
            return None
        start = stat.rsplit(")", 1)[1].split()[19]  # field 22; the name (field 2) may hold spaces
        return start, tuple(a.decode(errors="surrogateescape") for a in raw.split(b"\0") if a)
    import psutil

    try:
        process = psutil.Process(pid)
        return f"{process.create_time():.6f}", tuple(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(profile: ProfilePaths, *, check_http: bool = True) -> ServerState | None:
    """The profile's server if it is up; a stale record is removed, with the files that held
    its token. The token is sent (``check_http``) only to the process the record names."""
    state = read_state(profile)
    if state is None:
        return None
    ok = state.alive()
    if ok and check_http:
        try:
            state.client(timeout=3).get_json("/api/status")
        except ServerError:
            ok = False
    if not ok:
        forget_state(profile, state)
    return state if ok else None


def restarting_marker(profile: ProfilePaths) -> Path:
    """Present while Orbit restarts the profile's server onto a changed setup."""
    return profile.runtime_dir / "orbit-restarting"


def successor(profile: ProfilePaths, pid: int, *, timeout: float = 600) -> ServerState | None:
    """The server that replaced ``pid`` when Orbit restarted it, else None (it just stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(profile)
        if state is not None and state.pid != pid and state.alive():
            return state
        if not restarting_marker(profile).exists():
            return None
        time.sleep(0.2)
    return None


def write_state(profile: ProfilePaths, state: ServerState) -> None:
    from jupyter_orbit import atomic  # only the command that starts a server writes it

    atomic.write_json(profile.server_state, asdict(state), mode=0o600)


def token_files(profile: ProfilePaths, pid: int | None = None) -> list[Path]:
    """Every file of the profile that may hold a server's token: the record, the file the
    server reads it from, the page that hands it to a browser, and jupyter_server's own
    ``jpserver-<pid>.json`` (removed by the server when it stops cleanly, not when killed)."""
    files = [profile.server_state, profile.token_file, profile.runtime_dir / "orbit-open.html"]
    if pid is not None:
        files += [
            profile.runtime_dir / f"jpserver-{pid}.json",
            profile.runtime_dir / f"jpserver-{pid}-open.html",
        ]
    return files


def forget_state(profile: ProfilePaths, state: ServerState | None = None) -> None:
    """Remove the record and every file that held its token (the server is gone)."""
    for path in token_files(profile, state.pid if state is not None else None):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
