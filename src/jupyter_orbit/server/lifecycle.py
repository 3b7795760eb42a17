"""Start, find and stop a profile's server (the command-line side).

The server runs from the profile's server environment (``profiles.server_env``: a pinned
JupyterLab, Orbit and the profile's extensions) in a session of its own, logging to the profile's
``logs/server.log``. Its token is generated here, written to a 0600 file that the server reads
(``JUPYTER_TOKEN_FILE``), and kept in the 0600 ``server.json``; it never appears in an argv.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit import __version__, atomic
from jupyter_orbit.errors import ServerError
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.server.client import ServerClient

if TYPE_CHECKING:
    from jupyter_orbit.profiles.server_env import ServerLaunch

# Variables that would point the server at some other Jupyter installation than the profile's.
_SCRUB = (
    "JUPYTER_TOKEN",
    "JUPYTER_TOKEN_FILE",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_PATH",
    "JUPYTER_PREFER_ENV_PATH",
    "JUPYTER_NO_CONFIG",
    "JUPYTER_PLATFORM_DIRS",
    "VIRTUAL_ENV",
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
)


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


def start(
    paths: Paths,
    profile: ProfilePaths,
    root: Path,
    *,
    port: int | None = None,
    progress: Progress | None = None,
    timeout: float = 120,
    server: ServerLaunch | None = None,
    token: str | None = None,
    trial: bool = False,
    engine: str | None = None,
    allow_host_access: bool = False,
) -> tuple[ServerState, subprocess.Popen]:
    """Start the profile's server rooted at ``root`` and wait until it answers.

    ``server`` is the environment to run it from (default: the profile's, built if needed);
    ``token`` keeps a restarted server's token so open pages reconnect. A ``trial`` start checks
    that a server environment works without touching the running server's state or log.
    """
    from jupyter_orbit.profiles import server_env

    progress = progress or NullProgress()
    profile.ensure()
    progress.step("profile", f"{profile.name} ({profile.root})")
    server = server or server_env.prepare(paths, profile, progress)
    token = token or secrets.token_urlsafe(32)
    suffix = f"-trial-{secrets.token_hex(4)}" if trial else ""
    token_file = profile.token_file.with_name(profile.token_file.name + suffix)
    atomic.write_text(token_file, token, mode=0o600)

    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(profile.jupyter_env())
    env.update(
        JUPYTER_TOKEN_FILE=str(token_file),
        ORBIT_HOME=str(paths.home),
        ORBIT_PROFILE=profile.name,
    )
    args = list(server.args)
    if engine:  # the command line's engine replaces the profile's default (traitlets takes one)
        args = [a for a in args if not a.startswith("--OrbitExtension.default_engine=")]
        args.append(f"--OrbitExtension.default_engine={engine}")
    argv = [
        str(server.python),
        "-m",
        "jupyter_orbit.server",
        *args,
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.port={port or 0}",
    ]
    if allow_host_access:
        argv.append("--OrbitExtension.allow_host_access=True")
    log_path = profile.logs_dir / "server-trial.log" if trial else profile.server_log
    if log_path.exists():
        log_path.replace(log_path.with_suffix(".log.1"))
    progress.step("server", f"starting JupyterLab in {root}")
    with log_path.open("ab") as log:
        log_path.chmod(0o600)
        proc = subprocess.Popen(
            argv,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info_file = profile.runtime_dir / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            token_file.unlink(missing_ok=True)
            raise _start_failure(code, port, log_path)
        if info_file.exists():
            try:
                info = json.loads(info_file.read_text())
                client = ServerClient(info["url"], token, timeout=2)
                client.get_json("/api/status")
                break
            except (ValueError, KeyError, ServerError):
                pass
        if time.monotonic() > deadline:
            proc.kill()
            token_file.unlink(missing_ok=True)
            raise ServerError(
                f"the server did not answer within {timeout:.0f}s",
                f"see the log at {log_path}",
            )
        time.sleep(0.05)
    state = ServerState(
        pid=proc.pid,
        url=info["url"],
        port=int(info["port"]),
        root_dir=str(root),
        token=token,
        profile=profile.name,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        log=str(log_path),
    )
    if trial:
        token_file.unlink(missing_ok=True)  # the server has read it
    else:
        atomic.write_json(profile.server_state, asdict(state), mode=0o600)
    return state, proc


def _start_failure(code: int, port: int | None, log_path: Path) -> ServerError:
    from jupyter_orbit.server.app import EXIT_PORT_IN_USE

    if code == EXIT_PORT_IN_USE:
        return ServerError(
            f"port {port} is already in use",
            "choose another with --port, or leave --port out and Orbit picks a free one",
        )
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    return ServerError(
        f"the server exited while starting (exit code {code})",
        f"see the log at {log_path}" + (": " + " | ".join(tail) if tail else ""),
    )


def stop(
    profile: ProfilePaths, state: ServerState, *, timeout: float = 30, forget: bool = True
) -> None:
    """Ask the server to shut down (it stops its kernels first); force it if it will not.

    ``forget=False`` (a trial server) leaves the profile's state and token files alone.
    """
    with contextlib.suppress(ServerError):
        state.client(timeout=5).post_json("/api/shutdown")
    if not _wait_gone(state.pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.pid, signal.SIGTERM)
        if not _wait_gone(state.pid, 5):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.pid, signal.SIGKILL)
    if not forget:
        return
    for path in (profile.server_state, profile.token_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            # Reap it if it is our child (the foreground `orbit up`), else just poll.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


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
