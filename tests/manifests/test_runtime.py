from __future__ import annotations

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.runtime import RuntimeTxt

READER = RuntimeTxt()


@pytest.mark.parametrize(
    ("text", "python"),
    [
        ("python-3.10\n", "3.10"),
        ("python-3.10.4", "3.10"),  # repo2docker keeps major.minor
        ("\n# pinned for the course\n  python-3.12  \n\n", "3.12"),
    ],
)
def test_python_versions(write, tmp_path, text, python):
    c = READER.read(write("runtime.txt", text, crlf=True, bom=True), root=tmp_path)
    assert c.python == python
    assert c.provides() == ("python",)
    assert c.requirements == []


@pytest.mark.parametrize("text", ["julia-1.9\n", "pypy-3.10\n"])
def test_other_runtimes_are_noted_not_errors(write, tmp_path, text):
    c = READER.read(write("runtime.txt", text), root=tmp_path)
    assert c.python is None
    assert c.provides() == ()
    assert "not supported yet" in c.notes[0]
    assert text.strip() in c.notes[0]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("r-2019-01-01\n", "asks for R with CRAN's packages as of 2019-01-01"),
        ("r-4.1-2021-10-22\n", "asks for R 4.1 with CRAN's packages as of 2021-10-22"),
    ],
)
def test_r_runtimes_report_their_date(write, tmp_path, text, said):
    c = READER.read(write("runtime.txt", text), root=tmp_path)
    assert (c.python, c.provides()) == (None, ())
    assert said in c.notes[0] and "uses this system's R" in c.notes[0]


@pytest.mark.parametrize(
    ("text", "python"), [("python-3\n", "3"), ("python-2\n", "2.7"), ("python-2.7.18", "2.7")]
)
def test_a_major_alone_is_a_range_or_two_point_seven(write, tmp_path, text, python):
    assert READER.read(write("runtime.txt", text), root=tmp_path).python == python


def test_empty_file_sets_nothing(write, tmp_path):
    c = READER.read(write("runtime.txt", "\n"), root=tmp_path)
    assert c.provides() == ()
    assert c.notes


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("python-abc\n", 1),
        ("\npython-3.x\n", 2),
        ("python3.10\n", 1),
        ("r-2019-13-01\n", 1),
        ("python-3.10\npython-3.11\n", 2),
    ],
)
def test_garbage_is_an_error(write, tmp_path, text, line, unchanged):
    path = write("runtime.txt", text)
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert (e.value.path, e.value.line) == (path, line)
    assert "runtime.txt" in e.value.message
    assert "python-3.11" in e.value.hint
