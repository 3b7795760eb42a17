"""Data sets reach a kernel through ORBIT_DATA, never through the project's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_orbit.data.kernel import VARIABLE, attach, data_folder
from jupyter_orbit.data.spec import DataSet
from jupyter_orbit.data.store import DataStore
from jupyter_orbit.engines.base import Launch
from jupyter_orbit.errors import TrustError


def _notebook(folder: Path, entries: list[dict]) -> Path:
    nb = {"cells": [], "metadata": {"orbit": {"data": entries}}, "nbformat": 4, "nbformat_minor": 5}
    path = folder / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_a_kernel_gets_a_folder_of_read_only_links(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    source = tmp_path / "numbers.csv"
    source.write_text("x\n1\n")
    store = DataStore(tmp_path / "store")
    _, digest = store.add_file(source)
    nb = _notebook(project, [{"name": "numbers.csv", "sha256": digest}])
    before = sorted(p.name for p in project.iterdir())

    def refuse(wanted):
        raise AssertionError(f"asked for consent though nothing is missing: {wanted}")

    launch, env = attach(nb, Launch(nb, project), store, consent=refuse)
    folder = Path(env[VARIABLE])
    assert (folder / "numbers.csv").read_text() == "x\n1\n"
    assert not os.access(folder / "numbers.csv", os.W_OK) or os.geteuid() == 0
    assert (folder / "numbers.csv").resolve() == store.file(digest).resolve()
    assert launch.read_only == (store.root,) and VARIABLE in launch.pass_env
    assert sorted(p.name for p in project.iterdir()) == before  # the project is untouched
    # the same entries: the same folder
    assert data_folder([DataSet("numbers.csv", digest)], store) == folder


def test_what_is_missing_is_fetched_only_with_consent(tmp_path):
    store = DataStore(tmp_path / "store")
    nb = _notebook(
        tmp_path, [{"name": "a.csv", "sha256": "0" * 64, "url": "https://example.org/a"}]
    )

    def refuse(wanted):
        assert wanted == ["data set: a.csv from https://example.org/a"]
        raise TrustError("not trusted", "trust it")

    with pytest.raises(TrustError):
        attach(nb, Launch(nb, tmp_path), store, consent=refuse)
    assert not store.root.exists() or not any(store.root.iterdir())


def test_no_data_no_change(tmp_path):
    nb = _notebook(tmp_path, [])
    launch = Launch(nb, tmp_path)
    assert attach(nb, launch, DataStore(tmp_path / "s"), consent=lambda w: None) == (launch, {})
    assert attach(None, launch, DataStore(tmp_path / "s"), consent=lambda w: None) == (launch, {})
