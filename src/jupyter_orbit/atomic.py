"""Write files and folders so that a reader sees either the old content or the complete new one."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` atomically: temp file in the same folder, fsync, rename.

    The new file keeps the old file's permissions unless ``mode`` is given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # no room, no permission, read-only: say it of the file meant
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        if e.filename in (None, tmp):  # name the file being written, not its temporary twin
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


@contextlib.contextmanager
def writing(path: Path, *, text: bool = True, encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content into, streamed; it replaces ``path`` (temp file in
    the same folder, fsync, rename, the old file's permissions kept) only when the block
    completes. A block that raises, or a process killed meanwhile, leaves ``path`` as it was."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding=encoding if text else None) as f:
            os.fchmod(f.fileno(), mode)
            yield f
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    # newline="" semantics: the caller's line endings are written as they are.
    write_bytes(path, text.encode("utf-8"), mode=mode)


def write_json(path: Path, data: Any, *, mode: int | None = None, indent: int | None = 2) -> None:
    write_text(path, json.dumps(data, indent=indent, sort_keys=False) + "\n", mode=mode)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def staged_dir(final: Path, *, prefix: str = ".build-") -> Iterator[Path]:
    """A new folder to fill, moved to ``final`` when the block completes (unless the block
    committed it itself with ``commit_dir``).

    The folder is a hidden sibling of ``final`` (``<prefix><name>-<random>``, on the same file
    system, so the rename is atomic); it is removed when the block raises, so ``final`` is
    either absent or complete. ``final`` must not exist yet; callers that may race hold a lock.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    build = final.parent / f"{prefix}{final.name}-{secrets.token_hex(4)}"
    try:
        yield build
        if build.exists():
            commit_dir(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def commit_dir(build: Path, final: Path, *, marker: str | None = None, record: Any = None) -> None:
    """Move the complete folder ``build`` to ``final`` in one rename, then write its completion
    ``marker`` (JSON ``record``): readers that trust only folders with a marker never see a
    partial one, whenever the process is killed."""
    build.rename(final)
    if marker is not None:
        write_json(final / marker, record)


def leftovers(parent: Path, name: str, *, prefix: str = ".build-") -> list[Path]:
    """Folders ``staged_dir`` left behind for ``name`` when its process was killed."""
    return sorted(parent.glob(f"{prefix}{name}-*"))
