"""A run's kernel started ahead from the notebook's last run: the record (kept per notebook, by
the user alone, nothing taken from the project), a real ipykernel started from it and adopted
when it is the one the pipeline prepared, and stopped unused (its whole process group, its
connection file removed) when anything differs."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from jupyter_orbit import prestart
from jupyter_orbit.cli import _run
from jupyter_orbit.prestart import KernelCommand

# Prints the connection file the kernel was started with: which start it came from.
CELL = "from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().connection_file)"


def notebook(folder: Path) -> Path:
    nb = folder / "nb.ipynb"
    cell = {"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}}
    body = {"cells": [cell | {"source": CELL, "outputs": []}], "metadata": {}}
    nb.write_text(json.dumps(body | {"nbformat": 4, "nbformat_minor": 5}))
    return nb


def command(nb: Path, **env: str) -> KernelCommand:
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return KernelCommand.of(argv, "python", env, nb.parent, str(nb))


def printed(final: dict) -> str:
    return "".join(o.get("text", "") for o in final["notebook"]["cells"][0]["outputs"]).strip()


def test_the_record_is_the_users_alone_and_per_notebook(tmp_path: Path):
    cache, nb = tmp_path / "cache", notebook(tmp_path)
    assert prestart.recall(cache, nb) is None
    prestart.remember(cache, nb, command(nb, A="1"))
    assert prestart.recall(cache, nb) == command(nb, A="1")
    (record,) = (cache / "prestart").iterdir()
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert prestart.recall(cache, tmp_path / "other.ipynb") is None
    record.write_text("{not json")
    assert prestart.recall(cache, nb) is None  # a damaged record is no record


def test_a_command_with_other_placeholders_is_not_kept(tmp_path: Path):
    nb = notebook(tmp_path)
    odd = KernelCommand.of(["k", "{resource_dir}", "{connection_file}"], "x", {}, tmp_path, "s")
    assert not odd.startable
    prestart.remember(tmp_path / "cache", nb, odd)
    assert prestart.recall(tmp_path / "cache", nb) is None
    assert prestart.start(odd, tmp_path / "run", tmp_path / "run.log") is None


def test_a_command_that_cannot_start_leaves_nothing(tmp_path: Path):
    gone = KernelCommand.of(
        [str(tmp_path / "removed-env/bin/python"), "-f", "{connection_file}"],
        "python",
        {},
        tmp_path,
        "s",
    )
    assert prestart.start(gone, tmp_path / "run", tmp_path / "run.log") is None
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.integration
def test_the_kernel_started_ahead_is_adopted_when_it_is_the_one_prepared(tmp_path: Path):
    nb = notebook(tmp_path)
    ahead = prestart.start(command(nb), tmp_path / "run", tmp_path / "logs" / "run.log")
    assert ahead is not None
    info = json.loads(ahead.connection_file.read_text())
    assert info["ip"] == "127.0.0.1"
    assert stat.S_IMODE(ahead.connection_file.stat().st_mode) == 0o600
    final, _ = asyncio.run(_run._run_here(nb, command(nb), tmp_path / "logs", 60, ahead=ahead))
    assert final["ok"], final
    assert printed(final) == str(ahead.connection_file)  # this very kernel ran the cell
    assert ahead.process.poll() is not None  # stopped with the run
    assert not ahead.connection_file.exists()
    ahead.discard()  # the run's own cleanup afterwards: a no-op for an adopted kernel


@pytest.mark.integration
def test_a_kernel_started_for_something_else_is_stopped_unused(tmp_path: Path):
    nb = notebook(tmp_path)
    stale = command(nb, ORBIT_STALE_MARK="1")  # the last run's, before something changed
    ahead = prestart.start(stale, tmp_path / "run", tmp_path / "logs" / "run.log")
    assert ahead is not None
    final, _ = asyncio.run(_run._run_here(nb, command(nb), tmp_path / "logs", 60, ahead=ahead))
    assert final["ok"], final
    ran_in = printed(final)
    assert ran_in.endswith(".json") and ran_in != str(ahead.connection_file)  # its own kernel
    assert ahead.process.poll() is not None  # the early one was stopped
    assert not ahead.connection_file.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(ahead.process.pid, 0)  # nothing of its process group is left
