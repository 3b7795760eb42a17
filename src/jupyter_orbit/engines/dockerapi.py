"""Talking to a container engine through the Docker Engine API (docker-py).

Docker's own daemon or Podman's compatible socket: whatever ``DOCKER_HOST`` (or the default
socket) answers. Builds use the API's classic builder; their output is read step by step, so a
failure names the step that failed and what it printed last. An image is tagged only once its
build has succeeded, so a failed build leaves the previous image under that tag.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit.errors import BuildError, OrbitError

if TYPE_CHECKING:
    import docker

    from jupyter_orbit.engines.dockerfile import BuildContext
    from jupyter_orbit.progress import Progress

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_MADE = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the builder colours what a step prints on stderr
# Never sent with a project: version control, caches, other environments.
PROJECT_EXCLUDES = (
    ".git",
    ".hg",
    ".svn",
    "**/__pycache__",
    "**/.ipynb_checkpoints",
    ".venv",
    "**/.DS_Store",
)
BUILD_DOCKERFILE = ".orbit.Dockerfile"
IGNORE_FILE = ".orbitignore"  # the project's own extra excludes (.dockerignore syntax)
# Never in an image, whatever a project's ignore files say (they are applied after them, so a
# `!` line cannot take them back): version control, files of secrets, keys, credentials.
SECRET_EXCLUDES = (
    "**/.git",
    "**/.hg",
    "**/.svn",
    "**/.env",
    "**/.env.*",
    "**/*.env",
    "**/.ssh",
    "**/.gnupg",
    "**/.aws",
    "**/.azure",
    "**/.kube",
    "**/.docker",
    "**/.config/gcloud",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/*.jks",
    "**/*.keystore",
    "**/.netrc",
    "**/.pypirc",
    "**/.npmrc",
    "**/.git-credentials",
    "**/*secret*",
    "**/*credentials*",
)
# Left out without a word: caches and Orbit's own build files.
_UNREMARKABLE = {"__pycache__", ".ipynb_checkpoints", ".DS_Store", ".venv", BUILD_DOCKERFILE}


class EngineUnavailable(OrbitError):
    """No container engine answers."""


def connect(timeout: int = 120) -> docker.DockerClient:
    """A client for the engine ``DOCKER_HOST`` names (default: the local socket), checked."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        where = os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
        raise EngineUnavailable(
            f"no container engine answers at {where}: {_short(e)}",
            "start Docker (e.g. `sudo apt-get install docker.io && sudo dockerd &`) or Podman's "
            "socket (`systemctl --user start podman.socket`), set DOCKER_HOST if it listens "
            "elsewhere, or use the local engine",
        ) from None
    return client


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def image(client: docker.DockerClient, ref: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


@dataclass
class StepFailure:
    number: int
    total: int
    instruction: str
    output: list[str]


def build(
    client: docker.DockerClient,
    context: BuildContext,
    tag: str,
    progress: Progress,
    *,
    what: str,
    blame: Callable[[StepFailure], tuple[str, str] | None] | None = None,
    nocache: bool = False,
) -> str:
    """Build ``context`` as ``tag``; return the image id. ``blame(step) -> (more, hint)`` can
    say more about a failing step than the step itself (which files declared what it installs).
    """
    if context.tree is not None and (out := left_out(context.tree)):
        shown = ", ".join(out[:12]) + (f" and {len(out) - 12} more" if len(out) > 12 else "")
        progress.warn(
            f"left out of {what}: {shown} (version control, secrets, keys and what "
            f"{IGNORE_FILE} or .dockerignore names)"
        )
    step: StepFailure | None = None
    image_id = None
    stages: list[str] = []  # the last image of each finished build stage
    last = None
    with tempfile.TemporaryFile() as fileobj:
        dockerfile = write_context(context, fileobj)
        fileobj.seek(0)
        stream = client.api.build(
            fileobj=fileobj,
            custom_context=True,
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            nocache=nocache,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in _ANSI.sub("", chunk["stream"]).splitlines():
                    if m := _STEP.match(line):
                        if m[3].upper().startswith("FROM ") and last is not None:
                            stages.append(last)
                        step = StepFailure(int(m[1]), int(m[2]), m[3], [])
                        progress.step(f"{what} {m[1]}/{m[2]}", _brief(m[3]))
                    elif made := _MADE.match(line):
                        last = made[1]
                    elif line.strip() and not line.startswith(" ---> "):
                        if step is not None:
                            step.output = [*step.output[-40:], line.rstrip()]
                        progress.log(line)
            elif "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            elif "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                raise _failure(what, tag, step, detail, blame)
    if image_id is None:
        found = image(client, tag)
        if found is None:
            raise BuildError(f"building {what} ended without an image", "see the build log above")
        image_id = found.id
    _drop_stages(client, stages)
    return image_id


def _drop_stages(client: docker.DockerClient, stages: list[str]) -> None:
    """Remove what only build stages used (uv, a stage's copy of packages): the final image
    does not need it, and a spec's image is never rebuilt from that cache. Images a later stage
    builds on are in use and stay."""
    import docker.errors

    for ref in reversed(stages):
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(ref)


def _brief(instruction: str) -> str:
    first = instruction.split("\n")[0].replace("\\", "").strip()
    return first if len(first) <= 90 else first[:87] + "…"


def _failure(
    what: str,
    tag: str,
    step: StepFailure | None,
    detail: str,
    blame: Callable[[StepFailure], tuple[str, str] | None] | None,
) -> BuildError:
    if step is None:
        return BuildError(f"building {what} failed: {detail.strip()}", "see the message above")
    useful = [ln for ln in step.output if ln.strip()][-6:]
    said = " | ".join(ln.strip() for ln in useful)[-700:]
    message = (
        f"building {what} failed at step {step.number}/{step.total} ({_brief(step.instruction)}): "
        + (said or detail.strip())
    )
    hint = f"fix what the step names and build again; the image {tag} was not changed"
    if blame is not None and (better := blame(step)):
        extra, hint = better
        message += f" ({extra})" if extra else ""
    return BuildError(message, hint)


def write_context(context: BuildContext, fileobj: Any) -> str:
    """Write ``context`` as a tar into ``fileobj``; return the Dockerfile's name inside it."""
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        dockerfile = "Dockerfile"
        if context.tree is not None:
            dockerfile = BUILD_DOCKERFILE
            ignore = _project_ignore(context.tree)
            _add_bytes(tar, ".dockerignore", "\n".join(ignore).encode() + b"\n")
            for rel in sorted(_project_files(context.tree, ignore)):
                tar.add(context.tree / rel, arcname=rel, recursive=False, filter=_normalise)
        _add_bytes(tar, dockerfile, context.dockerfile.encode())
        for name, content in context.files:
            if isinstance(content, bytes):
                _add_bytes(
                    tar, name, content, mode=0o755 if name in ("uv", "orbit-guard") else 0o644
                )
            else:
                tar.add(content, arcname=name, filter=_normalise)
    return dockerfile


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _project_ignore(tree: Path) -> list[str]:
    """Orbit's excludes, the project's own .dockerignore and .orbitignore, then what never goes
    into an image (secrets) and the files Orbit adds."""
    patterns = list(PROJECT_EXCLUDES)
    for name in (".dockerignore", IGNORE_FILE):
        own = tree / name
        if own.is_file() and not own.is_symlink():
            patterns += [
                ln.strip()
                for ln in own.read_text(errors="replace").splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")
            ]
    # Each secret pattern also for what is under it: a project's "!.git" takes back the folder
    # ".git" matches, and what is inside it would otherwise come along.
    secrets = [*SECRET_EXCLUDES, *(f"{pattern}/**" for pattern in SECRET_EXCLUDES)]
    return [*patterns, *secrets, BUILD_DOCKERFILE, ".dockerignore", IGNORE_FILE]


def left_out(tree: Path) -> list[str]:
    """What of the project an image built from ``tree`` leaves out (the topmost path of each
    part left out; caches and Orbit's own files unmentioned)."""
    kept = _project_files(tree, _project_ignore(tree))
    out = []
    for folder, dirs, files in os.walk(tree):
        rel = Path(folder).relative_to(tree)
        for name in sorted(dirs):
            path = (rel / name).as_posix()
            if path not in kept:
                dirs.remove(name)  # nothing inside goes in either
                if name not in _UNREMARKABLE:
                    out.append(path + "/")
        for name in sorted(files):
            path = (rel / name).as_posix()
            if path not in kept and name not in _UNREMARKABLE | {".dockerignore", IGNORE_FILE}:
                out.append(path)
    return sorted(out)


def project_files(tree: Path) -> set[str]:
    """The files (and folders) of ``tree`` an image built from it holds: what ``left_out``
    does not name, as paths relative to ``tree``."""
    return _project_files(tree, _project_ignore(tree))


def _project_files(tree: Path, ignore: Iterable[str]) -> set[str]:
    from docker.utils.build import exclude_paths

    return exclude_paths(str(tree), list(ignore))


def image_size(client: docker.DockerClient, ref: str) -> int:
    found = image(client, ref)
    return int(found.attrs.get("Size", 0)) if found is not None else 0


def image_file(client: docker.DockerClient, ref: str, path: str) -> bytes:
    """The bytes of one file in an image, read without running anything in it."""
    container = client.containers.create(ref, command=["true"])
    try:
        stream, _ = container.get_archive(path)
        data = io.BytesIO(b"".join(stream))
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=data) as tar:
        member = tar.next()
        f = tar.extractfile(member) if member else None
        return f.read() if f else b""
