"""The bazaar speaks compose: orbit add / remove write services into a project's compose file or
a notebook's metadata.orbit.services, and orbit export writes them out as a compose file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit.bazaar import edit
from jupyter_orbit.bazaar.export import export
from jupyter_orbit.ecosystems.compose_yaml import load
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths
from tests.conftest import make_notebook

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
COMPOSE = """\
# Services beside this project's notebooks.
services:
  # A database browser: `docker compose --profile tools up adminer`.
  adminer:
    image: adminer:4
    profiles: [tools]
    ports:
      - "127.0.0.1:8081:8080"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    make_notebook(root / "nb.ipynb", "print(1)")
    return root


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE["DOCKER_HOST"])
    return Paths(tmp_path / "home")


def test_add_to_the_projects_compose_file_and_remove_to_the_same_bytes(project: Path, paths: Paths):
    (project / "compose.yaml").write_text(COMPOSE)
    change = edit.run(paths, project, ["postgres"], ecosystem="compose", environ=NO_ENGINE)
    assert [f.path for f in change.files] == [project / "compose.yaml"]
    doc = load(project / "compose.yaml")
    assert list(doc["services"]) == ["adminer", "postgres"]
    assert doc["services"]["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert any("built from Debian packages" in n for n in change.notes)
    change = edit.run(
        paths, project, ["postgres"], action="remove", ecosystem="compose", environ=NO_ENGINE
    )
    assert (project / "compose.yaml").read_text() == COMPOSE
    assert "their data volumes are kept (`--volumes` deletes them)" in change.notes


def test_a_project_without_a_compose_file_gets_compose_yaml(project: Path, paths: Paths):
    edit.run(paths, project, ["cache=redis"], ecosystem="compose", environ=NO_ENGINE)
    doc = load(project / "compose.yaml")
    assert doc["services"]["cache"]["image"] == "redis:7"
    assert list(doc["volumes"]) == ["cache-data"]
    with pytest.raises(InputError, match="nope is not listed"):
        edit.run(paths, project, ["nope"], action="remove", ecosystem="compose", environ=NO_ENGINE)


def test_a_notebook_carries_its_services_and_exports_them(
    project: Path, paths: Paths, tmp_path: Path
):
    (project / "compose.yaml").write_text("services:\n  cache:\n    image: redis:7\n")
    nb = project / "nb.ipynb"
    before = nb.read_bytes()
    # The notebook reads its services from the project's file: the change goes there ...
    change = edit.run(paths, nb, ["postgres"], ecosystem="compose", environ=NO_ENGINE)
    assert nb.read_bytes() == before
    assert list(load(project / "compose.yaml")["services"]) == ["cache", "postgres"]
    assert any("for this notebook alone, use --to-notebook" in n for n in change.notes)
    edit.run(paths, nb, ["postgres"], action="remove", ecosystem="compose", environ=NO_ENGINE)
    # ... unless the notebook is to carry its own.
    edit.run(paths, nb, ["postgres"], ecosystem="compose", environ=NO_ENGINE, to_notebook=True)
    services = json.loads(nb.read_text())["metadata"]["orbit"]["services"]
    assert list(services) == ["cache", "postgres"]  # the project's, kept, and the new one
    assert "packages" not in json.loads(nb.read_text())["metadata"]["orbit"]
    [written] = export(paths, nb, "compose", tmp_path / "out")
    assert written == tmp_path / "out" / "compose.yaml"
    doc = load(written)
    assert doc["services"]["postgres"] == services["postgres"]
    assert list(doc["volumes"]) == ["postgres-data"]
    with pytest.raises(InputError, match="will not overwrite"):
        export(paths, nb, "compose", tmp_path / "out")


def test_a_notebook_without_services_has_nothing_to_export(tmp_path: Path, paths: Paths):
    nb = make_notebook(tmp_path / "alone" / "nb.ipynb", "1")
    with pytest.raises(InputError, match="runs no services"):
        export(paths, nb, "compose", tmp_path / "out")
