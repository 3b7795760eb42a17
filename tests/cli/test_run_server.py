"""``orbit run`` with the profile's server up: the notebook's path and the command line's
choices go to the server, which runs the pipeline; ``orbit run`` runs it only when the server
says to. The server is a stand-in at the client's seam (``state.running``); the server's side
is in tests/server/test_execute.py and test_runanswers.py, the whole way in test_run.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit import state
from jupyter_orbit.cli import _run

OPTIONS = {
    "output": None,
    "timeout": None,
    "python": "3.12",
    "yes": False,
    "use_server": True,
    "profile": "default",
    "quiet": True,
    "as_of": None,
    "locked": True,
    "engine": None,
    "allow_host_access": False,
    "dry_run": False,
}


class Server:
    def __init__(self, root: Path, events: list[dict]) -> None:
        self.root_dir, self.events, self.bodies = str(root), events, []

    def client(self, timeout=None):
        return self

    def stream(self, path: str, body: dict):
        assert path == "/orbit/api/run"
        self.bodies.append(body)
        yield from self.events


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    cell = {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": []}
    raw = {"cells": [cell | {"source": "print(1)"}], "metadata": {}, "nbformat": 4}
    (tmp_path / "nb.ipynb").write_text(json.dumps(raw | {"nbformat_minor": 5}))
    return tmp_path / "nb.ipynb"


def use(monkeypatch, server: Server | None, home: Path) -> list[str]:
    monkeypatch.setenv("ORBIT_HOME", str(home))
    monkeypatch.setattr(state, "running", lambda prof, check_http=True: server)
    here: list[str] = []

    def run_here(notebook, **options):
        here.append(str(notebook))
        return 0

    monkeypatch.setattr(_run, "_run_command", run_here)
    return here


def test_a_built_notebook_runs_on_the_server_without_the_pipeline_here(
    nb: Path, tmp_path: Path, monkeypatch, capsys
):
    final = {"done": True, "ok": True, "notebook": {}}
    server = Server(tmp_path, [{"kernel": "prewarmed"}, {"outputs": [], "cell": 0}, final])
    here = use(monkeypatch, server, tmp_path / "home")
    assert _run.run_command(nb, **OPTIONS) == 0
    assert here == []  # the pipeline did not run in this process
    (sent,) = server.bodies
    assert "env_id" not in sent
    assert sent["session"] == str(nb.resolve()) and sent["cwd"] == str(nb.resolve().parent)
    assert (sent["python"], sent["locked"], sent["engine"]) == ("3.12", True, None)
    assert sent["notebook"]["cells"][0]["source"] == "print(1)"


def test_the_server_s_prepare_here_runs_the_pipeline_here(nb: Path, tmp_path: Path, monkeypatch):
    answer = {"done": True, "ok": False, "prepare": "here", "why": "not built"}
    server = Server(tmp_path, [answer])
    here = use(monkeypatch, server, tmp_path / "home")
    assert _run.run_command(nb, **OPTIONS) == 0
    assert here == [str(nb)] and len(server.bodies) == 1


def test_no_server_or_a_notebook_outside_its_root_runs_here(nb: Path, tmp_path: Path, monkeypatch):
    here = use(monkeypatch, None, tmp_path / "home")
    assert _run.run_command(nb, **OPTIONS) == 0
    assert here == [str(nb)]
    server = Server(tmp_path / "elsewhere", [])
    here = use(monkeypatch, server, tmp_path / "home")
    assert _run.run_command(nb, **OPTIONS) == 0
    assert here == [str(nb)] and server.bodies == []
    server = Server(tmp_path, [])
    here = use(monkeypatch, server, tmp_path / "home")
    assert _run.run_command(nb, **OPTIONS | {"use_server": False}) == 0
    assert _run.run_command(nb, **OPTIONS | {"dry_run": True}) == 0
    assert len(here) == 2 and server.bodies == []
