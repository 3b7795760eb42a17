"""An environment built on a remote host with uv, from a lock resolved on this machine.

The layout mirrors the local engine's: ``~/.cache/orbit-remote/envs/<env-id>/`` is a relocatable
uv venv, built in a hidden sibling folder and renamed into place, with ``orbit-env.json`` renamed
in last, under ``flock`` where the remote has it (so two clients build it once). An environment
without its marker is incomplete and rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shlex
from dataclasses import dataclass
from typing import Any

from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.remote.errors import RemoteError
from jupyter_orbit.remote.session import Session

MARKER = "orbit-env.json"
LOCK = "orbit/requirements.lock.txt"
_STEP = "@@orbit "


@dataclass(frozen=True)
class RemoteEnv:
    env_id: str
    prefix: str
    python: str
    record: dict[str, Any]


@dataclass(frozen=True)
class BuildRequest:
    env_id: str
    python: str  # what ``uv venv --python`` is asked for
    lock: str  # pinned requirements (uv pip compile output)
    require_hashes: bool = False
    index_args: tuple[str, ...] = ()
    record: dict[str, Any] | None = None


def _check_id(env_id: str) -> str:
    if not env_id.isalnum():
        raise ValueError(f"not an environment id: {env_id!r}")
    return env_id


async def lookup(session: Session, env_id: str) -> RemoteEnv | None:
    """The complete environment ``env_id`` on the remote, or None."""
    from jupyter_orbit.remote._lib import asyncssh

    lib = asyncssh()
    prefix = await session.orbit_dir("envs", _check_id(env_id))
    sftp = await session.sftp()
    try:
        async with (
            session.guard("looking for the environment"),
            sftp.open(f"{prefix}/{MARKER}", "rb") as f,
        ):
            record = json.loads(await f.read())
    except (lib.SFTPNoSuchFile, ValueError):
        return None
    return RemoteEnv(env_id, prefix, f"{prefix}/bin/python", record)


def build_script(
    *, envs: str, env_id: str, stage: str, uv: str, python: str, sync_args: list[str]
) -> str:
    """The shell script that builds one environment on the remote (pure: tested as text)."""
    q = shlex.quote
    sync = " ".join(q(a) for a in sync_args)
    return f"""set -eu
umask 077
envs={q(envs)}; id={q(env_id)}; stage={q(stage)}; uv={q(uv)}
final="$envs/$id"; build="$envs/.build-$id-{secrets.token_hex(4)}"
export UV_NO_CONFIG=1 NO_COLOR=1
exec 9>"$envs/.$id.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -f "$final/{MARKER}" ]; then echo "{_STEP}built"; rm -rf "$stage"; exit 0; fi
rm -rf "$envs/.build-$id-"* "$final"
trap 'rm -rf "$build" "$stage"' EXIT
echo "{_STEP}venv"
"$uv" venv --relocatable --quiet --python {q(python)} "$build"
mkdir -p "$build/orbit"
mv "$stage/requirements.lock.txt" "$build/{LOCK}"
echo "{_STEP}install"
"$uv" pip sync --python "$build/bin/python" {sync} "$build/{LOCK}"
echo "{_STEP}commit"
mv "$build" "$final"
mv "$stage/{MARKER}" "$final/.{MARKER}.tmp"
mv "$final/.{MARKER}.tmp" "$final/{MARKER}"
"""


async def build(
    session: Session, uv: str, req: BuildRequest, progress: Progress | None = None
) -> RemoteEnv:
    """Build ``req`` on the remote (or find it built by someone else meanwhile)."""
    progress = progress or NullProgress()
    envs = await session.orbit_dir("envs")
    stage = f"{envs}/.stage-{req.env_id}-{secrets.token_hex(4)}"
    await _upload(session, f"{stage}/requirements.lock.txt", req.lock.encode())
    record = dict(req.record or {}, env_id=req.env_id, lock=LOCK)
    await _upload(session, f"{stage}/{MARKER}", json.dumps(record, indent=2).encode())
    sync_args = [*(["--require-hashes"] if req.require_hashes else []), *req.index_args]
    script = build_script(
        envs=envs,
        env_id=_check_id(req.env_id),
        stage=stage,
        uv=uv,
        python=req.python,
        sync_args=sync_args,
    )
    labels = {
        "venv": f"Python {req.python} on {session.host.name}",
        "install": f"{_count(req.lock)} pinned packages with uv on {session.host.name}",
        "commit": envs + "/" + req.env_id,
        "built": "built meanwhile by another client",
    }

    def on_line(line: str) -> None:
        if line.startswith(_STEP):
            step = line[len(_STEP) :].strip()
            progress.step(step if step != "built" else "commit", labels.get(step, ""))
        else:
            progress.log(line)

    try:
        status, output = await session.stream(
            f"sh -c {shlex.quote(script)}", what="building the environment", on_line=on_line
        )
    finally:
        with contextlib.suppress(Exception):
            await session.run(["rm", "-rf", stage], what="cleaning up", check=False)
    if status != 0:
        raise _failure(session, req, output)
    env = await lookup(session, req.env_id)
    if env is None:
        raise RemoteError(
            f"the environment {req.env_id} is not complete on {session.host.name} after its build",
            "build again; if it keeps failing, look at ~/.cache/orbit-remote/envs there",
        )
    return env


def _failure(session: Session, req: BuildRequest, output: str) -> RemoteError:
    if "No interpreter found" in output or "No Python found" in output:
        return RemoteError(
            f"Python {req.python} is not available on {session.host.name}",
            f"install Python {req.python} there, or let uv fetch one (it may download "
            "Python builds when the remote has network access)",
        )
    return session.failure("building the environment", output)


async def _upload(session: Session, path: str, data: bytes) -> None:
    from jupyter_orbit.remote._lib import asyncssh

    lib = asyncssh()
    sftp = await session.sftp()
    try:
        async with session.guard("preparing the build"):
            await sftp.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            async with sftp.open(path, "wb", attrs=lib.SFTPAttrs(permissions=0o600)) as f:
                await f.write(data)
    except lib.SFTPError as err:
        raise await session.sftp_error("preparing the build", err, path) from None


def _count(lock: str) -> int:
    return sum(1 for ln in lock.splitlines() if "==" in ln and not ln.lstrip().startswith("#"))
