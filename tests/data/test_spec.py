"""metadata.orbit.data entries: parsed and checked before anything is fetched."""

from __future__ import annotations

import pytest

from jupyter_orbit.data.spec import DataSet, read_entries, with_entry
from jupyter_orbit.errors import InputError

SHA = "a" * 64


def _nb(data: object) -> dict:
    return {"metadata": {"orbit": {"schema": 1, "data": data}}, "cells": []}


def test_entries_are_read_with_optional_url_and_unpack():
    entries = read_entries(
        _nb(
            [
                {"name": "iris.csv", "url": "https://example.org/iris.csv", "sha256": SHA},
                {
                    "name": "imgs",
                    "url": "http://example.org/i.zip",
                    "sha256": "B" * 64,
                    "unpack": "zip",
                },
                {"name": "local.bin", "sha256": SHA},
            ]
        )
    )
    assert entries == [
        DataSet("iris.csv", SHA, "https://example.org/iris.csv"),
        DataSet("imgs", "b" * 64, "http://example.org/i.zip", "zip"),
        DataSet("local.bin", SHA),
    ]
    assert entries[0].to_dict() == {
        "name": "iris.csv",
        "url": "https://example.org/iris.csv",
        "sha256": SHA,
    }
    assert read_entries({"metadata": {}, "cells": []}) == []


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"name": "../etc/passwd", "sha256": SHA}, "not a plain file name"),
        ({"name": "a/b", "sha256": SHA}, "not a plain file name"),
        ({"name": ".hidden", "sha256": SHA}, "not a plain file name"),
        ({"name": "x", "sha256": "nothex"}, "sha256"),
        ({"name": "x", "sha256": SHA, "url": "file:///etc/passwd"}, "not an http"),
        (
            {"name": "x", "sha256": SHA, "url": "https://u:pw@example.org/x"},
            "user name or password",
        ),
        ({"name": "x", "sha256": SHA, "unpack": "rar"}, "unpack"),
        ({"name": "x", "sha256": SHA, "run": "rm -rf /"}, "unknown keys: run"),
        ("x", "not an object"),
    ],
)
def test_bad_entries_are_clear_errors(entry, match):
    with pytest.raises(InputError, match=match):
        read_entries(_nb([entry]))


def test_names_are_unique_and_replacing_keeps_order():
    with pytest.raises(InputError, match="twice"):
        read_entries(_nb([{"name": "a", "sha256": SHA}, {"name": "A", "sha256": SHA}]))
    a, b = DataSet("a", SHA), DataSet("b", SHA)
    newer = DataSet("a", "c" * 64, "https://example.org/a")
    assert with_entry([a, b], newer) == [newer, b]
    assert with_entry([a], b) == [a, b]
