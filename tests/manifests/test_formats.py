from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.manifests.base import Manifest
from jupyter_orbit.manifests.formats import KNOWN_UNREAD, manifest_for, project_manifests


@pytest.mark.parametrize(
    ("filename", "kind"),
    [
        ("requirements.txt", "requirements.txt"),
        ("pyproject.toml", "pyproject.toml"),
        ("environment.yml", "environment.yml"),
        ("environment.yaml", "environment.yml"),
        ("Pipfile", "Pipfile"),
        ("runtime.txt", "runtime.txt"),
        ("apt.txt", "apt.txt"),
        (Path("/some/binder/apt.txt"), "apt.txt"),
    ],
)
def test_manifest_for(filename, kind):
    manifest = manifest_for(filename)
    assert isinstance(manifest, Manifest)
    assert manifest.name == kind


@pytest.mark.parametrize("filename", ["Pipfile.lock", "postBuild", "setup.py", "README.md"])
def test_no_manifest(filename):
    assert manifest_for(filename) is None


def test_registry_is_consistent():
    names = [m.name for m in project_manifests()]
    assert len(set(names)) == len(names)
    filenames = [f for m in project_manifests() for f in m.filenames]
    assert len(set(filenames)) == len(filenames)
    assert not set(filenames) & set(KNOWN_UNREAD)


def test_known_unread_files_have_reasons():
    assert {
        "postBuild",
        "start",
        "install.R",
        "DESCRIPTION",
        "Project.toml",
        "default.nix",
        "Dockerfile",
        "setup.py",
        "package.json",
        "REQUIRE",
    } <= set(KNOWN_UNREAD)
    assert all(isinstance(r, str) and r for r in KNOWN_UNREAD.values())
