"""The apt index a search scans: built from apt's lists (here a folder of plain `Packages`
files), searched in any case through its lowered twin, rebuilt when the lists change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_orbit.ecosystems.apt import AptIndex

PACKAGES = """\
Package: aaa-first
Version: 1.0
Description: The FIRST line of the index

Package: python3-numpy
Version: 1:1.24.2-1
Description: Fast array facility to the Python 3 language

Package: zzz-last
Version: 2.0
Description: Übersicht: the last line, NumPy in CAPITALS
"""


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text(
        PACKAGES
    )
    monkeypatch.setattr(AptIndex, "LISTS", folder)
    return folder


def test_a_search_finds_names_and_summaries_in_any_case(tmp_path: Path, lists: Path):
    index = AptIndex(tmp_path / "cache")
    assert index.search("numpy") == [
        ("python3-numpy", "1:1.24.2-1", "Fast array facility to the Python 3 language"),
        ("zzz-last", "2.0", "Übersicht: the last line, NumPy in CAPITALS"),
    ]
    assert [n for n, _, _ in AptIndex(tmp_path / "cache").search("first")] == ["aaa-first"]
    # a query that is not ASCII is matched on the decoded text
    assert [n for n, _, _ in AptIndex(tmp_path / "cache").search("übersicht")] == ["zzz-last"]
    assert AptIndex(tmp_path / "cache").search("nothing-like-this") == []


def test_the_index_is_rebuilt_when_the_lists_change(tmp_path: Path, lists: Path):
    cache = tmp_path / "cache"
    assert AptIndex(cache).search("newcomer") == []
    listed = next(lists.iterdir())
    listed.write_text(PACKAGES + "\nPackage: newcomer\nVersion: 3\nDescription: New\n")
    os.utime(listed, ns=(1, 1))  # a different mtime even on a coarse clock
    assert AptIndex(cache).search("newcomer") == [("newcomer", "3", "New")]
    assert (cache / "index.lower.tsv").read_bytes() == (cache / "index.tsv").read_bytes().lower()


def test_no_lists_no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(AptIndex, "LISTS", tmp_path / "none")
    index = AptIndex(tmp_path / "cache")
    assert not index.ready()
    assert index.search("numpy") == [] and index.load_bytes() is None
