"""The hash of the JupyterLab extension's sources, recorded beside the committed build.

``hatch_build.py`` rebuilds the extension when the recorded hash differs from the sources (and
npm is there to do it); ``tests/test_labextension.py`` fails when someone changed the sources
and committed without rebuilding. Standard library only: it runs inside the build backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

OUTPUT = Path("src") / "jupyter_orbit" / "labextensions" / "jupyter-orbit"
STAMP = "source.sha256"


def source_hash(package_dir: Path) -> str:
    files = [package_dir / "package.json", package_dir / "package-lock.json"]
    files += sorted((package_dir / "src").glob("*.js"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(f.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()
