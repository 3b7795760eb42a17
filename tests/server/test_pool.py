"""The warm-kernel pool with real kernels: it waits for a user's kernel, boots at low priority,
keeps within its memory budget; and the budget's default and the recent-opens record."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import psutil
import pytest

from jupyter_orbit.server import pool_memory
from jupyter_orbit.server.pool import KernelPool, WarmTarget
from jupyter_orbit.server.recent_opens import MAX_PER_ROOT, RecentOpens
from jupyter_orbit.server.warm_priority import NICE_STEP

ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def target(env_id: str) -> WarmTarget:
    return WarmTarget(env_id, list(ARGV), "python")


def new_pool(tmp_path: Path, **kw) -> KernelPool:
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    return KernelPool(cwd=tmp_path, env=env, preimport=False, **kw)


async def until(check, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def events(pool: KernelPool, *kinds: str) -> list[tuple[str, str]]:
    return [(e["event"], e["env_id"]) for e in pool.events if not kinds or e["event"] in kinds]


def kernels() -> list[psutil.Process]:
    """This process's kernels that are running."""
    return [
        p
        for p in psutil.Process().children()
        if p.status() != psutil.STATUS_ZOMBIE and "ipykernel_launcher" in p.cmdline()
    ]


def ready(pool: KernelPool, env_id: str) -> int:
    return next((p["ready"] for p in pool.status() if p["env_id"] == env_id), 0)


@pytest.mark.integration
def test_no_prewarm_starts_while_a_users_kernel_starts(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path)
        try:
            hold = pool.hold("nb.ipynb")
            pool.want(target("env-a"))
            await asyncio.sleep(1.5)  # the user's kernel is still starting: nothing may start
            assert events(pool) == [("user-start", "nb.ipynb")]
            assert ready(pool, "env-a") == 0 and not kernels()
            hold.release()
            await until(lambda: ready(pool, "env-a") == 1)
            assert events(pool) == [
                ("user-start", "nb.ipynb"),
                ("user-ready", "nb.ipynb"),
                ("prewarm-start", "env-a"),
                ("prewarm-ready", "env-a"),
            ]
            (kernel,) = kernels()
            warm = await pool.take("env-a", cwd=tmp_path)
            assert warm is not None and warm.pid == kernel.pid
            await warm.shutdown()
        finally:
            await pool.shutdown()

    asyncio.run(go())


@pytest.mark.integration
def test_a_booting_prewarm_yields_while_a_users_kernel_starts(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path)
        base = os.getpriority(os.PRIO_PROCESS, 0)
        try:
            pool.want(target("env-a"))
            await until(lambda: any(s.booting for s in pool._slots.values()), timeout=60)
            (kernel,) = kernels()
            assert kernel.nice() == base  # nobody waits: it boots at the server's priority
            hold = pool.hold("nb.ipynb")
            assert kernel.nice() == min(19, base + NICE_STEP)
            assert kernel.ionice().ioclass == psutil.IOPRIO_CLASS_IDLE
            hold.release()
            assert kernel.nice() == base
            assert kernel.ionice().ioclass == psutil.IOPRIO_CLASS_NONE
            await until(lambda: ready(pool, "env-a") == 1)
        finally:
            await pool.shutdown()

    asyncio.run(go())


@pytest.mark.integration
def test_budget_drops_the_least_recently_used_warm_kernel(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path)
        try:
            pool.want(target("env-a"))
            await until(lambda: ready(pool, "env-a") == 1)
            one = pool.usage()["used_mb"]
            assert one > 5  # a real kernel's resident memory was measured
            pool.budget_mb = int(one * 1.5)  # room for one warm kernel, not two
            (first,) = kernels()
            pool.want(target("env-b"))  # now the most recently used
            await until(lambda: ("drop", "env-a") in events(pool, "drop"))
            assert ready(pool, "env-a") == 0 and ready(pool, "env-b") == 1
            assert pool.usage()["used_mb"] <= pool.budget_mb
            drop = next(e for e in pool.events if e["event"] == "drop")
            assert drop["why"] == "over budget"
            await until(lambda: not first.is_running() or first.status() == "zombie")
        finally:
            await pool.shutdown()

    asyncio.run(go())


