"""The spares a server keeps for hot add: made after a delay and only while no user's kernel
starts, files of their own, handed to one hot add, given back when unused, bounded in number
and by the disk's free space, stopped and removed when their environment's kernels end or the
server stops. The environments here are plain folders (a spare copies whatever is there)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_orbit.server import spares as spares_mod
from jupyter_orbit.server.pool import KernelPool
from jupyter_orbit.server.spares import Spares


def make_env(root: Path, env_id: str, files: int = 20) -> SimpleNamespace:
    location = root / env_id
    for i in range(files):
        f = location / "lib" / f"m{i}.py"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"x = {i}\n")
    (location / "bin").mkdir()
    (location / "bin" / "python").symlink_to(sys.executable)
    return SimpleNamespace(env_id=env_id, location=location)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "envs"


@pytest.fixture
def engine(root: Path) -> SimpleNamespace:
    root.mkdir()
    return SimpleNamespace(root=root)


def builds(root: Path) -> list[Path]:
    return sorted(root.glob(".build-*"))


async def until(check, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_spare_is_a_copy_with_files_of_its_own(engine, root: Path) -> None:
    env = make_env(root, "a" * 20)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 0.05
        keeper.want(engine, env)
        assert keeper.status()[env.env_id]["state"] == "waiting"
        await until(lambda: keeper.status()[env.env_id]["state"] == "ready")
        folder = Path(keeper.status()[env.env_id]["folder"])
        assert folder.parent == root and folder.name.startswith(f".build-{env.env_id}-spare")
        src = env.location / "lib" / "m3.py"
        copy = folder / "lib" / "m3.py"
        assert copy.read_text() == "x = 3\n" and copy.stat().st_ino != src.stat().st_ino
        assert (folder / "bin" / "python").readlink() == Path(sys.executable)
        # one hot add takes it; then there is none until it is wanted again
        assert await keeper.take(env.env_id) == folder
        assert keeper.status() == {} and await keeper.take(env.env_id) is None
        # given back unused, it is kept again
        assert keeper.put(env.env_id, folder) is None
        assert keeper.status()[env.env_id] == {"state": "ready", "folder": str(folder)}
        await keeper.shutdown()
        assert builds(root) == [] and keeper.status() == {}

    asyncio.run(go())


def test_a_hot_add_before_the_copy_began_makes_its_own(engine, root: Path) -> None:
    env = make_env(root, "b" * 20)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 30
        keeper.want(engine, env)
        assert await keeper.take(env.env_id) is None
        await asyncio.sleep(0.05)
        assert builds(root) == [] and keeper.status() == {}

    asyncio.run(go())


def test_no_spare_is_begun_while_a_users_kernel_starts(engine, root: Path) -> None:
    env = make_env(root, "c" * 20)

    async def go() -> None:
        pool = KernelPool(cwd=root, env=dict(os.environ), budget_mb=0)
        keeper = Spares(pool, limit=1)
        keeper.delay = 0.05
        hold = pool.hold("nb.ipynb")
        keeper.want(engine, env)
        await asyncio.sleep(0.5)
        assert keeper.status()[env.env_id]["state"] == "waiting" and builds(root) == []
        hold.release()
        await until(lambda: keeper.status()[env.env_id]["state"] == "ready")
        await keeper.shutdown()

    asyncio.run(go())


def test_the_environments_wanted_last_keep_theirs(engine, root: Path) -> None:
    a, b = make_env(root, "d" * 20), make_env(root, "e" * 20)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 0.01
        keeper.want(engine, a)
        await until(lambda: keeper.status().get(a.env_id, {}).get("state") == "ready")
        keeper.want(engine, b)
        await until(lambda: keeper.status().get(b.env_id, {}).get("state") == "ready")
        assert list(keeper.status()) == [b.env_id]
        await until(lambda: len(builds(root)) == 1)
        assert builds(root)[0].name.startswith(f".build-{b.env_id}-spare")
        # its last kernel ended: the spare goes
        keeper.forget(b.env_id)
        await until(lambda: builds(root) == [])
        # a server that keeps none makes none
        none = Spares(limit=0)
        none.want(engine, a)
        assert none.status() == {}

    asyncio.run(go())


def test_no_spare_where_the_disk_would_run_short(engine, root: Path, monkeypatch) -> None:
    env = make_env(root, "f" * 20)
    monkeypatch.setattr(spares_mod, "MIN_FREE", 1 << 62)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 0.01
        keeper.want(engine, env)
        await until(lambda: keeper.status() == {})
        assert builds(root) == [] and await keeper.take(env.env_id) is None

    asyncio.run(go())


def test_a_spare_waits_for_the_jobs_writing_into_its_environment(engine, root: Path) -> None:
    env = make_env(root, "g" * 20)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 0.01
        job: asyncio.Future = asyncio.get_running_loop().create_future()
        keeper.want(engine, env, after=[job])
        await asyncio.sleep(0.3)
        assert keeper.status()[env.env_id]["state"] == "waiting"
        (env.location / "lib" / "late.py").write_text("y = 1\n")
        job.set_result(None)
        await until(lambda: keeper.status()[env.env_id]["state"] == "ready")
        folder = Path(keeper.status()[env.env_id]["folder"])
        assert (folder / "lib" / "late.py").read_text() == "y = 1\n"
        await keeper.shutdown()

    asyncio.run(go())


def test_stopping_the_server_stops_a_copy_and_leaves_nothing(
    engine, root: Path, monkeypatch
) -> None:
    """A copy in progress is killed, not waited for; what it made is removed."""
    env = make_env(root, "h" * 20)
    began = []

    def slow_clone(engine, base, *, started, dest):
        spare = dest
        spare.mkdir()
        proc = subprocess.Popen(["sleep", "60"])
        started(proc.pid)
        began.append(proc.pid)  # once the keeper knows it (the test reads its priority then)
        code = proc.wait()
        shutil.rmtree(spare)
        if code < 0:
            raise OSError("stopped")
        return spare

    monkeypatch.setattr(spares_mod, "clone_ahead", slow_clone)

    async def go() -> None:
        keeper = Spares(limit=1)
        keeper.delay = 0.01
        keeper.want(engine, env)
        await until(lambda: keeper.status()[env.env_id]["state"] == "copying" and began)
        assert Path(keeper.status()[env.env_id]["folder"]) == builds(root)[0]
        # the copy runs at idle priority until a hot add waits for it
        assert os.getpriority(os.PRIO_PROCESS, began[0]) > os.getpriority(os.PRIO_PROCESS, 0)
        t = asyncio.get_running_loop().time()
        await keeper.shutdown()
        assert asyncio.get_running_loop().time() - t < 10
        assert builds(root) == [] and keeper.status() == {}

    asyncio.run(go())
