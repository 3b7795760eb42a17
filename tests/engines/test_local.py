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

from jupyter_orbit.engines import bytecode
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


def test_environments_hold_package_files_of_their_own(orbit: Orbit, tmp_path: Path):
    """Cloned from uv's cache, or hardlinked and copied by the environment's background job:
    an edit in one environment cannot reach another (tests/security/test_shared_files.py)."""
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
    assert bytecode.wait(ea) and bytecode.wait(eb)  # the background job has run
    six_a = next(ea.rglob("site-packages/six.py"))
    six_b = next(eb.rglob("site-packages/six.py"))
    assert six_a.read_bytes() == six_b.read_bytes()
    assert six_a.stat().st_ino != six_b.stat().st_ino and six_a.stat().st_nlink == 1


def test_a_job_that_never_ran_runs_at_the_next_look_up(orbit: Orbit, tmp_path: Path):
    """A build killed between its commit and its job's start left an environment marked as
    waiting, its files still shared (hardlinked) with uv's cache: the next run starts the job."""
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    assert orbit.run("run", str(nb), "--yes").returncode == 0
    env = Path(env_info(orbit, nb)["location"])
    assert bytecode.wait(env)
    six = next(env.rglob("site-packages/six.py"))
    elsewhere = tmp_path / "cache-copy-of-six.py"  # what uv's cache holds
    os.link(six, elsewhere)
    bytecode.schedule(env / "orbit")  # the marks the killed build left

    assert orbit.run("run", str(nb), "--yes").returncode == 0
    assert bytecode.wait(env, timeout=120), "the job was not started again"
    assert not (env / "orbit" / bytecode.OWN_PENDING).exists()
    assert six.stat().st_nlink == 1 and elsewhere.stat().st_nlink == 1
    assert six.read_bytes() == elsewhere.read_bytes()


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
    err = " ".join(r.stderr.split())
    assert "Python 3.99 is not on this machine (found: " in err
    assert f"{sys.version_info[0]}.{sys.version_info[1]}." in err
    assert "uv cannot install it" in err and "uv python install" not in err
    assert f"--python {sys.version_info[0]}.{sys.version_info[1]} --as-of now" in err
    assert not (orbit.home / "envs" / "local").exists() or not list(
        (orbit.home / "envs" / "local").iterdir()
    )


# `!python`, `!pip`, `%pip` and subprocesses, as a notebook's cells run them
ENV_CELLS = (
    "import os, shutil, subprocess, sys\n"
    "print('venv:', os.environ.get('VIRTUAL_ENV'))\n"
    "print('which:', shutil.which('python'))\n"
    "sub = subprocess.run(['python', '-c', 'import sys; print(sys.prefix)'],\n"
    "                     capture_output=True, text=True)\n"
    "print('sub:', sub.stdout.strip())",
    "!python -c 'import sys; print(\"bang:\", sys.prefix)'",
    "!pip --version",
    "%pip --version",
)


def check_env_output(out: str, location: str) -> None:
    out = out.replace("\r\n", "\n")  # `!` commands run in a terminal
    assert f"venv: {location}\n" in out
    assert f"which: {location}/bin/python\n" in out
    assert f"sub: {location}\n" in out
    assert f"bang: {location}\n" in out
    pip_lines = [ln for ln in out.splitlines() if ln.startswith("pip ")]
    assert len(pip_lines) == 2, out  # `!pip` and `%pip`: the environment's own pip
    assert all(f" from {location}/lib/" in ln for ln in pip_lines), pip_lines


def test_the_kernel_s_programs_are_the_environment_s_in_run_and_in_the_server(
    orbit: Orbit, tmp_path: Path
):
    from tests.server.test_server import run_code

    project = tmp_path / "proj"
    nb = make_notebook(project / "nb.ipynb", *ENV_CELLS)
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    location = env_info(orbit, nb)["location"]
    check_env_output(r.stdout, location)

    server = orbit.server(project)
    _, reply = run_code(server, "nb.ipynb", "\n".join(ENV_CELLS))
    assert reply.status == "ok", reply.stderr
    check_env_output(reply.stdout, location)


def test_a_python_uv_can_download_is_installed_first(orbit: Orbit, tmp_path: Path):
    """Not on this machine but offered by uv: the plan installs it first, saying so; where
    downloads fail (no network), the error says what is here and the ways out."""
    from jupyter_orbit import pythons
    from jupyter_orbit.uvcli import python_downloads

    here = pythons.by_minor(pythons.discover())
    wanted = next((m for m in sorted(python_downloads()) if m not in here), None)
    if wanted is None:
        pytest.skip("every Python uv can download is on this machine already")
    nb = make_notebook(tmp_path / "p" / "nb.ipynb", "1")
    plan = orbit.run("run", str(nb), "--python", wanted, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"python     Python {wanted} is not on this machine: uv installs it" in plan.stdout
    r = orbit.run("run", str(nb), "--python", wanted, "--yes", timeout=600)
    if r.returncode == 0:  # this machine can download it
        return
    err = " ".join(r.stderr.split())
    assert f"uv could not download Python {wanted}" in err and "found here: " in err
    assert "connect and try again" in err


def test_pip_install_in_a_kernel_of_a_new_environment_installs_there(orbit: Orbit, tmp_path: Path):
    """Every environment has its own pip (``uv venv --seed``): ``%pip install`` in its kernel
    installs into it, while its bytecode may still be in the making."""
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        "%pip install --quiet --disable-pip-version-check idna==3.7\n"
        "import idna, sys; print(idna.__version__, idna.__file__.startswith(sys.prefix))",
        metadata={"orbit": {"as_of": "2025-06-01", "packages": {"pypi": ["six"]}}},
    )
    r = orbit.run("run", str(nb), "--yes", "--no-server")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "3.7 True", r.stdout
    env = Path(env_info(orbit, nb)["location"])
    assert list(env.glob("lib/python*/site-packages/idna-3.7.dist-info"))
