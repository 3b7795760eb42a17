"""Start, find and stop a profile's server (the command-line side).

The server runs from an environment the caller prepares (the profile's server environment: a pinned
JupyterLab, Orbit and the profile's extensions) in a session of its own, logging to the profile's
``logs/server.log``. Its token is generated here, written to a 0600 file that the server reads
(``JUPYTER_TOKEN_FILE``) and that is removed as soon as the server answers, and kept in the 0600
``server.json``; it never appears in an argv or an environment.

The server never runs code from the folder it serves: Python starts isolated (``-I``: no
current folder or script folder on ``sys.path``, no ``PYTHON*`` variables, no user
site-packages) in the profile's private runtime folder, and the root is given by setting.
Before its token or a signal is sent, the process is checked to still be the server that was
started (``ServerState.alive``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.client import ServerClient
from jupyter_orbit.errors import ServerError
from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.state import ServerState, forget_state, process_identity, write_state

# What stops `orbit up` while it starts the server (SIGHUP where there is one).
_STOPPING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

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
class ServerLaunch:
    """What runs a server: an environment and the arguments the profile adds."""

    env: Environment
    args: tuple[str, ...] = ()

    @property
    def python(self) -> Path:
        return self.env.python


def start(
    paths: Paths,
    profile: ProfilePaths,
    root: Path,
    *,
    port: int | None = None,
    progress: Progress | None = None,
    timeout: float = 120,
    server: ServerLaunch,
    token: str | None = None,
    trial: bool = False,
    engine: str | None = None,
    allow_host_access: bool = False,
) -> tuple[ServerState, subprocess.Popen]:
    """Start the profile's server rooted at ``root`` from ``server`` (the environment the
    profile prepared) and wait until it answers.

    ``token`` keeps a restarted server's token so open pages reconnect. A ``trial`` start checks
    that a server environment works without touching the running server's state or log.
    """
    progress = progress or NullProgress()
    profile.ensure()
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
        "-I",
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
    proc: subprocess.Popen | None = None
    try:
        with log_path.open("ab") as log, _signals_deferred():
            log_path.chmod(0o600)
            proc = subprocess.Popen(
                argv,
                cwd=profile.runtime_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        info_file = profile.runtime_dir / f"jpserver-{proc.pid}.json"
        info = _wait_answering(proc, info_file, token, port, log_path, timeout)
    except BaseException:
        # Failed, timed out or interrupted (Ctrl-C, a signal): no server is left behind.
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        token_file.unlink(missing_ok=True)
        raise
    token_file.unlink(missing_ok=True)  # the server has read it
    identity = process_identity(proc.pid)
    if identity is None or proc.poll() is not None:
        raise _start_failure(proc.wait(), port, log_path)
    state = ServerState(
        pid=proc.pid,
        url=info["url"],
        port=int(info["port"]),
        root_dir=str(root),
        token=token,
        profile=profile.name,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        log=str(log_path),
        process_start=identity[0],
        cmdline=identity[1],
    )
    if not trial:
        write_state(profile, state)
    return state, proc


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C or a signal whose handler raises waits while the server process is created.

    Raised inside ``Popen`` once the child was forked, the exception would lose its pid and
    leave the server running; held until ``Popen`` returns, it reaches the caller's cleanup
    with the process known. Default and ignored dispositions are left as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for signum in _STOPPING:
        handler = signal.getsignal(signum)
        if callable(handler):
            held[signum] = handler
            signal.signal(signum, lambda n, _frame: caught.append(n))
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        for signum in caught:
            signal.raise_signal(signum)


def _wait_answering(
    proc: subprocess.Popen,
    info_file: Path,
    token: str,
    port: int | None,
    log_path: Path,
    timeout: float,
) -> dict:
    """The server's own record once it answers on the address it wrote there."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise _start_failure(code, port, log_path)
        if info_file.exists():
            try:
                info = json.loads(info_file.read_text())
                ServerClient(info["url"], token, timeout=2).get_json("/api/status")
                return info
            except (ValueError, KeyError, ServerError):
                pass
        if time.monotonic() > deadline:
            raise ServerError(
                f"the server did not answer within {timeout:.0f}s", f"see the log at {log_path}"
            )
        time.sleep(0.05)


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

    Only the process ``state`` names, checked before the request and before each signal: a
    process that has taken its pid since is neither sent the token nor signalled.
    ``forget=False`` (a trial server) leaves the profile's state and token files alone.
    """
    if state.alive():
        with contextlib.suppress(ServerError):
            state.client(timeout=5).post_json("/api/shutdown")
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        if _wait_gone(state, wait):
            break
        with contextlib.suppress(ProcessLookupError):
            if state.alive():
                os.killpg(state.pid, sig)
    if forget:
        forget_state(profile, state)


def _wait_gone(state: ServerState, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            # Reap it if it is our child (the foreground `orbit up`), else just poll.
            if os.waitpid(state.pid, os.WNOHANG)[0] == state.pid:
                return True
        if not state.alive():
            return True
        time.sleep(0.05)
    return False
