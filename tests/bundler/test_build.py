"""orbit bundle: targets expanded, planned through the pipeline, and written reproducibly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundler import build
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths

ORBIT = str(Path(sys.executable).with_name("orbit"))


def _nb(path: Path, packages: dict | None = None) -> Path:
    meta = {"orbit": {"schema": 1, "as_of": "2025-06-01T00:00:00Z", "packages": packages or {}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_targets_expand_to_notebooks_profiles_and_recent_projects(tmp_path):
    paths = Paths(tmp_path / "home")
    project = tmp_path / "project"
    a = _nb(project / "a.ipynb")
    b = _nb(project / "sub" / "b.ipynb")
    _nb(project / ".ipynb_checkpoints" / "a-checkpoint.ipynb")
    empty = tmp_path / "empty"
    empty.mkdir()
    got = build.expand(
        [str(project), "profile:teaching", str(empty)], paths, "default", recent=False
    )
    assert got == [str(a), str(b), "profile:teaching", str(empty)]
    with pytest.raises(InputError, match="no such notebook or folder"):
        build.expand([str(tmp_path / "nope")], paths, "default", recent=False)
    with pytest.raises(InputError, match="no recent projects"):
        build.expand([], paths, "default", recent=True)
    recent = paths.profile("default").root
    recent.mkdir(parents=True)
    (recent / build.RECENT).write_text(json.dumps([{"path": str(project), "notebook": str(a)}]))
    assert build.expand([], paths, "default", recent=True) == [str(a)]


def test_orbit_is_told_apart_from_its_dependencies():
    assert build._is_orbit("jupyter-orbit @ file:///src")
    assert build._is_orbit("Jupyter_Orbit==0.1.0")
    assert not build._is_orbit("jupyter-server==2.14.0")


def test_a_windows_installer_carries_no_targets(tmp_path):
    """Targets' environments are resolved for this machine: not for a Windows installer."""
    from jupyter_orbit.prepare import Choices

    nb = _nb(tmp_path / "project" / "nb.ipynb", {"pypi": ["six"]})
    with pytest.raises(InputError, match="for Windows carries Orbit and the profile only"):
        build.plan_bundle(
            [str(nb)],
            paths=Paths(tmp_path / "home"),
            profile="default",
            choices=Choices(),
            windows=True,
        )


@pytest.mark.integration
def test_the_same_inputs_give_the_same_bytes(tmp_path):
    nb = _nb(tmp_path / "project" / "nb.ipynb", {"pypi": ["six"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["ORBIT_HOME"] = str(tmp_path / "home")
    (tmp_path / "numbers.csv").write_text("x\n1\n2\n")
    added = subprocess.run(
        [ORBIT, "data", "add", str(tmp_path / "numbers.csv"), "--to", str(nb)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr[-2000:]
    outs = []
    for n in (1, 2):
        out = tmp_path / f"b{n}.orbit-bundle.tar.gz"
        done = subprocess.run(
            [ORBIT, "bundle", str(nb), "--no-server", "--yes", "-q", "-o", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    manifest = archive.verify(outs[0])
    names = {m.meta.get("name") for m in manifest.members}
    assert {"six", "ipykernel", "pip"} <= names  # the notebook's, the kernel's, uv's seed
    assert not any(n and n.startswith("jupyter") and "orbit" in n for n in names)  # --no-server
    assert [m.meta["name"] for m in manifest.of_kind("dataset")] == ["numbers.csv"]
    dry = subprocess.run(
        [ORBIT, "bundle", str(nb), "--no-server", "--yes", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "numbers.csv" in dry.stdout
    assert "six 1.17.0" in dry.stdout and dry.stdout.strip().splitlines()[-1].endswith(
        "(before images, data and built wheels)"
    )


@pytest.mark.integration
def test_an_untrusted_project_is_not_bundled_without_consent(tmp_path):
    nb = _nb(tmp_path / "project" / "nb.ipynb", {"pypi": ["six"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["ORBIT_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [ORBIT, "bundle", str(nb), "--no-server", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode != 0
    assert "not bundling (sdists are built here) what it declares" in done.stderr
