"""Environments cannot corrupt each other through shared files.

Before, uv hardlinked every package file from its cache, so a kernel that edited an installed
file in place (a patch, an editor writing through the link) changed it in every environment with
that package, and in uv's cache. Now each environment holds files of its own (cloned where the
disk can, copied elsewhere: ``linkmode``), only read-only bytecode is shared, and
``orbit doctor --verify`` finds an environment whose files no longer match what was installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_orbit import linkmode
from jupyter_orbit.engines import bytecode, integrity
from tests.conftest import UV_CACHE, Orbit, make_notebook

pytestmark = pytest.mark.integration


def _env(orbit: Orbit, nb: Path) -> Path:
    return Path(json.loads(orbit.run("env", str(nb), "--json").stdout)["location"])


def _build(orbit: Orbit, folder: Path, packages: list[str], **env: str) -> tuple[Path, Path]:
    nb = make_notebook(
        folder / "nb.ipynb",
        "import six; print(six.__version__)",
        metadata={"orbit": {"as_of": "2025-06-01", "packages": {"pypi": packages}}},
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        r = orbit.run("run", str(nb), "--yes", "--no-server")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert r.returncode == 0, r.stderr
    env = _env(orbit, nb)
    assert bytecode.wait(env)  # made in the background once the environment is in place
    return nb, env


def test_an_edit_in_one_environment_stays_there(orbit: Orbit, tmp_path: Path):
    _, env_a = _build(orbit, tmp_path / "a", ["six"])
    nb_b, env_b = _build(orbit, tmp_path / "b", ["six", "idna"])
    six_a = next(env_a.rglob("site-packages/six.py"))
    six_b = next(env_b.rglob("site-packages/six.py"))
    assert six_a.read_bytes() == six_b.read_bytes()
    assert six_a.stat().st_ino != six_b.stat().st_ino
    assert six_a.stat().st_nlink == 1  # not linked with uv's cache either

    original = six_b.read_bytes()
    with six_a.open("a") as f:  # a kernel patching an installed file in place
        f.write("\nraise RuntimeError('patched in environment a')\n")
    assert six_b.read_bytes() == original
    r = orbit.run("run", str(nb_b), "--no-server")
    assert r.returncode == 0 and r.stdout.strip() == "1.17.0", (r.stdout, r.stderr)

    # orbit doctor --verify names the environment and the file
    r = orbit.run("doctor", "--verify", "--json")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    env_a_id = env_a.name[:12]
    bad = checks[f"local env {env_a_id}"]
    assert bad["status"] == "fail" and "six.py" in bad["detail"], bad
    assert "rm -rf" in bad["fix"]
    assert f"local env {env_b.name[:12]}" not in checks, checks.get(f"local env {env_b.name[:12]}")
    assert r.returncode == 1


def test_bytecode_is_shared_read_only_and_used(orbit: Orbit, tmp_path: Path):
    _, env_a = _build(orbit, tmp_path / "a", ["six"])
    _, env_b = _build(orbit, tmp_path / "b", ["six", "idna"])
    pyc_a = next(env_a.rglob("site-packages/__pycache__/six.*.pyc"))
    pyc_b = next(env_b.rglob("site-packages/__pycache__/six.*.pyc"))
    assert pyc_a.stat().st_ino == pyc_b.stat().st_ino  # compiled once, stored once
    assert pyc_a.stat().st_mode & 0o222 == 0  # and nobody writes into it
    flags = int.from_bytes(pyc_a.read_bytes()[4:8], "little")
    assert flags == 0b11  # hash-based and checked: valid for every copy of the source
    python = env_b / "bin" / "python"
    r = subprocess.run(
        [str(python), "-X", "importtime", "-c", "import six"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_hardlinks_the_user_asked_for_are_reported(orbit: Orbit, tmp_path: Path):
    """UV_LINK_MODE=hardlink is the user's own uv setting: Orbit leaves the choice to uv, and
    `orbit doctor --verify` says what that shares."""
    assert linkmode.mode(tmp_path) in ("clone", "copy")
    _, env = _build(orbit, tmp_path / "h", ["six"], UV_LINK_MODE="hardlink")
    if Path(UV_CACHE).stat().st_dev != env.stat().st_dev:
        pytest.skip("uv's cache is on another disk: nothing can be hardlinked")
    report = integrity.verify(env)
    assert report.intact and report.shared > 0
    r = orbit.run("doctor", "--verify", "--json")
    checks = json.loads(r.stdout)["checks"]
    shared = next(c for c in checks if c["name"] == f"local env {env.name[:12]}")
    assert shared["status"] == "warn" and "hardlinked" in shared["detail"]
