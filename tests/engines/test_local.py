"""The local engine with real uv: atomic builds, one build for concurrent requests, shared
cache, and installs from a juv/uv script lock."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import UV_CACHE, Orbit, make_notebook

pytestmark = pytest.mark.integration


def popen_run(orbit: Orbit, nb: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--yes"],
        env=orbit.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def env_info(orbit: Orbit, nb: Path) -> dict:
    return json.loads(orbit.run("env", str(nb), "--json").stdout)


def test_a_build_killed_midway_leaves_nothing_used(orbit: Orbit, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "import idna; print(idna.__name__)",
        metadata={"orbit": {"packages": {"pypi": ["idna"]}}},
    )
    envs = orbit.home / "envs" / "local"
    proc = popen_run(orbit, nb)
    deadline = time.monotonic() + 120
    while not list(envs.glob(".build-*/orbit")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(envs.glob(".build-*")), "the kill should have hit a build in progress"
    info = env_info(orbit, nb)
    assert info["built"] is False and not (envs / info["env_id"] / "orbit-env.json").exists()

    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0 and r.stdout == "idna\n", r.stderr
    assert not list(envs.glob(".build-*"))  # the leftover was cleaned up
    assert env_info(orbit, nb)["built"] is True


def test_concurrent_requests_build_once(orbit: Orbit, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "import six; print(six.__name__)",
        metadata={"orbit": {"packages": {"pypi": ["six"]}}},
    )
    procs = [popen_run(orbit, nb) for _ in range(3)]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert all(out == "six\n" for out, _ in results)
    builds = [err for _, err in results if "orbit: venv" in err]
    assert len(builds) == 1, [err for _, err in results]
    assert len(list((orbit.home / "envs" / "local").glob("*/orbit-env.json"))) == 1


def test_environments_share_files_through_the_uv_cache(orbit: Orbit, tmp_path: Path):
    a = make_notebook(
        tmp_path / "a" / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    b = make_notebook(
        tmp_path / "b" / "nb.ipynb",
        "1",
        metadata={"orbit": {"packages": {"pypi": ["six", "idna"]}}},
    )
    for nb in (a, b):
        assert orbit.run("run", str(nb), "--yes").returncode == 0
    ea, eb = (Path(env_info(orbit, nb)["location"]) for nb in (a, b))
    assert ea != eb
    six_a = next(ea.rglob("site-packages/six.py"))
    six_b = next(eb.rglob("site-packages/six.py"))
    if Path(UV_CACHE).stat().st_dev == ea.stat().st_dev:
        assert six_a.stat().st_ino == six_b.stat().st_ino  # one file on disk, linked twice


def test_installs_exactly_what_a_juv_lock_pins(orbit: Orbit, tmp_path: Path):
    """A notebook juv has locked ("six" unpinned, lock says 1.16.0) rebuilds the locked version."""
    from uv import find_uv_bin

    script = tmp_path / "lockgen" / "script.py"
    script.parent.mkdir()
    script.write_text(
        '# /// script\n# requires-python = ">=3.11"\n# dependencies = ["six"]\n# ///\n'
    )
    subprocess.run(
        [
            find_uv_bin(),
            "lock",
            "--script",
            str(script),
            "--exclude-newer",
            "2024-06-01T00:00:00Z",
            "--no-config",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "UV_CACHE_DIR": UV_CACHE},
    )
    lock = (tmp_path / "lockgen" / "script.py.lock").read_text()
    assert 'version = "1.16.0"' in lock
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        '# /// script\n# requires-python = ">=3.11"\n# dependencies = ["six"]\n# ///',
        "import six; print(six.__version__)",
        metadata={"uv.lock": lock},
    )
    info = env_info(orbit, nb)
    assert info["spec"]["lock"]["format"] == "uv.lock"
    assert any(s["kind"] == "pep723" and "lock" in s["provides"] for s in info["sources"])
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1.16.0\n"  # without the lock, six would resolve to 1.17 or newer


def test_unavailable_python_names_the_available_ones(orbit: Orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "p" / "nb.ipynb", "1")
    r = orbit.run("run", str(nb), "--python", "3.99", "--yes")
    assert r.returncode == 2
    assert "Python 3.99 is not available" in r.stderr
    assert (
        "available here: " in r.stderr
        and f"{sys.version_info[0]}.{sys.version_info[1]}" in r.stderr
    )
    assert "--python" in r.stderr
    assert not (orbit.home / "envs" / "local").exists() or not list(
        (orbit.home / "envs" / "local").iterdir()
    )
