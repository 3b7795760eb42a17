"""The project-file formats Orbit reads, and the ones repo2docker knows that it does not yet."""

from __future__ import annotations

from pathlib import Path

from jupyter_orbit.manifests.base import Manifest
from jupyter_orbit.plugins import MANIFESTS


def formats() -> list[Manifest]:
    """Every file format Orbit knows, in precedence order (see ``Manifest.precedence``)."""
    found = MANIFESTS.classes().values()
    return [cls() for cls in sorted(found, key=lambda c: (c.precedence, c.name))]


def project_manifests() -> list[Manifest]:
    """The formats read as a project's files, in precedence order."""
    return [m for m in formats() if m.project_source]


# Files repo2docker acts on that Orbit does not read yet, so ``orbit env`` can list them as
# ignored rather than pass over them in silence.
KNOWN_UNREAD: dict[str, str] = {
    "postBuild": "build scripts are not run (they could do anything to the environment)",
    "start": "start scripts are not run; kernels start without them",
    "install.R": "R packages are not installed yet (no R ecosystem)",
    "DESCRIPTION": "R package descriptions are not read yet (no R ecosystem)",
    "Project.toml": "Julia projects are not read yet (no Julia kernel recipe)",
    "REQUIRE": "Julia REQUIRE files are not read yet (no Julia kernel recipe)",
    "default.nix": "Nix environments are not supported",
    "Dockerfile": "Dockerfiles are not built; the docker engine builds its own images",
    "setup.py": "the project itself is not installed; list its dependencies in requirements.txt",
    "package.json": (
        "a project's package.json is usually a JupyterLab extension's;"
        " a kernel's npm packages go in the notebook's metadata.orbit"
    ),
}


def manifest_for(filename: str | Path) -> Manifest | None:
    """The format of files with this name (exact names first), or ``None``."""
    path = Path(filename)
    known = formats()
    return next((m for m in known if path.name in m.filenames), None) or next(
        (m for m in known if m.matches(path)), None
    )
