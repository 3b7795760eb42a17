from __future__ import annotations

import json

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.pipfile import LOCK_NOTE, Pipfile

READER = Pipfile()

REALISTIC = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[[source]]
name = "internal"
url = "https://pkgs.internal.example/simple"
verify_ssl = false

[packages]
requests = "*"
numpy = ">=1.26,<2"
"Pandas" = {version = "==2.2.*", extras = ["excel", "Performance"]}
pywin32 = {version = "*", markers = "sys_platform == 'win32'"}
uvloop = {version = ">=0.19", sys_platform = "!= 'win32'"}
toolkit = {git = "https://github.com/org/toolkit.git", ref = "v1.2", subdirectory = "py"}
mylib = {path = "./libs/mylib", editable = true}
wheelie = {file = "https://files.example/wheelie-1.0-py3-none-any.whl"}

[dev-packages]
pytest = ">=8"

[requires]
python_version = "3.11"
"""


def test_realistic_pipfile(write, tmp_path):
    write("libs/mylib/pyproject.toml", "[project]\nname = 'mylib'\n")
    path = write("Pipfile", REALISTIC)
    c = READER.read(path, root=tmp_path)
    assert [r.text for r in c.requirements] == [
        "requests",
        "numpy<2,>=1.26",
        "pandas[excel,performance]==2.2.*",
        'pywin32; sys_platform == "win32"',
        'uvloop>=0.19; sys_platform != "win32"',
        "toolkit @ git+https://github.com/org/toolkit.git@v1.2#subdirectory=py",
        f"-e {tmp_path / 'libs' / 'mylib'}",
        "wheelie @ https://files.example/wheelie-1.0-py3-none-any.whl",
        "pytest>=8",
    ]
    assert [r.origin.line for r in c.requirements] == [12, 13, 14, 15, 16, 17, 18, 19, 22]
    assert {r.origin.path for r in c.requirements} == {path}
    assert c.python == "3.11"
    assert c.index_options == [
        "--extra-index-url https://pkgs.internal.example/simple",
        "--trusted-host pkgs.internal.example",
    ]
    assert c.declares == {"pypi"}
    assert any("dev-packages" in n for n in c.notes)


def test_private_default_source_replaces_pypi(write, tmp_path):
    text = (
        '[[source]]\nurl = "https://mirror.example/simple"\nname = "mirror"\n\n'
        '[[source]]\nurl = "https://pypi.org/simple"\nname = "pypi"\n\n'
        '[packages]\nattrs = "*"\n\n[requires]\npython_full_version = "3.11.9"\n'
        'python_version = "3.11"\n'
    )
    c = READER.read(write("Pipfile", text, crlf=True), root=tmp_path)
    assert c.index_options == [
        "--index-url https://mirror.example/simple",
        "--extra-index-url https://pypi.org/simple",
    ]
    assert c.python == "3.11"  # python_full_version means major.minor (repo2docker's rule)
    assert [(r.text, r.origin.line) for r in c.requirements] == [("attrs", 10)]


def test_empty_pipfile_declares_pypi(write, tmp_path):
    c = READER.read(write("Pipfile", "[packages]\n"), root=tmp_path)
    assert c.provides() == ("packages.pypi",)
    assert c.notes == []


LOCK = {
    "_meta": {
        "hash": {"sha256": "0" * 64},
        "requires": {"python_version": "3.10"},
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}],
    },
    "default": {
        "certifi": {"hashes": ["sha256:aa"], "index": "pypi", "version": "==2024.2.2"},
        "colorama": {
            "hashes": ["sha256:bb"],
            "markers": "platform_system == 'Windows'",
            "version": "==0.4.6",
        },
        "toolkit": {"git": "https://github.com/org/toolkit.git", "ref": "abc123"},
    },
    "develop": {"pytest": {"hashes": [], "version": "==8.1.1", "extras": ["testing"]}},
}


def test_lock_is_preferred(write, tmp_path):
    path = write("Pipfile", '[packages]\ncertifi = "*"\ncolorama = "*"\n\n[dev-packages]\n')
    lock = write("Pipfile.lock", json.dumps(LOCK, indent=4))
    c = READER.read(path, root=tmp_path)
    assert [r.text for r in c.requirements] == [
        "certifi==2024.2.2",
        'colorama==0.4.6; platform_system == "Windows"',
        "toolkit @ git+https://github.com/org/toolkit.git@abc123",
        "pytest[testing]==8.1.1",
    ]
    assert {r.origin.path for r in c.requirements} == {lock}
    lock_lines = lock.read_text().splitlines()
    for r in c.requirements:
        assert f'"{r.name}"' in lock_lines[r.origin.line - 1]
    assert c.python == "3.10"  # from the lock: the Pipfile has no [requires]
    assert c.index_options == []
    assert LOCK_NOTE in c.notes


@pytest.mark.parametrize(
    ("text", "line"),
    [('{"default": {"a": {"version": "==1"},}}', 1), ('{\n  "default": {\n    "a": \n', 4)],
)
def test_malformed_lock_names_the_lock(write, tmp_path, text, line, unchanged):
    write("Pipfile", '[packages]\na = "*"\n')
    lock = write("Pipfile.lock", text)
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(tmp_path / "Pipfile", root=tmp_path)
    assert "Pipfile.lock" in e.value.message
    assert (e.value.path, e.value.line) == (lock, line)
    assert "pipenv lock" in e.value.hint


def test_lock_section_of_wrong_type(write, tmp_path):
    write("Pipfile", "")
    lock = write("Pipfile.lock", '{\n"default": []\n}\n')
    with pytest.raises(InputError) as e:
        READER.read(tmp_path / "Pipfile", root=tmp_path)
    assert (e.value.path, e.value.line) == (lock, 2)


def test_malformed_pipfile(write, tmp_path):
    path = write("Pipfile", '[packages]\nrequests = "*"\nnumpy = \n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "malformed TOML in Pipfile" in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("3", "neither a version string nor a table"),
        ("{version = 3}", "version of 'bad'"),
        ('{version = "*", extras = [1]}', "extras of 'bad'"),
        ('">=>1"', "not a valid requirement"),
    ],
)
def test_bad_package_values(write, tmp_path, value, words):
    path = write("Pipfile", f'[packages]\nok = "*"\nbad = {value}\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert words in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)


def test_local_path_outside_root(write, tmp_path):
    write("elsewhere/setup.py", "")
    path = write("project/Pipfile", '[packages]\nx = {path = "../elsewhere"}\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path / "project")
    assert "outside the project" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


def test_source_without_url(write, tmp_path):
    path = write("Pipfile", '[[source]]\nname = "x"\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "no url" in e.value.message
    assert (e.value.path, e.value.line) == (path, 1)
