"""Build hook: the prebuilt JupyterLab extension, rebuilt only when its sources changed.

The built extension is committed under src/jupyter_orbit/labextensions/, so installing Orbit
(``pip install -e .``, a wheel, an sdist) needs Python only. When the sources in labextension/
no longer match the hash recorded with the build, and npm is on PATH, the extension is rebuilt
with npm (npm registry packages only, install scripts off); without npm the committed build is
shipped and a warning says so.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import warnings
from pathlib import Path
from types import ModuleType

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _sources(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_orbit_lab_sources", root / "labextension" / "sources.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LabExtensionHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        package = root / "labextension"
        if not package.is_dir():  # building from an sdist without the sources: use what is there
            return
        sources = _sources(root)
        output = root / sources.OUTPUT
        wanted = sources.source_hash(package)
        stamp = output / sources.STAMP
        if stamp.is_file() and stamp.read_text().strip() == wanted:
            return
        npm = shutil.which("npm")
        if npm is None:
            if (output / "package.json").is_file():
                warnings.warn(
                    "labextension/ changed since its build was committed, and npm is not here "
                    "to rebuild it: shipping the committed build",
                    stacklevel=1,
                )
                return
            raise RuntimeError(f"{output} is missing and building it needs npm (Node.js)")
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=package, check=True
        )
        subprocess.run([npm, "run", "build"], cwd=package, check=True)
        stamp.write_text(wanted + "\n")
