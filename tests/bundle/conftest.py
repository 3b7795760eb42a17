"""Bundles built once per session from real registries (PyPI, npm, Debian), as of a fixed date."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive, collect

AS_OF = "2025-06-01T00:00:00Z"
PYPI_REQUIREMENTS = ["six", "idna", "numpy"]
NPM_SPECS = ["is-odd@3.0.1"]  # depends on is-number@^6
APT_PACKAGES = ["jq"]


@dataclass
class Built:
    bundle: Path
    manifest: archive.Manifest
    files: Path  # where the collected files are


def build_pypi(dest: Path, requirements: list[str]) -> Built:
    pins_text = collect.resolve_pins(requirements, python=_python(), as_of=AS_OF, cwd=dest)
    target = collect.Target.current()
    pins = collect.parse_pins(pins_text, environment=target.environment)
    pages = collect.pypi_pages(p.name for p in pins)
    planned = collect.plan_pypi(pins, pages, target, needed_by=("test:pypi",))
    entries = collect.collect_pypi(planned, dest / "wheels")
    out = dest / "pypi.orbit-bundle.tar.gz"
    manifest = archive.write_bundle(
        out, entries, name="pypi-test", created=AS_OF, platform=target.label
    )
    return Built(out, manifest, dest / "wheels")


def _python() -> str:
    import sys

    return f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="session")
def pypi_bundle(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_pypi(tmp_path_factory.mktemp("pypi-bundle"), PYPI_REQUIREMENTS)


@pytest.fixture(scope="session")
def npm_bundle(tmp_path_factory: pytest.TempPathFactory, verdaccio_tool: archive.Entry) -> Built:
    dest = tmp_path_factory.mktemp("npm-bundle")
    lock = collect.npm_lock(NPM_SPECS)
    planned = collect.plan_npm(lock, needed_by=("test:npm",))
    entries = collect.collect_npm(planned, dest / "npm")
    entries.append(verdaccio_tool)
    out = dest / "npm.orbit-bundle.tar.gz"
    manifest = archive.write_bundle(out, entries, name="npm-test", created=AS_OF)
    return Built(out, manifest, dest / "npm")


@pytest.fixture(scope="session")
def apt_bundle(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if shutil.which("apt-get") is None or shutil.which("apt-ftparchive") is None:
        pytest.skip("apt-get or apt-ftparchive (apt-utils) is not installed")
    probe = subprocess.run(["apt-cache", "show", "jq"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("apt's package lists are missing (run apt-get update)")
    dest = tmp_path_factory.mktemp("apt-bundle")
    uris = collect.apt_uris(APT_PACKAGES, work=dest / "plan")
    planned = collect.plan_apt(uris, needed_by=("test:apt",))
    entries = collect.collect_apt(APT_PACKAGES, planned, dest / "debs", work=dest / "work")
    out = dest / "apt.orbit-bundle.tar.gz"
    manifest = archive.write_bundle(out, entries, name="apt-test")
    return Built(out, manifest, dest / "debs")
