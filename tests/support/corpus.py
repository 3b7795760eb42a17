"""The old-notebook corpus (tests/corpus/): each entry planted as a git repository committed at
its original date, as a clone of it would be."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.support.gitrepo import commit_all, init

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@dataclass(frozen=True)
class Entry:
    name: str
    source: str
    commit: str
    licence: str
    date: str
    notebook: str
    files: str
    expect: str
    why: str = ""

    @property
    def runs(self) -> bool:
        return self.expect == "runs"


def entries() -> list[Entry]:
    data = tomllib.loads((CORPUS / "corpus.toml").read_text(encoding="utf-8"))
    return [Entry(name, **fields) for name, fields in data.items()]


def plant(entry: Entry, where: Path) -> Path:
    """A git repository of ``entry``'s files under ``where``, committed at its date; returns
    the notebook's path."""
    repo = init(where / entry.name)
    for f in (CORPUS / entry.name).iterdir():
        shutil.copy2(f, repo / f.name)
    commit_all(repo, entry.date, f"{entry.name} as of {entry.commit[:10]}")
    return repo / entry.notebook
