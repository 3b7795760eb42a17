"""What Orbit records about a profile's running server, read by every process that talks to it.

The record (``server.json``, mode 0600) holds the server's address, token and process id; the
command line, profiles and the desktop integration read it, the command that starts a server
writes it. It lives below both the server and the profiles, which both need it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_orbit import __version__, atomic
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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(profile: ProfilePaths, *, check_http: bool = True) -> ServerState | None:
    """The profile's server if it is up; a stale state file is removed."""
    state = read_state(profile)
    if state is None:
        return None
    ok = pid_alive(state.pid)
    if ok and check_http:
        try:
            state.client(timeout=3).get_json("/api/status")
        except ServerError:
            ok = False
    if not ok:
        with contextlib.suppress(FileNotFoundError):
            profile.server_state.unlink()
    return state if ok else None


def restarting_marker(profile: ProfilePaths) -> Path:
    """Present while Orbit restarts the profile's server onto a changed setup."""
    return profile.runtime_dir / "orbit-restarting"


def successor(profile: ProfilePaths, pid: int, *, timeout: float = 600) -> ServerState | None:
    """The server that replaced ``pid`` when Orbit restarted it, else None (it just stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(profile)
        if state is not None and state.pid != pid and pid_alive(state.pid):
            return state
        if not restarting_marker(profile).exists():
            return None
        time.sleep(0.2)
    return None


def write_state(profile: ProfilePaths, state: ServerState) -> None:
    atomic.write_json(profile.server_state, asdict(state), mode=0o600)


def forget_state(profile: ProfilePaths) -> None:
    """Remove the record and the token file (the server is gone)."""
    for path in (profile.server_state, profile.token_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
