"""The server process's head start: the kernel of the environment opened last under its root,
started before jupyter_server is imported, and the pool's adoption of it (real kernels)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import psutil
import pytest

from jupyter_orbit.paths import Paths
from jupyter_orbit.prestart import Started
from jupyter_orbit.server import headstart
from jupyter_orbit.server.pool import KernelPool, WarmTarget
from jupyter_orbit.server.recent_opens import RecentOpens

ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
POOLED = ["--OrbitExtension.pool_per_env=1", "--OrbitExtension.pool_max_envs=3"]


def record(
    home: Path, root: Path, *env_ids: str, argv: list[str] | None = None, imports: list[str] = ()
) -> None:
    """``env_ids`` opened under ``root``, the last one most recently."""
    recent = RecentOpens(Paths(home).profile("default").root / "recent-opens.json")
    for env_id in env_ids:
        entry = {"env_id": env_id, "argv": argv or ARGV, "language": "python", "env": {}}
        boot = headstart.boot_command("python", argv or ARGV, imports)  # as the server records
        recent.remember(
            root.resolve(), {**entry, "boot": boot, "recipe": "python", "imports": list(imports)}
        )


def environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    return {**env, "ORBIT_HOME": str(home), "ORBIT_PROFILE": "default"}


def begin(home: Path, root: Path, *options: str):
    return headstart.begin([*options, f"--ServerApp.root_dir={root}"], environ(home))


def begun(tmp_path: Path, imports: list[str] | None = None) -> tuple[Path, Started]:
    """A project where ``env-a`` was opened last, and the kernel begun for it."""
    root = tmp_path / "project"
    root.mkdir()
    record(tmp_path / "home", root, "env-a", imports=imports or [])
    started = begin(tmp_path / "home", root, *POOLED)
    assert started is not None
    return root, started


async def until_warm(pool: KernelPool) -> None:
    deadline = asyncio.get_running_loop().time() + 120
    while not any(p["ready"] for p in pool.status()):
        assert asyncio.get_running_loop().time() < deadline, pool.events
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def _nothing_left():
    yield
    headstart.discard()


def test_the_last_environment_opened_here_is_begun_and_handed_over_once(tmp_path: Path):
    root = tmp_path / "project"
    root.mkdir()
    record(tmp_path / "home", root, "older", "latest")
    started = begin(tmp_path / "home", root, *POOLED)
    assert started is not None and started.process.poll() is None
    try:
        assert started.command.argv == tuple(ARGV) and started.command.cwd == str(root.resolve())
        assert started.connection_file.stat().st_mode & 0o077 == 0
        assert headstart.claim("older", ARGV) is None  # begun for the latest only
        assert headstart.claim("latest", [*ARGV, "--another"]) is None  # for its command only
        assert headstart.claim("latest", ARGV) is started
        assert headstart.claim("latest", ARGV) is None  # handed over once
        headstart.discard()  # claimed: not the head start's to stop any more
        assert started.process.poll() is None
    finally:
        started.discard()
    assert started.process.wait(10) is not None and not started.connection_file.exists()


def test_one_nobody_claims_is_stopped(tmp_path: Path):
    _, started = begun(tmp_path)
    headstart.discard()
    assert started.process.wait(10) is not None
    assert not started.connection_file.exists()


@pytest.mark.parametrize(
    "options",
    [
        (),  # no pool sizes given (a trial server's command line)
        ("--OrbitExtension.pool_per_env=0", "--OrbitExtension.pool_max_envs=3"),
        ("--OrbitExtension.pool_per_env=1", "--OrbitExtension.pool_max_envs=0"),
        (*POOLED, "--OrbitExtension.pool_memory_mb=0"),
        (*POOLED, "--OrbitExtension.pool_per_env=0"),  # the last of a name counts
    ],
)
def test_nothing_begins_without_a_pool(tmp_path: Path, options: tuple[str, ...]):
    root = tmp_path / "project"
    root.mkdir()
    record(tmp_path / "home", root, "env-a")
    assert begin(tmp_path / "home", root, *options) is None
    assert headstart.claim("env-a", ARGV) is None


def test_nothing_begins_for_another_root_or_a_gone_environment(tmp_path: Path):
    home, root, other = tmp_path / "home", tmp_path / "project", tmp_path / "other"
    root.mkdir()
    other.mkdir()
    record(home, root, "env-a")
    assert begin(home, other, *POOLED) is None  # nothing was opened there
    record(
        home, root, "gone", argv=[str(tmp_path / "removed" / "python"), "-f", "{connection_file}"]
    )
    assert begin(home, root, *POOLED) is None
    assert headstart.claim("gone", ARGV) is None


def test_the_command_is_the_one_recorded_for_it(tmp_path: Path):
    """The server records what a head start runs when it records the environment; a record
    without it (an older Orbit's), or of a kind the pool keeps no kernels of, starts nothing."""
    assert headstart.boot_command("python", ARGV, []) == ARGV
    assert headstart.boot_command("python", ARGV, ["numpy"])[len(ARGV)].startswith(
        "--IPKernelApp.code_to_run="
    )
    assert headstart.boot_command("micropython", ARGV, []) is None  # a board: no pool
    assert headstart.boot_command("no-such-recipe", ARGV, []) is None
    home, root = tmp_path / "home", tmp_path / "project"
    root.mkdir()
    recent = RecentOpens(Paths(home).profile("default").root / "recent-opens.json")
    entry = {"env_id": "env-a", "argv": ARGV, "language": "python", "env": {}}
    for boot in ({}, {"boot": None}, {"boot": []}, {"boot": [1, 2]}):
        recent.remember(root.resolve(), {**entry, **boot})
        assert begin(home, root, *POOLED) is None
    assert headstart.claim("env-a", ARGV) is None


@pytest.mark.integration
def test_the_pool_adopts_the_kernel_begun(tmp_path: Path):
    root, started = begun(tmp_path)

    async def go():
        env = environ(tmp_path / "home")
        pool = KernelPool(cwd=root, env=env, preimport=False)
        try:
            pool.want(
                WarmTarget("env-a", list(ARGV), "python"), started=headstart.claim("env-a", ARGV)
            )
            await until_warm(pool)
            kinds = [(e["event"], e["env_id"]) for e in pool.events]
            assert kinds == [("prewarm-adopt", "env-a"), ("prewarm-ready", "env-a")]
            warm = await pool.take("env-a", cwd=tmp_path)
            assert warm is not None and warm.pid == started.process.pid
            reply = await warm.kc.execute_interactive("import os; print(os.getcwd())", timeout=30)
            assert reply["content"]["status"] == "ok"
            await warm.shutdown()
            assert started.process.wait(10) is not None
            assert not started.connection_file.exists()
        finally:
            await pool.shutdown()

    asyncio.run(go())


@pytest.mark.integration
def test_a_pool_that_does_not_keep_it_stops_it(tmp_path: Path):
    root, started = begun(tmp_path)

    async def go():
        pool = KernelPool(cwd=root, env=environ(tmp_path / "home"), per_env=0)  # pool off
        pool.want(WarmTarget("env-a", list(ARGV), "python"), started=headstart.claim("env-a", ARGV))
        await pool.shutdown()

    asyncio.run(go())
    assert started.process.wait(10) is not None
    assert not psutil.pid_exists(started.process.pid) or (
        psutil.Process(started.process.pid).status() == psutil.STATUS_ZOMBIE
    )


@pytest.mark.integration
def test_it_imports_the_notebooks_packages_as_it_boots(tmp_path: Path):
    root, started = begun(tmp_path, imports=["tomlkit"])  # not what a kernel imports
    assert started.command.argv[: len(ARGV)] == tuple(ARGV)
    assert started.command.argv[len(ARGV)].startswith("--IPKernelApp.code_to_run=")

    async def go():
        pool = KernelPool(cwd=root, env=environ(tmp_path / "home"), preimport=False)
        try:
            early = headstart.claim("env-a", ARGV)  # claimed by the command the pool keeps
            assert early is started
            pool.want(WarmTarget("env-a", list(ARGV), "python", ("tomlkit",)), started=early)
            await until_warm(pool)
            warm = await pool.take("env-a", cwd=tmp_path)
            assert warm is not None and warm.pid == started.process.pid
            seen = []
            code = "import sys; print('tomlkit' in sys.modules, len(In), flush=True)"
            reply = await warm.kc.execute_interactive(
                code, timeout=30, output_hook=lambda m: seen.append(m["content"].get("text"))
            )
            assert reply["content"]["status"] == "ok"
            # imported before the kernel answered (the pool's own warm-up is off here), and the
            # notebook's history starts with its own first cell
            assert "True 2\n" in seen, seen
            assert reply["content"]["execution_count"] == 1
            await warm.shutdown()
        finally:
            await pool.shutdown()

    asyncio.run(go())
