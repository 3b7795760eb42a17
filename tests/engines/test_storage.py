"""Sizes that count shared files once, the environments and leftovers under an engine's root,
and removals that leave a build under way alone."""

import os
from pathlib import Path

import pytest

from jupyter_orbit.engines import storage
from jupyter_orbit.engines.base import Stored
from jupyter_orbit.errors import OrbitError

MARKER = "orbit-env.json"


def make_env(root: Path, env_id: str, *, complete: bool = True) -> Path:
    env = root / env_id
    (env / "lib").mkdir(parents=True)
    (env / "lib" / "own.py").write_bytes(b"x" * 10_000)
    if complete:
        (env / MARKER).write_text('{"created": "2025-01-02T03:04:05+00:00"}')
    return env


def test_hardlinked_files_are_counted_once_and_free_nothing(tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "shared.so").write_bytes(b"y" * 50_000)
    env = make_env(tmp_path / "envs", "a1")
    os.link(cache / "shared.so", env / "lib" / "shared.so")
    os.link(env / "lib" / "own.py", env / "lib" / "again.py")  # both names inside: frees
    size, frees = storage.sizes(env)
    own = (env / "lib" / "own.py").stat().st_blocks * 512
    shared = (cache / "shared.so").stat().st_blocks * 512
    assert frees == own + (env / MARKER).stat().st_blocks * 512
    assert size == frees + shared


def test_environments_and_leftovers_under_a_root(tmp_path: Path):
    root = tmp_path / "envs"
    make_env(root, "a1")
    make_env(root, "b2", complete=False)  # killed before its marker was written
    make_env(root, ".build-c3-1a2b3c4d", complete=False)
    (root / ".bytecode").mkdir()
    (root / ".a1.lock").write_text("")
    (tmp_path / "elsewhere").mkdir()
    make_env(tmp_path / "elsewhere", "d4")
    (root / "d4").symlink_to(tmp_path / "elsewhere" / "d4")
    found = {s.env_id: s for s in storage.folder_envs(root, MARKER)}
    assert set(found) == {"a1", "b2", "c3", "d4"}
    assert not found["a1"].leftover and found["a1"].created == "2025-01-02T03:04:05+00:00"
    assert found["b2"].leftover and found["c3"].leftover
    assert found["d4"].frees == 0 and found["d4"].size > 0  # linked in: removing frees nothing


def test_removal_leaves_a_build_under_way_alone(tmp_path: Path):
    from filelock import FileLock

    root = tmp_path / "envs"
    env = make_env(root, "a1")
    item = Stored("a1", str(env), 1, 1)
    with FileLock(root / ".a1.lock"), pytest.raises(OrbitError, match="being built right now"):
        storage.remove_folder(root, item, MARKER)
    assert (env / MARKER).exists()
    storage.remove_folder(root, item, MARKER)
    assert not env.exists() and not list(root.glob(".gc-*"))
    with pytest.raises(OrbitError, match="is not in"):
        storage.remove_folder(root, Stored("x", str(tmp_path), 1, 1), MARKER)


def test_a_linked_environment_is_unlinked_not_emptied(tmp_path: Path):
    root = tmp_path / "envs"
    root.mkdir()
    target = make_env(tmp_path / "seed", "d4")
    (root / "d4").symlink_to(target)
    storage.remove_folder(root, Stored("d4", str(root / "d4"), 1, 0), MARKER)
    assert not (root / "d4").exists() and (target / MARKER).exists()
