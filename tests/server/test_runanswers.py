"""The pipeline's answers the server keeps for ``orbit run``: reused while nothing it read has
changed, asked again when the notebook, a project file or a lock changes. The pipeline is
counted at its seam (``RunAnswers(prepare=...)``); everything else is real."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Level, Source
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices
from jupyter_orbit.server.runanswers import Asked, RunAnswers


def notebook(path: Path, code: str = "print(1)") -> Path:
    cell = {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": []}
    nb = {"cells": [cell | {"source": code}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


class Pipeline:
    """Stands in for ``prepare.prepare``: records its calls and answers with ``built``."""

    def __init__(self, built: bool = True, sources: tuple[Path, ...] = ()) -> None:
        self.calls: list[tuple[Path, Choices, str]] = []
        self.built, self.sources, self.error = built, sources, None

    def __call__(self, target: Path, choices: Choices, paths: Paths, *, until: str):
        self.calls.append((target, choices, until))
        if self.error is not None:
            raise self.error
        spec = SimpleNamespace(declared=lambda eco: [SimpleNamespace(name="pandas")])
        res = SimpleNamespace(
            spec=spec,
            notebook=target,
            target=target,
            project_root=target.parent,
            sources=tuple(Source("file", p, Level.PROJECT, ("pypi",)) for p in self.sources),
        )
        env = SimpleNamespace(env_id=f"env-{len(self.calls)}", engine="local")
        return SimpleNamespace(
            resolution=res,
            environment=env if self.built else None,
            recipe=SimpleNamespace(name="python"),
            hardware=None,
        )


@pytest.fixture
def home(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "home")


def answers(home: Paths, pipeline: Pipeline) -> RunAnswers:
    return RunAnswers(home, home.profile("default"), Choices, prepare=pipeline)


def test_a_second_run_takes_the_kept_answer(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    first = kept.answer(nb, Asked())
    assert first.env_id == "env-1" and first.engine == "local" and first.kernel == "python"
    assert first.imports == ("pandas",) and not first.here
    assert kept.answer(nb, Asked()) == first
    assert len(pipeline.calls) == 1
    target, choices, until = pipeline.calls[0]
    assert target == nb and until == "lookup"
    assert choices.root is None  # the project root found as `orbit run` finds it


def test_the_command_line_s_choices_are_passed_and_kept_apart(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    kept.answer(nb, Asked())
    asked = Asked(python="3.12", engine="docker", as_of="2025-06-01", locked=True)
    assert kept.answer(nb, asked).env_id == "env-2"
    _, choices, _ = pipeline.calls[1]
    assert (choices.python, choices.engine, choices.as_of, choices.locked) == (
        "3.12",
        "docker",
        "2025-06-01",
        True,
    )
    assert kept.answer(nb, Asked()).env_id == "env-1"
    assert len(pipeline.calls) == 2


def test_a_changed_notebook_is_seen(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    kept.answer(nb, Asked())
    notebook(nb, "print(2)")
    assert kept.answer(nb, Asked()).env_id == "env-2"


def test_a_new_project_file_and_an_edited_lock_are_seen(home: Paths, tmp_path: Path):
    work = tmp_path / "work"
    nb = notebook(work / "nb.ipynb")
    lock = work / "pylock.toml"
    lock.write_text("# a lock\n")
    pipeline = Pipeline(sources=(lock,))
    kept = answers(home, pipeline)
    kept.answer(nb, Asked())
    (work / "requirements.txt").write_text("pandas\n")  # a file the resolution looks for
    assert kept.answer(nb, Asked()).env_id == "env-2"
    assert kept.answer(nb, Asked()).env_id == "env-2"
    lock.write_text("# a lock, written again with more in it\n")  # a file that contributed
    assert kept.answer(nb, Asked()).env_id == "env-3"
    (work / "binder").mkdir()
    assert kept.answer(nb, Asked()).env_id == "env-4"


def test_the_profile_s_settings_are_seen(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    kept.answer(nb, Asked())
    settings = home.profile("default").settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('[server]\npython = "3.12"\njupyterlab = "4.4.0"\n')
    assert kept.answer(nb, Asked()).env_id == "env-2"
    settings.write_text(
        '[server]\npython = "3.12"\njupyterlab = "4.4.0"\n[defaults]\nengine = "docker"\n'
    )
    assert kept.answer(nb, Asked()).env_id == "env-3"
    settings.write_text("[server]\n")  # broken: orbit run says what is wrong
    assert "needs python and jupyterlab" in kept.answer(nb, Asked()).here


def test_a_new_day_asks_again(home: Paths, tmp_path: Path, monkeypatch):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    monkeypatch.setenv("ORBIT_NOW", "2025-06-01T10:00:00Z")
    kept.answer(nb, Asked())
    monkeypatch.setenv("ORBIT_NOW", "2025-06-01T23:00:00Z")
    assert kept.answer(nb, Asked()).env_id == "env-1"
    monkeypatch.setenv("ORBIT_NOW", "2025-06-02T01:00:00Z")
    assert kept.answer(nb, Asked()).env_id == "env-2"


def test_what_orbit_run_must_prepare_itself_is_not_kept(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline(built=False)
    kept = answers(home, pipeline)
    assert "not built" in kept.answer(nb, Asked()).here
    assert "not built" in kept.answer(nb, Asked()).here
    assert len(pipeline.calls) == 2  # built meanwhile by orbit run: the next request sees it
    pipeline.error = InputError("nb.ipynb has no lock", "lock it")
    assert kept.answer(nb, Asked(locked=True)).here == "nb.ipynb has no lock"


def test_a_notebook_beside_services_or_with_data_is_prepared_by_orbit_run(
    home: Paths, tmp_path: Path
):
    work = tmp_path / "work"
    nb = notebook(work / "nb.ipynb")
    (work / "compose.yaml").write_text("services:\n  db:\n    image: postgres:16\n")
    assert "services" in answers(home, Pipeline()).answer(nb, Asked()).here
    other = tmp_path / "data" / "nb.ipynb"
    notebook(other)
    raw = json.loads(other.read_text())
    raw["metadata"]["orbit"] = {
        "data": [{"name": "iris", "url": "https://example.org/iris.csv", "sha256": "0" * 64}]
    }
    other.write_text(json.dumps(raw))
    assert "data sets" in answers(home, Pipeline()).answer(other, Asked()).here


def test_a_forgotten_answer_is_asked_again(home: Paths, tmp_path: Path):
    nb = notebook(tmp_path / "work" / "nb.ipynb")
    pipeline = Pipeline()
    kept = answers(home, pipeline)
    kept.answer(nb, Asked())
    kept.forget(nb, Asked())
    assert kept.answer(nb, Asked()).env_id == "env-2"
