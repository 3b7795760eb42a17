"""orbit export: standard files from a notebook's spec, which the tools they are for read back;
nothing is overwritten without --force."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jupyter_orbit.manifests.conda_env import EnvironmentYml
from jupyter_orbit.manifests.notebook import read_pep723
from jupyter_orbit.manifests.requirements import RequirementsTxt
from tests.conftest import make_notebook, snapshot

META = {
    "orbit": {
        "python": "3.11",
        "packages": {
            "pypi": ["numpy>=1.26", "pandas[excel]==2.2.*"],
            "apt": ["graphviz"],
        },
        "as_of": "2024-06-01",
    }
}


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    return make_notebook(tmp_path / "Paper Analysis.ipynb", "1", metadata=META)


def test_every_format_reads_back(orbit, nb: Path, tmp_path: Path):
    out = tmp_path / "out"
    for fmt in ("requirements", "pyproject", "environment", "pep723", "binder"):
        r = orbit.run("export", str(nb), "--to", fmt, str(out))
        assert r.returncode == 0, r.stderr
    reqs = RequirementsTxt().read(out / "requirements.txt", root=out)
    assert [q.text for q in reqs.requirements] == ["numpy>=1.26", "pandas[excel]==2.2.*"]
    project = tomllib.loads((out / "pyproject.toml").read_text())["project"]
    assert project["name"] == "paper-analysis" and project["requires-python"] == ">=3.11"
    assert project["dependencies"] == ["numpy>=1.26", "pandas[excel]==2.2.*"]
    env = EnvironmentYml().read(out / "environment.yml", root=out)
    assert env.python == "3.11"
    assert [q.text for q in env.requirements] == ["numpy>=1.26", "pandas[excel]==2.2.*"]
    script = (out / "Paper Analysis.py").read_text()
    block = read_pep723({"cells": [{"cell_type": "code", "source": script}]}, nb)
    assert [q.text for q in block.requirements] == ["numpy>=1.26", "pandas[excel]==2.2.*"]
    assert block.python == ">=3.11" and block.as_of == "2024-06-01T00:00:00Z"
    assert (out / "binder" / "apt.txt").read_text() == "graphviz\n"
    assert (out / "binder" / "runtime.txt").read_text() == "python-3.11\n"


def test_refuses_to_overwrite_without_force(orbit, nb: Path, tmp_path: Path):
    out = tmp_path / "out"
    (out / "binder").mkdir(parents=True)
    (out / "binder" / "apt.txt").write_text("mine\n")
    before = snapshot(out)
    r = orbit.run("export", str(nb), "--to", "binder", str(out))
    assert r.returncode == 2 and "will not overwrite" in r.stderr and "--force" in r.stderr
    assert snapshot(out) == before  # not even the files that did not exist yet
    r = orbit.run("export", str(nb), "--to", "binder", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "binder" / "apt.txt").read_text() == "graphviz\n"


def test_a_locked_notebook_exports_its_lock(orbit, tmp_path: Path):
    lock = (
        "# orbit lock 1; inputs sha256:00; python 3.11; x\nsix==1.16.0 \\\n    --hash=sha256:ab\n"
    )
    meta = {
        "orbit": {"packages": {"pypi": ["six"]}, "lock": {"format": "requirements", "text": lock}}
    }
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata=meta)
    from jupyter_orbit.ecosystems import lockfile
    from jupyter_orbit.pythons import default_python
    from jupyter_orbit.resolve import resolve

    spec = resolve(nb, default_python=default_python()).spec
    good = lock.replace("sha256:00", lockfile.inputs_digest(spec))
    meta["orbit"]["lock"]["text"] = good
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata=meta)
    r = orbit.run("export", str(nb), "--to", "requirements", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "o" / "requirements.txt").read_text()
    assert text.endswith(good) and "--hash=sha256:ab" in text
