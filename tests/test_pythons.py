"""Every Python on the machine: where each kind of installation keeps it, asked once and cached,
and which one a request gets."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from jupyter_orbit import pythons
from jupyter_orbit.pythons import Interpreter


def _touch(path: Path, text: str = "\x7fELF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(os.name == "nt", reason="POSIX layouts")
def test_every_kind_of_installation_is_looked_at(tmp_path: Path):
    home = tmp_path / "home"
    expected = {
        _touch(home / ".pyenv/versions/3.6.15/bin/python3"): "pyenv",
        _touch(home / ".asdf/installs/python/3.9.1/bin/python3"): "asdf",
        _touch(home / ".local/share/mise/installs/python/3.12.0/bin/python3"): "mise",
        _touch(home / "miniconda3/bin/python"): "conda",
        _touch(home / "miniconda3/envs/old/bin/python"): "conda",
        _touch(tmp_path / "uv-pythons/cpython-3.13.0-linux/bin/python3"): "uv",
        _touch(tmp_path / "bin/python3.10"): "PATH",
    }
    environ = {
        "HOME": str(home),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv-pythons"),
        "PATH": str(tmp_path / "bin"),
    }
    found = dict(pythons.candidates(environ))
    for path, source in expected.items():
        assert found.get(path) == source, path
    # Only version managers' own folders are read, not whatever sits in them.
    _touch(home / ".pyenv/versions/3.6.15/bin/pip")
    assert home / ".pyenv/versions/3.6.15/bin/pip" not in dict(pythons.candidates(environ))


def test_the_py_launchers_list_is_read_old_and_new():
    listing = (
        " -V:3.12 *        C:\\Python312\\python.exe\n"
        " -V:3.8           C:\\Users\\me\\AppData\\Local\\Programs\\Python\\Python38\\python.exe\n"
        "Installed Pythons found by py Launcher for Windows\n"
        " -3.7-64        C:\\Python37\\python.exe *\n"
        " -2.7-32        C:\\Python27\\python.exe\n"
    )
    assert [str(p) for p in pythons.parse_py_list(listing)] == [
        "C:\\Python312\\python.exe",
        "C:\\Users\\me\\AppData\\Local\\Programs\\Python\\Python38\\python.exe",
        "C:\\Python27\\python.exe",
    ]


def _base_python() -> Path:
    """A real interpreter that is not a virtual environment (the tests run in one)."""
    name = "python.exe" if os.name == "nt" else f"bin/python{sys.version_info[0]}"
    exe = Path(sys.base_prefix) / name
    if not exe.exists():
        pytest.skip(f"no base interpreter at {exe}")
    return exe


def test_asked_once_then_cached_by_size_and_time(tmp_path: Path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(_base_python())
    _touch(folder / "python3.99", '#!/bin/sh\nexec python3 "$@"\n')  # a shim: skipped
    (folder / "python").symlink_to(sys.executable)  # a virtual environment: left out
    environ = {"HOME": str(tmp_path / "home"), "PATH": str(folder)}
    monkeypatch.setattr(pythons, "candidates", lambda env=None: _only(folder, environ))
    asked: list[Path] = []
    real_probe = pythons.probe
    monkeypatch.setattr(pythons, "probe", lambda p: asked.append(p) or real_probe(p))

    cache = tmp_path / "cache"
    first = pythons.discover(cache, environ)
    base = _base_python().resolve()
    assert [i.path for i in first] == [base]
    assert first[0].version == ".".join(map(str, sys.version_info[:3]))
    assert set(asked) == {base, Path(sys.executable).resolve()}  # never the script
    stored = json.loads((cache / "pythons.json").read_text())
    assert set(stored["interpreters"]) == {str(base), str(Path(sys.executable).resolve())}

    asked.clear()
    assert pythons.discover(cache, environ) == first
    assert asked == []  # answered from the cache

    # A changed file (another size or time) is asked again.
    stored["interpreters"][str(base)]["stamp"] = [1, 1]
    (cache / "pythons.json").write_text(json.dumps(stored))
    assert pythons.discover(cache, environ) == first
    assert asked == [base]


def _only(folder: Path, environ: dict) -> list[tuple[Path, str]]:
    return [(p, "PATH") for p in sorted(folder.iterdir())]


def _i(version: str, source: str = "pyenv", impl: str = "cpython") -> Interpreter:
    return Interpreter(Path(f"/x/{source}/{version}/python"), version, impl, source)


MACHINE = sorted(
    [
        _i("2.7.18"),
        _i("3.6.15"),
        _i("3.9.18"),
        _i("3.10.13"),
        _i("3.10.2", "system"),
        _i("3.11.7"),
        _i("3.12.1"),
        _i("3.11.7", "uv"),
        _i("3.10.14", "pyenv", "pypy"),
    ],
    key=pythons._rank,
)


@pytest.mark.parametrize(
    ("request_", "found"),
    [
        ("3.10", "3.10.13"),  # the newest of that minor, CPython first
        ("3.10.2", "3.10.2"),  # a full version is that version
        ("3", "3.12.1"),
        (">=3.7,<3.10", "3.9.18"),
        ("3.6", "3.6.15"),
        ("2.7", None),  # too old for uv
        ("3.8", None),
    ],
)
def test_the_best_interpreter_for_a_request(request_, found):
    best = pythons.find(request_, MACHINE)
    assert (best.version if best else None) == found


def test_a_range_is_met_by_the_preferred_python_when_it_can_be():
    assert pythons.find(">=3.10", MACHINE, prefer="3.11").version == "3.11.7"
    assert pythons.find(">=3.12", MACHINE, prefer="3.11").version == "3.12.1"
    assert pythons.find("3.10", MACHINE, prefer="3.11").version == "3.10.13"


def test_a_tie_goes_to_uvs_own_then_pyenv():
    assert pythons.find("3.11", MACHINE).source == "uv"
    assert list(pythons.by_minor(MACHINE)) == ["3.12", "3.11", "3.10", "3.9", "3.6"]
    assert pythons.by_minor(MACHINE)["3.10"].implementation == "cpython"


def test_how_to_get_a_python_names_the_tool_the_person_has(tmp_path: Path):
    (tmp_path / ".pyenv").mkdir()
    said = pythons.how_to_get("3.6", {"HOME": str(tmp_path), "PATH": ""})
    assert "pyenv install 3.6" in said
    (tmp_path / ".pyenv").rmdir()
    (tmp_path / ".asdf").mkdir()
    assert "asdf install python 3.6" in pythons.how_to_get("3.6", {"HOME": str(tmp_path)})
