from __future__ import annotations

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.pyproject import PyprojectToml

READER = PyprojectToml()

REALISTIC = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "climate-analysis"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = [
    "numpy>=1.26",   # arrays
    'xarray[io] >= 2024.1',

    "Cartopy ; sys_platform != 'win32'",
    "dask[array,dataframe]",
]

[project.optional-dependencies]
test = ["pytest"]
docs = ["sphinx"]

[tool.ruff]
line-length = 100
dependencies = "not this one"
"""


def test_realistic_pyproject(write, tmp_path):
    path = write("pyproject.toml", REALISTIC)
    c = READER.read(path, root=tmp_path)
    assert [r.text for r in c.requirements] == [
        "numpy>=1.26",
        "xarray[io]>=2024.1",
        'cartopy; sys_platform != "win32"',
        "dask[array,dataframe]",
    ]
    assert [r.origin.line for r in c.requirements] == [10, 11, 13, 14]
    assert {(r.origin.kind, r.origin.path) for r in c.requirements} == {("pyproject.toml", path)}
    assert c.python == ">=3.10"
    assert c.declares == {"pypi"}
    assert c.provides() == ("python", "packages.pypi")
    assert c.notes == ["pyproject.toml: optional dependencies (docs, test) are not installed"]


def test_crlf_and_inline_array(write, tmp_path):
    text = '[project]\nname = "x"\ndependencies = ["attrs", "rich>=13"]\n'
    path = write("pyproject.toml", text, crlf=True, bom=True)
    c = READER.read(path, root=tmp_path)
    assert [(r.text, r.origin.line) for r in c.requirements] == [("attrs", 3), ("rich>=13", 3)]


def test_dotted_keys(write, tmp_path):
    path = write("pyproject.toml", 'project.name = "x"\nproject.dependencies = ["attrs"]\n')
    c = READER.read(path, root=tmp_path)
    assert [(r.text, r.origin.line) for r in c.requirements] == [("attrs", 2)]


@pytest.mark.parametrize(
    "text",
    [
        "[tool.black]\nline-length = 88\n",
        '[project]\nname = "x"\n',
        "",
    ],
)
def test_no_dependencies_contributes_nothing(write, tmp_path, text):
    c = READER.read(write("pyproject.toml", text), root=tmp_path)
    assert c.provides() == ()
    assert c.declares == set()
    assert c.requirements == []
    assert c.python is None


def test_requires_python_alone_is_read(write, tmp_path):
    """repo2docker reads requires-python whether or not the project lists dependencies."""
    text = '[project]\nname = "x"\nrequires-python = ">=3.9"\n'
    c = READER.read(write("pyproject.toml", text), root=tmp_path)
    assert (c.python, c.provides(), c.requirements) == (">=3.9", ("python",), [])


def test_empty_dependencies_still_declares(write, tmp_path):
    c = READER.read(write("pyproject.toml", "[project]\ndependencies = []\n"), root=tmp_path)
    assert c.requirements == []
    assert c.provides() == ("packages.pypi",)


def test_dynamic_dependencies_are_noted(write, tmp_path):
    path = write("pyproject.toml", '[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    c = READER.read(path, root=tmp_path)
    assert c.provides() == ()
    assert "dynamic" in c.notes[0]


def test_malformed_toml(write, tmp_path, unchanged):
    path = write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["a",\n[tool.x]\n')
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "malformed TOML" in e.value.message
    assert "line 4" in e.value.message
    assert e.value.hint == "fix the TOML syntax at line 4"
    assert (e.value.path, e.value.line) == (path, 4)
    assert "pyproject.toml:4" in str(e.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[project]\nname = "x"\ndependencies = "numpy"\n', 3),
        ("[project]\ndependencies = [1, 2]\n", 2),
    ],
)
def test_dependencies_must_be_strings(write, tmp_path, text, line):
    path = write("pyproject.toml", text)
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "list of strings" in e.value.message
    assert (e.value.path, e.value.line) == (path, line)


def test_invalid_dependency_names_its_line(write, tmp_path):
    path = write("pyproject.toml", '[project]\ndependencies = [\n  "ok",\n  "not valid!!",\n]\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "not valid!!" in e.value.message
    assert (e.value.path, e.value.line) == (path, 4)


def test_invalid_requires_python(write, tmp_path):
    path = write("pyproject.toml", '[project]\nrequires-python = "three"\ndependencies = []\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "requires-python" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


def test_project_not_a_table(write, tmp_path):
    path = write("pyproject.toml", 'project = "x"\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert (e.value.path, e.value.line) == (path, 1)
