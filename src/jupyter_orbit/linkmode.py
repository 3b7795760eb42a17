"""How uv puts a package's files into an environment: chosen so environments cannot corrupt
each other.

uv's default on Linux is to hardlink every file from its cache: one inode then backs the file
in the cache and in every environment with that package, so a kernel that edits an installed
file in place (a patch, an editor writing through the link) changes it in all of them, and in
the user's other uv projects. Orbit therefore asks uv for

- ``clone`` where the file system can share blocks copy-on-write (reflinks: Btrfs, XFS,
  bcachefs, APFS): each environment gets its own files at almost no cost in space or time;
- ``copy`` everywhere else (ext4, tmpfs, network disks): each environment owns its files; it
  costs the space of a copy (measured in ``bench/link_modes.py``).

uv's own ``clone`` falls back to hardlinks where reflinks do not work, which is why Orbit probes
the environments' file system itself rather than always asking for ``clone``.

A user who prefers hardlinks (less space, shared inodes) says so with uv's own setting,
``UV_LINK_MODE=hardlink``, and Orbit leaves the choice to uv; ``orbit doctor --verify`` then
reports the shared files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from pathlib import Path

_FICLONE = 0x40049409  # Linux ioctl: share the source file's blocks (a reflink)


@functools.cache
def _reflinks(folder: str) -> bool:
    """Whether files in ``folder`` can be cloned copy-on-write (probed once per folder)."""
    if sys.platform == "darwin":
        return True  # APFS, the file system of every supported macOS
    if not sys.platform.startswith("linux"):
        return False
    import fcntl

    try:
        with (
            tempfile.NamedTemporaryFile(dir=folder, prefix=".reflink-") as src,
            tempfile.NamedTemporaryFile(dir=folder, prefix=".reflink-") as dst,
        ):
            src.write(b"orbit")
            src.flush()
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    except OSError:
        return False
    return True


def shares_files() -> bool:
    """Whether the user asked uv to share files between environments (hardlinks, symlinks)."""
    return os.environ.get("UV_LINK_MODE", "").lower() in ("hardlink", "symlink")


def mode(target: Path) -> str | None:
    """uv's link mode for installing into ``target`` (None: the user chose one for uv)."""
    if os.environ.get("UV_LINK_MODE"):
        return None
    # probed in the folder that holds the environments (one probe per process, and no probe
    # files inside an environment)
    folder = target.parent
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    return "clone" if _reflinks(str(folder)) else "copy"


def args(target: Path) -> list[str]:
    """The ``--link-mode`` flag for a ``uv pip`` command that installs into ``target``."""
    chosen = mode(target)
    return ["--link-mode", chosen] if chosen else []
