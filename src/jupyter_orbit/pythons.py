"""The Python interpreters Orbit builds environments with."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_python() -> str:
    """The version Orbit itself runs on: the default when nothing asks for another."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def venv_python(prefix: Path) -> Path:
    """The interpreter of the virtual environment at ``prefix``."""
    return (
        prefix
        / ("Scripts" if os.name == "nt" else "bin")
        / ("python.exe" if os.name == "nt" else "python")
    )


def site_packages(prefix: Path) -> list[Path]:
    """The site-packages folders of the virtual environment at ``prefix``."""
    if os.name == "nt":
        return [prefix / "Lib" / "site-packages"]
    return sorted((prefix / "lib").glob("python*/site-packages"))
