"""The old-notebook corpus (tests/corpus/): real Binder-ready notebooks of 2017 to 2026, each in
a git repository committed at its original date, run with no flags.

Two entries run with the suite (a Python of 2019 from pyenv, a pip-compiled project of 2022);
the others are heavy (each builds an environment of old packages, minutes on a busy machine):
``pytest tests/test_corpus.py -m heavy`` runs them. bench/corpus.py runs the whole corpus against
any ``orbit`` and reports how many run (bench/README.md has the numbers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Orbit
from tests.support.corpus import Entry, entries, plant

CLOCK = "2026-12-01T00:00:00Z"
LICENCES = {
    "BSD-3-Clause": "BSD 3-Clause License",
    "Unlicense": "This is free and unencumbered software released into the public domain.",
}


EVERY_RUN = {"requirements-2019", "requirements-2022"}


def _params() -> list:
    return [
        pytest.param(e, id=e.name, marks=() if e.name in EVERY_RUN else pytest.mark.heavy)
        for e in entries()
    ]


@pytest.mark.integration
@pytest.mark.parametrize("entry", _params())
def test_the_corpus_runs_with_no_flags(orbit: Orbit, tmp_path: Path, entry: Entry):
    orbit.now = CLOCK
    nb = plant(entry, tmp_path)
    r = orbit.run("run", str(nb), "--yes", timeout=2400)
    if entry.runs:
        assert r.returncode == 0, r.stderr[-3000:]
    else:
        assert r.returncode != 0
        assert entry.expect in r.stderr, r.stderr[-3000:]


def test_every_entry_keeps_its_licence_and_its_provenance():
    for entry in entries():
        folder = Path(__file__).parent / "corpus" / entry.name
        assert (folder / "LICENSE").read_text().startswith(LICENCES[entry.licence]), entry.name
        assert (folder / entry.notebook).is_file(), entry.name
        assert entry.source.startswith("https://github.com/") and len(entry.commit) == 40
        assert entry.runs or entry.why, f"{entry.name}: say why it cannot run"
    assert {e.name for e in entries()} >= EVERY_RUN