@pytest.mark.integration
def test_a_kernel_alone_over_the_budget_is_not_started_again(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path, budget_mb=1)  # smaller than any kernel
        try:
            pool.want(target("env-a"))
            await until(lambda: events(pool, "drop"))
            assert [e.get("why") for e in pool.events if e["event"] == "drop"] == [
                "alone over budget"
            ]
            assert await pool.take("env-a", cwd=tmp_path) is None
            await asyncio.sleep(1)
            assert events(pool, "prewarm-start") == [("prewarm-start", "env-a")]  # once only
        finally:
            await pool.shutdown()

    asyncio.run(go())


def test_a_budget_of_zero_keeps_no_kernels_warm(tmp_path: Path):
    pool = KernelPool(cwd=tmp_path, env={}, budget_mb=0)
    assert not pool.enabled
    pool.want(target("env-a"))
    assert pool.status() == [] and not pool.events


def test_default_budget_follows_the_ram():
    gib = 1 << 30
    assert pool_memory.default_budget_mb(24 * gib) == 768
    assert pool_memory.default_budget_mb(64 * gib) == 2048
    assert pool_memory.default_budget_mb(8 * gib) == 256 == pool_memory.DEFAULT_MIN_MB
    assert pool_memory.default_budget_mb(2 * gib) == pool_memory.DEFAULT_MIN_MB
    assert pool_memory.default_budget_mb(1024 * gib) == pool_memory.DEFAULT_MAX_MB == 2048
    assert new_pool(Path()).budget_mb == pool_memory.default_budget_mb()


def test_recent_opens_are_kept_per_root_most_recent_first(tmp_path: Path):
    record = RecentOpens(tmp_path / "profile" / "recent-opens.json")
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(MAX_PER_ROOT + 2):
        record.remember(a, {"env_id": f"e{i}", "argv": ["x"]})
    record.remember(b, {"env_id": "other", "argv": ["y"]})
    record.remember(a, {"env_id": "e3", "argv": ["z"]})  # opened again: first once more
    assert [e["env_id"] for e in record.of(a)][:3] == [
        "e3",
        f"e{MAX_PER_ROOT + 1}",
        f"e{MAX_PER_ROOT}",
    ]
    assert len(record.of(a)) == MAX_PER_ROOT and record.of(a)[0]["argv"] == ["z"]
    assert [e["env_id"] for e in record.of(b)] == ["other"]
    assert record.of(tmp_path / "c") == []
    assert (record.path.stat().st_mode & 0o777) == 0o600
    record.path.write_text("not json")  # a broken record is no record
    assert record.of(a) == []
    record.path.write_text(json.dumps({"roots": {str(a): [{"no": "env"}, "x"]}}))
    assert record.of(a) == []


def test_a_default_does_not_push_out_the_environments_used(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path, max_envs=2)
        hold = pool.hold()  # nothing starts: only the order is looked at
        try:
            pool.want(target("used-1"))
            pool.want(target("used-2"))
            pool.want(target("default"), used=False)  # no room left: not kept
            assert [p["env_id"] for p in pool.status()] == ["used-2", "used-1"]
            pool.want(target("used-1"))
            assert [p["env_id"] for p in pool.status()] == ["used-1", "used-2"]
            pool.want(target("used-2"), used=False)  # kept already: stays where it is
            assert [p["env_id"] for p in pool.status()] == ["used-1", "used-2"]
        finally:
            hold.release()
            await pool.shutdown()
        assert events(pool, "prewarm-start") == []

    asyncio.run(go())


@pytest.mark.integration
def test_a_guess_starts_once_the_environments_used_are_warm(tmp_path: Path):
    async def go():
        pool = new_pool(tmp_path)
        try:
            pool.want(target("default"), used=False)  # the launcher's card, wanted first
            pool.want(target("used"))
            await until(lambda: ready(pool, "default") == 1 and ready(pool, "used") == 1)
            assert events(pool, "prewarm-start", "prewarm-ready") == [
                ("prewarm-start", "used"),
                ("prewarm-ready", "used"),
                ("prewarm-start", "default"),
                ("prewarm-ready", "default"),
            ]
        finally:
            await pool.shutdown()

    asyncio.run(go())
