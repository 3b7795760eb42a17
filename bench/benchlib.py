"""Small helpers for Orbit's benchmarks: timed subprocesses, statistics, disk usage, kernels.

Nothing here knows about a particular scenario; ``foundation.py`` composes these.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"

# Variables this machine sets that a normal machine would not, or that would point a tool at
# some other environment than the one it is meant to use.
_SCRUB = ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "ORBIT_PROFILE")


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message carries the tool's own output."""


# -- environment and subprocesses -------------------------------------------------------------


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every tool runs with: bytecode writing on, the dev venv's tools on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env.update(extra or {})
    return env


@dataclass
class Done:
    argv: list[str]
    seconds: float
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    expect: str | None = None,
) -> Done:
    """Run ``argv`` to completion, timed with perf_counter; its output is shown only on failure.

    ``expect``: a string the command's stdout must contain (proof that the notebook really ran).
    """
    args = [str(a) for a in argv]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else tool_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise BenchError(
            f"timed out after {timeout:.0f}s: {' '.join(args)}\n"
            + _tail(_text(e.stdout), _text(e.stderr))
        ) from None
    except FileNotFoundError as e:
        raise BenchError(f"cannot run {args[0]}: {e}") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(
            f"exit code {proc.returncode}: {' '.join(args)}\n" + _tail(proc.stdout, proc.stderr)
        )
    if expect is not None and expect not in proc.stdout:
        raise BenchError(
            f"{expect!r} not in the output of {' '.join(args)}\n" + _tail(proc.stdout, proc.stderr)
        )
    return Done(args, seconds, proc.stdout, proc.stderr)


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _tail(stdout: str, stderr: str, lines: int = 25) -> str:
    out = []
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        kept = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
        if kept:
            out.append(f"--- {name} (last {len(kept)} lines) ---\n" + "\n".join(kept))
    return "\n".join(out) or "(no output)"


def require_tools(names: Sequence[str]) -> dict[str, str]:
    """The full path of each tool, looked up in the dev venv first; a clear error if missing."""
    found, missing = {}, []
    for name in names:
        path = shutil.which(name, path=tool_env()["PATH"])
        if path:
            found[name] = path
        else:
            missing.append(name)
    if missing:
        raise BenchError(
            f"missing tool(s): {', '.join(missing)}. Install the dev environment first, e.g. "
            f"`uv pip install --python {VENV_BIN / 'python'} -e '.[test,bench]'`"
        )
    return found


def capture(argv: Sequence[str | Path], timeout: float = 60, cwd: Path | None = None) -> str:
    """A command's stdout (stripped), or the error it gave: for recording versions and config."""
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=tool_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"error: {e}"
    return (proc.stdout or proc.stderr).strip()


# -- statistics -------------------------------------------------------------------------------


@dataclass
class Series:
    """Repeated measurements of one thing, in seconds (or bytes)."""

    name: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def to_json(self) -> dict:
        data: dict = {"samples": [round(s, 4) for s in self.samples]}
        if self.samples:
            data |= {"median": round(self.median, 4), "min": self.min, "max": self.max}
        if self.note:
            data["note"] = self.note
        return data


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# -- disk usage -------------------------------------------------------------------------------


def disk_usage(roots: Sequence[Path]) -> int:
    """Bytes allocated under ``roots``, every inode counted once (hardlinks, shared stores).

    Directories and symlinks count too; symlinks are not followed.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [r for r in roots if r.exists() or r.is_symlink()]
    while stack:
        path = stack.pop()
        st = path.lstat()
        key = (st.st_dev, st.st_ino)
        if key not in seen:
            seen.add(key)
            total += st.st_blocks * 512
        if path.is_dir() and not path.is_symlink():
            with os.scandir(path) as it:
                stack.extend(Path(e.path) for e in it)
    return total


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# -- servers, kernels and process trees -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, token: str, deadline: float, proc: subprocess.Popen | None = None) -> None:
    """Poll GET /api/status until the server answers 200 (or the process dies, or time runs out)."""
    import httpx

    while True:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the server exited with code {proc.returncode} before answering")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(
                url.rstrip("/") + "/api/status",
                headers={"Authorization": f"token {token}"},
                timeout=2,
            )
            if r.status_code == 200:
                return
        if time.perf_counter() > deadline:
            raise BenchError(f"{url} did not answer /api/status in time")
        time.sleep(0.05)


@dataclass
class KernelTimes:
    session: float  # POST /api/sessions answered
    kernel_info: float  # kernel_info_reply received
    imported: float  # `import numpy, pandas` finished


def kernel_ready(
    url: str, token: str, notebook: str, timeout: float = 180, code: str = "import numpy, pandas"
) -> KernelTimes:
    """Start a session for ``notebook`` (a path relative to the server root), as JupyterLab does,
    and time it until the kernel answers kernel_info, then until it has run ``code`` (by default
    imported numpy and pandas). Times are seconds from the call.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.support.kernelws import KernelWS, Server

    server = Server(url, token)
    start = time.perf_counter()
    session = server.new_session(notebook)
    t_session = time.perf_counter() - start

    async def talk() -> tuple[float, float]:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=timeout)
            t_info = time.perf_counter() - start
            reply = await k.execute(code, timeout=timeout)
            if reply.status != "ok":
                raise BenchError(f"{code!r} failed in the kernel: {reply.error}")
            return t_info, time.perf_counter() - start

    t_info, t_import = asyncio.run(asyncio.wait_for(talk(), timeout))
    return KernelTimes(t_session, t_info, t_import)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), including ones in other sessions."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_tree(proc: subprocess.Popen, *, grace: float = 15) -> None:
    """Stop ``proc`` and everything it started: SIGINT first (lets juv stop uv's own session),
    then SIGTERM/SIGKILL to its process group and to every descendant found beforehand.
    """
    below = descendants(proc.pid)
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if sig == signal.SIGINT:
                    proc.send_signal(sig)
                else:
                    os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
