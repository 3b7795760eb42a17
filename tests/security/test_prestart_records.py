"""A run's kernel started ahead (``prestart``) runs the command kept from the notebook's last
run before any check of this run: nothing but Orbit, as this user, may have written it. A
record others could write, or that another user owns, is ignored; a project folder has no say
in it (the record lives in the data root, keyed by the notebook's path)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from jupyter_orbit import prestart
from jupyter_orbit.prestart import KernelCommand


def _kept(tmp_path: Path) -> tuple[Path, Path, KernelCommand]:
    nb = tmp_path / "project" / "nb.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    command = KernelCommand.of(
        [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "python",
        {},
        nb.parent,
        str(nb),
    )
    cache = tmp_path / "orbit-home" / "cache"
    prestart.remember(cache, nb, command)
    return cache, nb, command


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_record_others_could_write_is_not_used(tmp_path: Path, mode: int):
    cache, nb, command = _kept(tmp_path)
    assert prestart.recall(cache, nb) == command
    (record,) = (cache / "prestart").iterdir()
    record.chmod(mode)
    assert prestart.recall(cache, nb) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_record_another_user_owns_is_not_used(tmp_path: Path):
    cache, nb, _ = _kept(tmp_path)
    (record,) = (cache / "prestart").iterdir()
    os.chown(record, 65534, 65534)  # nobody
    assert prestart.recall(cache, nb) is None


def test_the_project_folder_holds_no_record(tmp_path: Path):
    cache, nb, _ = _kept(tmp_path)
    assert sorted(p.name for p in nb.parent.iterdir()) == ["nb.ipynb"]
    (record,) = (cache / "prestart").iterdir()
    assert record.stat().st_mode & 0o077 == 0
