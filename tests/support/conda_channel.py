"""A local conda channel for tests: noarch packages written by hand (``.tar.bz2`` with
``info/index.json`` and ``info/paths.json``), indexed with rattler's own indexer."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from pathlib import Path


def build_conda_package(
    channel: Path,
    name: str,
    version: str,
    files: dict[str, str] | None = None,
    *,
    depends: list[str] | tuple[str, ...] = (),
    build: str = "0",
    timestamp: int | None = None,
    placeholder: str | None = None,
) -> Path:
    """Write ``channel/noarch/NAME-VERSION-BUILD.tar.bz2`` and return its path.

    Files that contain ``placeholder`` are marked as text with that prefix placeholder, which
    the installer replaces with the environment's prefix (as conda-build marks them)."""
    files = files or {f"share/{name}/VERSION": version + "\n"}
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "license": "BSD-3-Clause",
        "noarch": "generic",
        "platform": None,
        "arch": None,
        "subdir": "noarch",
        "timestamp": timestamp or int(time.time() * 1000),
    }
    paths = {
        "paths": [
            {
                "_path": p,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(c.encode()).hexdigest(),
                "size_in_bytes": len(c.encode()),
                **(
                    {"prefix_placeholder": placeholder, "file_mode": "text"}
                    if placeholder and placeholder in c
                    else {}
                ),
            }
            for p, c in files.items()
        ],
        "paths_version": 1,
    }
    members = {
        **files,
        "info/index.json": json.dumps(index),
        "info/paths.json": json.dumps(paths),
        "info/files": "\n".join(files) + "\n",
    }
    out = channel / "noarch" / f"{name}-{version}-{build}.tar.bz2"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:bz2") as tar:
        for path, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1577836800
            tar.addfile(info, io.BytesIO(data))
    return out


def index_channel(channel: Path) -> None:
    """Write repodata.json for every subdir (noarch, and an empty one for this platform)."""
    import asyncio

    from rattler import Subdir
    from rattler.index import index_fs

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    (channel / str(Subdir.current())).mkdir(parents=True, exist_ok=True)
    result = index_fs(channel, force=True)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
