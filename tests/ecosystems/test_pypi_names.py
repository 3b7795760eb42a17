"""The PyPI name index: project lists read and canonicalised, a first search that does not wait
for a large list (answering from the exact name and saying so), the same answer once the list
has arrived, and an old list refreshed. Served by a local index on 127.0.0.1 (no registry)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from jupyter_orbit.ecosystems import pypi_names
from jupyter_orbit.ecosystems.pypi import PyPI
from jupyter_orbit.ecosystems.pypi_names import NameIndex, parse_project_list
from jupyter_orbit.paths import Paths
from tests.support.indexes import fill
from tests.support.pypi_index import LocalIndex

ODD = ["Foo_Bar", "a..b", "X-._y", "zope.interface", "Django", "ruamel.yaml.clib", "A__B--c"]


def test_project_lists_are_canonicalised_as_packaging_does():
    want = sorted({canonicalize_name(n) for n in ODD})
    html = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in [*ODD, "Foo&#95;Baz"])
    from_html = parse_project_list(f"<html><body>{html}</body></html>".encode(), "text/html")
    assert from_html == sorted([*want, "foo-baz"])
    body = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in ODD]})
    assert parse_project_list(body.encode(), "application/vnd.pypi.simple.v1+json") == want


def pypi(home: Path, index: LocalIndex) -> PyPI:
    return PyPI(Paths(home), {"UV_DEFAULT_INDEX": index.url})


def wait_for_names(index: NameIndex) -> None:
    """Until the background refresher has stored a fresh list (the bound guards against a hung
    one; nothing is timed)."""
    for _ in range(600):
        age = index.age()
        if age is not None and age < pypi_names.REFRESH_AFTER and not index.loading():
            return
        time.sleep(0.1)
    raise AssertionError("the background refresh never finished")


def test_a_small_list_is_searched_in_full_at_once(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        fill(index)
        found = pypi(tmp_path / "home", index).search("orbit-bz-alpha")
        assert not found.partial and not found.error
        assert [h.name for h in found.hits] == ["orbit-bz-alpha", "orbit-bz-alphabet"]
        assert found.hits[0].summary == "Alpha: the first test package"


def test_a_listed_name_with_no_release_is_asked_for_once(tmp_path: Path):
    """A name the project list has but the JSON API lacks (no release) is shown without a
    version and remembered: the next search does not ask the index again."""
    with LocalIndex(tmp_path) as index:
        fill(index)
        index.projects["orbit-bz-alpha-void"] = []
        eco = pypi(tmp_path / "home", index)
        first = eco.search("orbit-bz-alpha")
        assert [(h.name, h.version) for h in first.hits] == [
            ("orbit-bz-alpha", "1.0"),
            ("orbit-bz-alpha-void", None),
            ("orbit-bz-alphabet", "0.1"),
        ]
        asked = [p for p in index.requests if "orbit-bz-alpha-void" in p]
        assert asked == ["/pypi/orbit-bz-alpha-void/json"]
        again = eco.search("orbit-bz-alpha")
        assert again.hits == first.hits
        assert [p for p in index.requests if "orbit-bz-alpha-void" in p] == asked


def test_a_large_list_loads_in_the_background_while_the_exact_name_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(pypi_names, "INLINE_BYTES", 10)  # every list counts as PyPI-sized
    with LocalIndex(tmp_path) as index:
        fill(index)
        eco = pypi(tmp_path / "home", index)
        first = eco.search("orbit-bz-alpha")
        assert first.partial and not first.error
        assert [(h.name, h.version, h.tier) for h in first.hits] == [("orbit-bz-alpha", "1.0", 0)]
        assert any("still being downloaded" in n for n in first.notes), first.notes
        # a name the index does not have is not made up while the list loads
        missing = eco.search("orbit-bz-nothing")
        assert missing.partial and missing.hits == [] and not missing.error

        wait_for_names(eco.names)
        full = eco.search("orbit-bz-alpha")
        assert not full.partial and not any("downloaded" in n for n in full.notes)
        assert full.hits[0] == first.hits[0]
        # the same answer a small list gives at once
        small = pypi(tmp_path / "other-home", index)
        monkeypatch.setattr(pypi_names, "INLINE_BYTES", 2_000_000)
        assert small.search("orbit-bz-alpha").hits == full.hits


def test_an_old_list_is_refreshed_in_the_background(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        fill(index)
        eco = pypi(tmp_path / "home", index)
        assert [h.name for h in eco.search("orbit-bz-new").hits] == []
        index.add("orbit-bz-newcomer", "1.0", summary="Published after the list was read")
        assert [h.name for h in eco.search("orbit-bz-new").hits] == []  # within its day
        meta = json.loads(eco.names.meta_file.read_text())
        meta["fetched"] = time.time() - pypi_names.REFRESH_AFTER - 60
        eco.names.meta_file.write_text(json.dumps(meta))

        old = eco.search("orbit-bz-new")
        assert old.stale and any("refreshing it in the background" in n for n in old.notes)
        wait_for_names(eco.names)
        fresh = eco.search("orbit-bz-new")
        assert not fresh.stale
        assert [h.name for h in fresh.hits] == ["orbit-bz-newcomer"]


def test_an_unreachable_index_with_nothing_cached_is_an_error(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        url = index.url
    found = PyPI(Paths(tmp_path / "home"), {"UV_DEFAULT_INDEX": url}).search("anything")
    assert found.hits == [] and not found.partial
    assert "not cached and cannot be fetched" in (found.error or "")


def test_an_unreachable_large_index_with_nothing_cached_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with LocalIndex(tmp_path) as index:
        url = index.url.rstrip("/") + "/"
    monkeypatch.setattr(pypi_names, "KNOWN_LARGE", frozenset({url}))  # as PyPI's is
    found = PyPI(Paths(tmp_path / "home"), {"UV_DEFAULT_INDEX": url}).search("anything")
    assert found.hits == [] and found.partial
    assert "not cached and cannot be fetched" in (found.error or "")


def test_search_ranks_as_a_full_scan_would(tmp_path: Path):
    """Looking only at the names that start with the query when there are enough of them gives
    the very ranking a scan of every name gives."""
    from jupyter_orbit.ecosystems.base import tier

    names = sorted(
        {"a", "ab", "a-b", "b-a", "ba", "xa", "x-a-y", "aaa", "abc-def", "a-very-long-name"}
        | {f"pkg{i}-a" for i in range(30)}
        | {f"a{i}" for i in range(5)}
    )
    index = NameIndex(tmp_path, "http://127.0.0.1:9/simple/")
    assert index.search("a") == []  # no list yet
    index.names_file.parent.mkdir(parents=True)
    index.names_file.write_bytes(b"")
    assert index.search("a") == []  # an empty file (nothing to map)
    index._store(names)
    for query in ("a", "b", "a-b", "pkg1", "y", "zzz"):
        for limit in (3, 10, 200):
            scan = sorted(
                (n for n in names if query in n), key=lambda n: (tier(n, query), len(n), n)
            )
            assert index.search(query, limit) == scan[:limit], (query, limit)
