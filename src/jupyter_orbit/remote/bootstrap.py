"""uv on the remote: the remote's own (``command -v uv``), else Orbit's copy under
``~/.cache/orbit-remote/bin/uv``, else a copy of the uv Orbit runs here, when it can run there.

A copy is sent to a temporary name, its SHA-256 checked against the local binary's, tried
(``uv --version``), and only then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.remote.errors import UvUnavailable
from jupyter_orbit.remote.session import ORBIT_DIR, Session

PROBE = (
    f'umask 077; mkdir -p "$HOME/{ORBIT_DIR}/bin"; '
    'printf "uname=%s\\n" "$(uname -sm)"; '
    'printf "path=%s\\n" "$(command -v uv)"; '
    f'own="$HOME/{ORBIT_DIR}/bin/uv"; '
    'if [ -x "$own" ]; then printf "own=%s\\n" "$own"; fi'
)


@dataclass(frozen=True)
class RemoteUv:
    path: str
    version: str
    how: str  # "remote" (the host's own), "orbit" (copied earlier), "copied" (just now)


@dataclass(frozen=True)
class Probe:
    uname: str
    on_path: str | None
    orbit_copy: str | None


def local_platform() -> str:
    """What ``uname -sm`` prints here."""
    u = os.uname()
    return f"{u.sysname} {u.machine}"


def parse_probe(text: str) -> Probe:
    values = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)
    return Probe(
        values.get("uname", "").strip(),
        values.get("path", "").strip() or None,
        values.get("own", "").strip() or None,
    )


def can_copy(local: str, remote: str) -> bool:
    """Whether a uv binary built for ``local`` runs on ``remote`` (both as ``uname -sm``)."""
    return bool(local) and local.split() == remote.split()


def not_copyable(host: str, local: str, remote: str) -> UvUnavailable:
    return UvUnavailable(
        f"{host} has no uv, and Orbit's uv cannot run there: this machine is {local}, "
        f"{host} is {remote or 'of an unknown kind'}",
        f"install uv on {host} (e.g. `pipx install uv`, or Astral's installer) so that "
        f"`command -v uv` finds it in a non-interactive ssh session, or place a uv built for "
        f"{remote or 'that machine'} at ~/{ORBIT_DIR}/bin/uv there",
    )


async def ensure_uv(
    session: Session,
    local_uv: Path,
    progress: Progress | None = None,
    *,
    platform: str | None = None,
) -> RemoteUv:
    """A uv that runs on the remote, copying ``local_uv`` there when it has none."""
    progress = progress or NullProgress()
    probe = parse_probe(str((await session.run(PROBE, what="looking for uv")).stdout))
    for path, how in ((probe.on_path, "remote"), (probe.orbit_copy, "orbit")):
        if path and (version := await _version(session, path)):
            return RemoteUv(path, version, how)
    here = platform or local_platform()
    if not can_copy(here, probe.uname):
        raise not_copyable(session.host.name, here, probe.uname)
    progress.step("uv", f"copying Orbit's uv to {session.host.name} ({probe.uname})")
    return await _copy(session, local_uv)


async def _version(session: Session, path: str) -> str | None:
    r = await session.run([path, "--version"], what="asking uv its version", check=False)
    out = str(r.stdout or "").strip()
    return out if r.exit_status == 0 and out.startswith("uv ") else None


async def _copy(session: Session, local_uv: Path) -> RemoteUv:
    lib = _lib()
    sftp = await session.sftp()
    final = await session.orbit_dir("bin", "uv")
    tmp = f"{final}.{secrets.token_hex(4)}.tmp"
    want = _sha256(local_uv)
    try:
        try:
            async with session.guard("copying uv"):
                await sftp.put(str(local_uv), tmp)
                await sftp.chmod(tmp, 0o755)
        except lib.SFTPError as err:
            raise await session.sftp_error("copying uv", err, tmp) from None
        got = await _remote_sha256(session, tmp)
        if got != want:
            raise UvUnavailable(
                f"the copy of uv on {session.host.name} is damaged (SHA-256 {got[:16]}…, "
                f"expected {want[:16]}…)",
                "try again; if it keeps failing, check the remote's disk",
            )
        version = await _version(session, tmp)
        if version is None:
            raise UvUnavailable(
                f"Orbit's copy of uv does not run on {session.host.name}",
                f"install uv on {session.host.name} so that `command -v uv` finds it",
            )
        async with session.guard("placing uv"):
            await sftp.posix_rename(tmp, final)
    finally:
        with contextlib.suppress(Exception):
            if await sftp.exists(tmp):
                await sftp.remove(tmp)
    return RemoteUv(final, version, "copied")


async def _remote_sha256(session: Session, path: str) -> str:
    """The remote file's SHA-256, computed there when it can be, else read back and hashed."""
    r = await session.run(
        f"sha256sum {_quote(path)} 2>/dev/null || shasum -a 256 {_quote(path)}",
        what="hashing uv",
        check=False,
    )
    out = str(r.stdout or "").split()
    if r.exit_status == 0 and out and len(out[0]) == 64:
        return out[0]
    sftp = await session.sftp()
    h = hashlib.sha256()
    async with session.guard("reading uv back"), sftp.open(path, "rb") as f:
        while chunk := await f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _lib() -> Any:
    from jupyter_orbit.remote._lib import asyncssh

    return asyncssh()
