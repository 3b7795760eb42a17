"""A run's kernel started before anything else: the one the last run of the notebook used.

A run here (no server) spends its first fifth of a second importing jupyter_client and
finding the notebook's environment, and only then starts the kernel, whose own start (and a
notebook's first imports) is the rest. So ``orbit run`` first starts the kernel the notebook's
last run started (``KernelCommand``, kept under the data root's cache, one file per notebook), with
the standard library alone, and does all the rest while it boots. The pipeline still decides:
when what it prepared is exactly that command, the kernel already running is adopted
(``execute.adopted_kernel_manager``); when anything differs (the notebook, a project file, the
profile, the date changed what it needs), the early kernel is stopped unused and the right one
started, as without a record.

Nothing here is read from the project: a record is written by Orbit after the pipeline
prepared the kernel, in the user's data root, readable and writable by the user alone; a record
anyone else could have written is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDER = "{connection_file}"
_VERSION = 1


@dataclass(frozen=True)
class KernelCommand:
    """A local kernel's start: its command (with ``{connection_file}``), language, variables
    beside this process's, working folder and session name."""

    argv: tuple[str, ...]
    language: str
    env: tuple[tuple[str, str], ...]
    cwd: str
    session: str

    @classmethod
    def of(
        cls, argv: list[str], language: str, env: dict[str, str], cwd: Path, session: str
    ) -> KernelCommand:
        return cls(tuple(argv), language, tuple(sorted(env.items())), str(cwd), session)

    @property
    def startable(self) -> bool:
        """Whether the command needs nothing but a connection file filled in."""
        return bool(self.argv) and all("{" not in arg.replace(PLACEHOLDER, "") for arg in self.argv)


def _record(cache_dir: Path, notebook: Path) -> Path:
    key = hashlib.sha256(str(notebook).encode()).hexdigest()[:32]
    return cache_dir / "prestart" / f"{key}.json"


def recall(cache_dir: Path, notebook: Path) -> KernelCommand | None:
    """The command the last run of ``notebook`` (a resolved path) used, if Orbit kept one.

    A record is a command this user's next run executes before any check, so one that another
    user owns or could have written (group or others may write it) is ignored, as ssh ignores
    such a key file."""
    path = _record(cache_dir, notebook)
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
        data = json.loads(path.read_text())
        if data.get("version") != _VERSION or data.get("notebook") != str(notebook):
            return None
        command = KernelCommand(
            tuple(data["argv"]),
            data["language"],
            tuple((k, v) for k, v in data["env"]),
            data["cwd"],
            data["session"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return command if command.startable else None


def remember(cache_dir: Path, notebook: Path, command: KernelCommand) -> None:
    """Keep ``command`` for the next run of ``notebook`` (readable by the user alone)."""
    from jupyter_orbit import atomic

    if not command.startable:
        return
    record = {"version": _VERSION, "notebook": str(notebook), **asdict(command)}
    with contextlib.suppress(OSError):  # only a head start is lost
        atomic.write_json(_record(cache_dir, notebook), record, mode=0o600)


@dataclass
class Started:
    """A kernel process started from a ``KernelCommand``, not yet adopted by a kernel manager."""

    command: KernelCommand
    process: subprocess.Popen[bytes]
    info: dict[str, Any]  # its connection info, as written to ``connection_file``
    connection_file: Path
    adopted: bool = field(default=False)

    def discard(self) -> None:
        """Stop the process (its whole group, as a kernel's stop does) and remove its file."""
        if self.adopted:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.connection_file.unlink(missing_ok=True)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on the loopback address (all held until all found)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def start(command: KernelCommand, runtime_dir: Path, log: Path | None) -> Started | None:
    """Start ``command``'s kernel on loopback ports with a new key, its output to ``log`` (None:
    this process's own output); None if it cannot start (its environment removed since, say):
    the caller then starts its kernel as usual."""
    if not command.startable:
        return None
    shell, iopub, stdin, control, hb = _free_ports(5)
    info = {
        "shell_port": shell,
        "iopub_port": iopub,
        "stdin_port": stdin,
        "control_port": control,
        "hb_port": hb,
        "ip": "127.0.0.1",
        "key": str(uuid.uuid4()),
        "transport": "tcp",
        "signature_scheme": "hmac-sha256",
        "kernel_name": "",
    }
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    connection_file = runtime_dir / f"kernel-{uuid.uuid4()}.json"
    fd = os.open(connection_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    env = {**os.environ, **dict(command.env), "JPY_PARENT_PID": str(os.getpid())}
    if command.session:  # a pool's kernel gets its notebook's when it is handed out
        env["JPY_SESSION_NAME"] = command.session
    try:
        with contextlib.ExitStack() as stack:
            out = None
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(log.open("wb"))  # the kernel writes to its own copy
            process = subprocess.Popen(
                [arg.replace(PLACEHOLDER, str(connection_file)) for arg in command.argv],
                cwd=command.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group, stopped as a whole
            )
    except OSError:
        connection_file.unlink(missing_ok=True)
        return None
    return Started(command, process, info, connection_file)
