"""The project-file formats Orbit reads, and the ones repo2docker knows that it does not yet."""

from __future__ import annotations

from pathlib import Path

from jupyter_orbit.manifests.apt import AptTxt
from jupyter_orbit.manifests.base import Manifest
from jupyter_orbit.manifests.conda_env import EnvironmentYml
from jupyter_orbit.manifests.pipfile import Pipfile
from jupyter_orbit.manifests.pyproject import PyprojectToml
from jupyter_orbit.manifests.requirements import RequirementsTxt
from jupyter_orbit.manifests.runtime import RuntimeTxt

PROJECT_MANIFESTS: tuple[Manifest, ...] = (
    RequirementsTxt(),
    PyprojectToml(),
    EnvironmentYml(),
    Pipfile(),
    RuntimeTxt(),
    AptTxt(),
)

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
    """The project manifest that reads files with this name, or ``None``."""
    name = Path(filename).name
    return next((m for m in PROJECT_MANIFESTS if name in m.filenames), None)
