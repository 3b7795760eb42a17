"""What a project publishes: its files, its notebooks and the environment each runs in, read
through the one pipeline (here up to the resolution: no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths
from jupyter_orbit.publish.project import collect
from tests.conftest import make_notebook

STAMP = {"orbit": {"as_of": "2025-06-01"}}


def read(tmp_path: Path, root: Path, **kw):
    return collect(Paths(tmp_path / "orbit-home"), root, until="resolve", **kw)


def test_notebooks_that_ask_for_the_same_share_an_environment(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("six\n")
    make_notebook(root / "a.ipynb", "1", metadata=STAMP)
    make_notebook(root / "sub" / "b.ipynb", "1", metadata=STAMP)
    own = {"orbit": {"as_of": "2025-06-01", "packages": {"pypi": ["idna"]}}}
    make_notebook(root / "c.ipynb", "1", metadata=own)
    make_notebook(root / ".ipynb_checkpoints" / "a-checkpoint.ipynb", "1")
    (root / ".env").write_text("X=1\n")
    project = read(tmp_path, root)
    assert sorted(project.notebooks) == ["a.ipynb", "c.ipynb", "sub/b.ipynb"]
    assert project.notebooks["a.ipynb"] == project.notebooks["sub/b.ipynb"]
    assert project.notebooks["c.ipynb"] != project.notebooks["a.ipynb"]
    assert [e.notebooks for e in project.environments.values()] == [
        ["a.ipynb", "sub/b.ipynb"],
        ["c.ipynb"],
    ]
    assert project.own_packages == {"c.ipynb"}
    assert ".env" in project.left_out and ".env" not in project.files
    assert project.defaults == {"python3": project.notebooks["a.ipynb"]}


def test_a_project_without_notebooks_publishes_its_own_environment(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("six\n")
    project = read(tmp_path, root, as_of="2025-06-01")
    [env] = project.environments.values()
    assert env.notebooks == [] and env.label == "the project"
    assert project.defaults == {"python3": env.env_id}
    assert env.prepared.spec.as_of == "2025-06-01T00:00:00Z"


def test_a_voila_app_takes_one_notebook_of_the_project(tmp_path: Path, monkeypatch):
    root = tmp_path / "p"
    make_notebook(root / "app" / "dash.ipynb", "1", metadata=STAMP)
    make_notebook(root / "other.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["x"]}}})
    project = read(tmp_path, root, only="app/dash.ipynb")
    assert list(project.notebooks) == ["app/dash.ipynb"] and len(project.environments) == 1
    monkeypatch.chdir(root / "app")
    assert list(read(tmp_path, root, only="dash.ipynb").notebooks) == ["app/dash.ipynb"]
    (root / "secret.env").write_text("")
    for wrong in ("missing.ipynb", str(tmp_path / "elsewhere.ipynb"), "secret.env"):
        with pytest.raises(InputError, match="not a notebook of"):
            read(tmp_path, root, only=wrong)


def test_no_folder_is_an_error(tmp_path: Path):
    with pytest.raises(InputError, match="no such folder"):
        read(tmp_path, tmp_path / "nope")
