"""Write files so that a reader sees either the old content or the complete new one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
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
