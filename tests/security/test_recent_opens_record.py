"""The record of the environments recently opened under each root holds commands the server
starts without asking (its pool warms them, its head start before anything else): only Orbit,
as this user, may have written it. A record others could write, or that another user owns,
is no record; Orbit writes it for the user's eyes only, never in the project folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from jupyter_orbit.paths import Paths
from jupyter_orbit.server import headstart
from jupyter_orbit.server.recent_opens import RecentOpens

ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _kept(tmp_path: Path) -> tuple[RecentOpens, Path]:
    root = tmp_path / "project"
    root.mkdir()
    recent = RecentOpens(Paths(tmp_path / "home").profile("default").root / "recent-opens.json")
    boot = headstart.boot_command("python", ARGV, [])
    entry = {"env_id": "env-a", "argv": ARGV, "boot": boot, "language": "python", "env": {}}
    recent.remember(root, entry)
    return recent, root


def _begun(tmp_path: Path, root: Path):
    env = {**os.environ, "ORBIT_HOME": str(tmp_path / "home"), "ORBIT_PROFILE": "default"}
    options = ["--OrbitExtension.pool_per_env=1", "--OrbitExtension.pool_max_envs=3"]
    try:
        return headstart.begin([*options, f"--ServerApp.root_dir={root}"], env)
    finally:
        headstart.discard()


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_record_others_could_write_is_not_used(tmp_path: Path, mode: int):
    recent, root = _kept(tmp_path)
    assert [e["env_id"] for e in recent.of(root)] == ["env-a"]
    assert recent.path.stat().st_mode & 0o777 == 0o600
    recent.path.chmod(mode)
    assert recent.of(root) == []
    assert _begun(tmp_path, root) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_record_another_user_owns_is_not_used(tmp_path: Path):
    recent, root = _kept(tmp_path)
    os.chown(recent.path, 65534, 65534)  # nobody
    assert recent.of(root) == []
    assert _begun(tmp_path, root) is None


def test_a_record_not_used_is_replaced_by_the_next_open(tmp_path: Path):
    recent, root = _kept(tmp_path)
    recent.path.chmod(0o666)
    recent.remember(root, {"env_id": "env-b", "argv": ARGV})
    assert [e["env_id"] for e in recent.of(root)] == ["env-b"]  # the foreign entries are gone
    assert recent.path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in root.iterdir()) == []
