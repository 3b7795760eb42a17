"""Read-modify-write of files that other programs write too.

Orbit edits files people also edit: a project's requirements.txt, pyproject.toml,
environment.yml, package.json, a notebook (JupyterLab saves it, autosave included), a profile's
settings. Two rules make such an edit safe:

- **One Orbit at a time.** ``locked(path, …)`` holds a lock for each file across the whole
  cycle (read, check, write), so two ``orbit add`` on the same requirements.txt run one after
  the other, and the second one reads what the first wrote. The locks live in a per-user folder
  outside the project (``<user cache>/orbit/locks``, one lock file per real path), so a project
  gets no stray files and two Orbit homes editing the same file still take turns.
- **Never over a newer version.** ``replace(path, before, after)`` writes only if the file still
  holds ``before``, the bytes the edit was computed from; a program that does not take Orbit's
  lock (an editor, JupyterLab's autosave) and wrote meanwhile makes it refuse with
  ``FileChanged`` instead of Orbit silently overwriting (or blindly merging) that version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.errors import OrbitError

LOCK_TIMEOUT = 600.0  # seconds to wait for another Orbit command editing the same file


class FileChanged(OrbitError):
    """The file changed between the read an edit was computed from and its write."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path.name} changed while Orbit was editing it (another program saved it); "
            "Orbit did not overwrite that version, and wrote nothing",
            "look at the file (and save or close it in your editor), then run the command again",
            path=path,
        )


class Busy(OrbitError):
    """Another Orbit command has been editing the same file for too long."""


def lock_dir() -> Path:
    """The per-user folder of edit locks (outside every project)."""
    import platformdirs

    folder = platformdirs.user_cache_path("orbit", appauthor=False) / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _lock_file(path: Path) -> Path:
    real = os.path.realpath(path)
    return lock_dir() / (hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32])


@contextlib.contextmanager
def locked(*paths: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the edit lock of each of ``paths`` (in one fixed order, so two commands locking
    the same files cannot deadlock); re-entrant within a process."""
    from filelock import FileLock, Timeout

    files = sorted({_lock_file(p): p for p in paths}.items())
    with contextlib.ExitStack() as stack:
        for lock_file, path in files:
            lock = FileLock(lock_file, is_singleton=True)  # one per file: re-entrant
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise Busy(
                    f"another Orbit command has been editing {path.name} for {timeout:g} s",
                    "wait for it to finish (or stop it), then run this command again",
                    path=path,
                ) from None
            stack.callback(lock.release)
        yield


def read(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def check_unchanged(path: Path, before: bytes | None) -> None:
    """Raise ``FileChanged`` unless ``path`` still holds ``before`` (None: still absent)."""
    if read(path) != before:
        raise FileChanged(path)


def replace(path: Path, before: bytes | None, after: bytes, *, mode: int | None = None) -> None:
    """Write ``after`` to ``path`` (atomically, under its lock) if it still holds ``before``."""
    with locked(path):
        check_unchanged(path, before)
        atomic.write_bytes(path, after, mode=mode)
