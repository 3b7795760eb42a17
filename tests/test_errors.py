"""Bad input: one short message naming the file (and line) and the fix; nothing on disk changed."""

import json
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook, snapshot


def check(r, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("error: "))  # after progress lines
    assert lines[at + 1].startswith("  hint: ") and len(lines) == at + 2, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    make_notebook(root / "nb.ipynb", "print(1)")
    return root


def no_environments(orbit: Orbit) -> bool:
    envs = orbit.home / "envs" / "local"
    return not envs.exists() or not list(envs.glob("*/orbit-env.json"))


def test_malformed_toml(orbit: Orbit, project: Path):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = = "1"\ndependencies = []\n'
    )
    before = snapshot(project)
    for cmd in ("env", "run"):
        r = orbit.run(cmd, str(project / "nb.ipynb"), "--yes" if cmd == "run" else "--json")
        check(r, 2, "pyproject.toml", "line 3")
    assert snapshot(project) == before and no_environments(orbit)


def test_malformed_yaml(orbit: Orbit, project: Path):
    (project / "environment.yml").write_text("dependencies:\n  - numpy\n - pandas: [\n")
    before = snapshot(project)
    check(orbit.run("run", str(project / "nb.ipynb"), "--yes"), 2, "environment.yml", "line")
    assert snapshot(project) == before and no_environments(orbit)


def test_malformed_notebook_json(orbit: Orbit, project: Path):
    bad = project / "bad.ipynb"
    bad.write_text('{"cells": [}\n')
    before = snapshot(project)
    check(orbit.run("run", str(bad)), 2, "bad.ipynb", "line 1")
    assert snapshot(project) == before


@pytest.mark.parametrize("content", ['{"hello": 1}', "# just markdown\n"])
def test_not_a_notebook(orbit: Orbit, project: Path, content: str):
    f = project / "notes.ipynb"
    f.write_text(content)
    check(orbit.run("run", str(f)), 2, "notes.ipynb")


def test_bad_requirement_line(orbit: Orbit, project: Path):
    (project / "requirements.txt").write_text("numpy\npandas>=>2\n")
    check(orbit.run("env", str(project)), 2, "requirements.txt:2", "pandas>=>2")


@pytest.mark.integration
def test_requirement_that_does_not_exist(orbit: Orbit, project: Path):
    (project / "requirements.txt").write_text("six\norbit-test-no-such-package-xyz\n")
    before = snapshot(project)
    r = orbit.run("run", str(project / "nb.ipynb"), "--yes")
    check(
        r, 1, "orbit-test-no-such-package-xyz is declared in", "requirements.txt:2", "package name"
    )
    assert snapshot(project) == before and no_environments(orbit)
    assert not list((orbit.home / "envs" / "local").glob(".build-*"))


def test_missing_paths(orbit: Orbit, tmp_path: Path):
    check(orbit.run("run", str(tmp_path / "nope.ipynb")), 2, "no such file")
    check(orbit.run("env", str(tmp_path / "nope")), 2, "no such file")


def test_run_needs_a_notebook(orbit: Orbit, project: Path):
    check(orbit.run("run", str(project)), 2, "is a folder")


def test_unknown_metadata_values(orbit: Orbit, project: Path):
    nb = make_notebook(project / "m.ipynb", "1", metadata={"orbit": {"schema": 9}})
    check(orbit.run("env", str(nb)), 2, "m.ipynb", "newer Orbit")
    nb = make_notebook(project / "k.ipynb", "1", metadata={"orbit": {"kernel": "cobol"}})
    check(orbit.run("env", str(nb)), 2, "unknown kernel 'cobol'", "python")


def test_usage_errors_exit_2(orbit: Orbit):
    r = orbit.run("run")
    assert r.returncode == 2 and "Missing argument" in r.stderr
    r = orbit.run("frobnicate")
    assert r.returncode == 2


def test_debug_shows_the_traceback(orbit: Orbit, tmp_path: Path):
    env = orbit.env | {"ORBIT_DEBUG": "1"}
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "run", str(tmp_path / "x.ipynb")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_json_output_is_json_even_for_a_bare_folder(orbit: Orbit, tmp_path: Path):
    r = orbit.run("env", str(tmp_path), "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["spec"]["packages"] == {"pypi": ["ipykernel"]}
