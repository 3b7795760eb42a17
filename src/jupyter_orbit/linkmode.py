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

A new environment's build may ask for hardlinks instead of copies (``args(own_later=True)``):
copying numpy and pandas takes seconds that hardlinks do not, and the kernel can start on the
linked files. The environment's background job (``engines.bytecode``, started once it is in
place) then gives every linked file a copy of its own (``own_files``), before it does anything
else; the files are shared with uv's cache only for those first seconds.

uv's own ``clone`` falls back to hardlinks where reflinks do not work, which is why Orbit probes
the environments' file system itself rather than always asking for ``clone``.

A user who prefers hardlinks (less space, shared inodes) says so with uv's own setting,
``UV_LINK_MODE=hardlink``, and Orbit leaves the choice to uv and the links as they are;
``orbit doctor --verify`` then reports the shared files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

_FICLONE = 0x40049409  # Linux ioctl: share the source file's blocks (a reflink)
STAGING = ".orbit-own"  # in an environment while ``own_files`` makes its copies


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


def mode(target: Path, *, own_later: bool = False) -> str | None:
    """uv's link mode for installing into ``target`` (None: the user chose one for uv).
    ``own_later``: the caller has ``own_files`` run on ``target`` once it is in place, so
    hardlinks may stand in for copies until then."""
    if os.environ.get("UV_LINK_MODE"):
        return None
    # probed in the folder that holds the environments (one probe per process, and no probe
    # files inside an environment)
    folder = target.parent
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    if _reflinks(str(folder)):
        return "clone"
    return "hardlink" if own_later else "copy"


def args(target: Path, *, own_later: bool = False) -> list[str]:
    """The ``--link-mode`` flag for a ``uv pip`` command that installs into ``target``."""
    chosen = mode(target, own_later=own_later)
    return ["--link-mode", chosen] if chosen else []


def own_files(prefix: Path) -> int:
    """Give every file under ``prefix`` that is linked elsewhere (uv's cache) a copy of its own,
    put in place by a rename: a process that has the file open or mapped keeps reading the
    same bytes. The copies are made in a hidden folder of the environment (``STAGING``,
    removed after); whoever copies the environment waits for this first (``engines.bytecode``'s
    ``OWN_PENDING``). Bytecode (``__pycache__``) stays linked: it is shared read-only on purpose.
    Nothing is done when the user asked uv to share files. Returns how many were copied."""
    if shares_files():
        return 0
    copied = 0
    staging = prefix / STAGING
    staging.mkdir(exist_ok=True)
    try:
        tmp = staging / "file"
        for root, dirs, files in os.walk(prefix):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", STAGING)]
            for name in files:
                path = Path(root, name)
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if st.st_nlink < 2 or not stat.S_ISREG(st.st_mode):
                    continue
                shutil.copy2(path, tmp)
                tmp.replace(path)
                copied += 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return copied
