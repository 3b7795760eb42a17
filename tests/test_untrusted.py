"""Bounded reads and parses of files Orbit does not control (the attacks: tests/security)."""

import os

import pytest

from jupyter_orbit import untrusted
from jupyter_orbit.errors import InputError


def test_reads_regular_files_within_the_cap(tmp_path):
    f = tmp_path / "r.txt"
    f.write_bytes(b"\xef\xbb\xbfsix\n")
    assert untrusted.read_text(f, limit=10) == "six\n"
    with pytest.raises(InputError, match="reads at most 3 bytes"):
        untrusted.read_bytes(f, limit=3)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputError, match=r"not a regular file \(a FIFO\)"):
        untrusted.read_bytes(tmp_path / "fifo", limit=10)
    with pytest.raises(InputError, match="is a folder"):
        untrusted.read_bytes(tmp_path, limit=10)
    with pytest.raises(InputError, match="file not found"):
        untrusted.read_bytes(tmp_path / "nope", limit=10)


def test_depth_counts_shared_objects_once():
    shared = [[1]]
    assert untrusted.depth({"a": [shared, shared]}) == 4
    deep: list = []
    for _ in range(200):
        deep = [deep]
    assert untrusted.depth(deep, stop=10) == 11
    assert untrusted.bracket_depth("a: [1, {b: [2]}]\n") == 3


def test_parse_turns_recursion_into_a_clear_error():
    import json

    with pytest.raises(InputError, match="nested more than 64 levels"):
        untrusted.parse(json.loads, "[" * 5000 + "]" * 5000, path=None, what="x.json")
    with pytest.raises(InputError, match="nested more than 3 levels"):
        untrusted.parse(json.loads, "[[[[1]]]]", path=None, what="x.json", limit=3)


def test_duplicate_keys_and_nan_are_marked_not_lost():
    data = untrusted.loads_marked('{"a": {"b": 1, "b": 2}, "c": [NaN]}')
    assert data["a"]["b"] == 2
    assert untrusted.unclean(data["a"], "m") == ("m.b", "is given twice")
    assert untrusted.unclean(data["c"], "m") == ("m[0]", "is NaN, which JSON does not allow")
    assert untrusted.unclean({"ok": [1, "x"]}, "m") is None
