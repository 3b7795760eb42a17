"""What an engine that builds into folders keeps on disk: its environments and the leftovers of
builds, their sizes counted honestly, the processes that run from them, and removing them.

Sizes count what the files take on disk, each file once however many names it has; what
removing an environment frees leaves out files hardlinked from uv's cache or shared with other
environments (most of a typical one), which stay. A removal first takes the environment's build
lock (a build in progress is left alone), then deletes its completion marker, so nothing starts
in a half-removed environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from pathlib import Path

from jupyter_orbit.engines.base import Stored
from jupyter_orbit.errors import OrbitError

BUILD_PREFIX = ".build-"  # atomic.staged_dir's
GC_PREFIX = ".gc-"  # a removal under way (or interrupted)


def sizes(folder: Path) -> tuple[int, int]:
    """(bytes ``folder``'s files take, bytes removing it frees)."""
    found: dict[tuple[int, int], list[int]] = {}  # inode → [bytes, names seen, names it has]
    stack = [folder]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                seen = found.setdefault(
                    (st.st_dev, st.st_ino), [_bytes(st), 0, max(st.st_nlink, 1)]
                )
                seen[1] += 1
    size = sum(b for b, _, _ in found.values())
    frees = sum(b for b, seen, links in found.values() if seen >= links)
    return size, frees


def _bytes(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def folder_envs(root: Path, marker: str) -> list[Stored]:
    """The environments under ``root`` (complete: with ``marker``) and what builds and
    removals left there."""
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        leftover = name.startswith((BUILD_PREFIX, GC_PREFIX))
        if leftover:
            env_id = name.split("-", 2)[1] if name.count("-") >= 2 else name
        elif name.startswith(".") or not entry.is_dir() or not name.isalnum():
            continue  # the bytecode store, lock files, remembered dates
        else:
            env_id = name
        record = _record(entry / marker) if not leftover else None
        if not leftover and record is None:
            leftover = True  # a folder without its marker: an interrupted build
        if entry.is_symlink():  # another data root's environment, linked in: frees nothing
            size, frees = sizes(entry.resolve())[0], 0
        else:
            size, frees = sizes(entry)
        created = (record or {}).get("created")
        out.append(Stored(env_id, str(entry), size, frees, created, leftover))
    return out


def _record(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_in(items: list[Stored]) -> dict[str, str]:
    """Of ``items``, those some process runs from (its command line names a file inside):
    location → which process. Read from ``/proc``; elsewhere nothing is known."""
    if not sys.platform.startswith("linux") or not items:
        return {}
    places = {}
    for item in items:
        places[item.location] = item.location
        with contextlib.suppress(OSError):
            places[str(Path(item.location).resolve())] = item.location
    out: dict[str, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for place, location in places.items():
            if location not in out and any(a.startswith(place + os.sep) for a in argv):
                out[location] = f"process {proc.name} ({Path(argv[0]).name})"
    return out


def remove_folder(root: Path, item: Stored, marker: str) -> None:
    """Remove an environment (or a leftover) under ``root``, unless it is being built."""
    from filelock import FileLock, Timeout

    path = Path(item.location)
    if path.parent != root:
        raise OrbitError(f"{path} is not in {root}", "remove only what `orbit envs` lists")
    try:
        with FileLock(root / f".{item.env_id}.lock", timeout=0):
            if path.is_symlink():
                path.unlink()
                return
            if not path.exists():
                return
            (path / marker).unlink(missing_ok=True)  # from now on it is not an environment
            trash = root / f"{GC_PREFIX}{item.env_id}-{secrets.token_hex(4)}"
            path.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
    except Timeout:
        raise OrbitError(
            f"environment {item.env_id} is being built right now", "left as it is"
        ) from None
