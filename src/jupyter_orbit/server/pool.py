"""Prewarmed kernels: started ahead of need, one per recently used environment.

A kernel takes about a second to start and its packages as long again to import; a warm kernel
has done both, so the notebook that asks next gets a ready kernel at once. The pool is bounded
(``per_env`` kernels for at most ``max_envs`` environments, least recently used dropped first)
and governed by a memory budget: warm kernels' resident memory is measured, and the least
recently used ones are dropped when they hold more than the budget or the machine runs short
of memory (``pool_memory``). A kernel handed out is replaced in the background. Pool kernels
start in the server's root folder and are moved into the notebook's folder when handed out.

No prewarm competes with a kernel someone waits for: while a user's kernel starts (a ``hold``,
from the provisioner, until that kernel answers) no pool kernel is started, and the pool
kernels still booting drop to low priority (``warm_priority``) until no hold is left; one
handed out gets the server's priority at once. (Booting at low priority all along was
measured to make the first notebook after ``orbit up`` wait longer on a busy machine.) A
guess (the kernels kept warm for new notebooks) starts once no kernel of an environment a
notebook used is on its way. The pool keeps a short log of what it did (``events``), which
the status API shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from jupyter_orbit.execute import adopting_manager, new_kernel_manager, wait_ready
from jupyter_orbit.server import pool_memory
from jupyter_orbit.server.warm_priority import Priority

if TYPE_CHECKING:
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.prestart import Started

CHECK_EVERY = 30.0  # seconds between checks of the warm kernels' memory and the machine's


@dataclass
class WarmTarget:
    env_id: str
    argv: list[str]
    language: str
    imports: tuple[str, ...] = ()
    recipe: str = "python"
    env: dict[str, str] = field(default_factory=dict)  # the recipe's own variables


@dataclass
class Warm:
    """A started kernel and a client whose channels are already connected (iopub subscribed)."""

    km: AsyncKernelManager
    kc: AsyncKernelClient
    argv: list[str] = field(default_factory=list)  # the command it was started with
    rss: int = 0  # resident memory of its processes when last measured, in bytes

    @property
    def pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None)

    async def shutdown(self) -> None:
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)


@dataclass
class _Slot:
    target: WarmTarget
    ready: list[Warm] = field(default_factory=list)
    starting: set[asyncio.Task] = field(default_factory=set)
    booting: dict[asyncio.Task, int] = field(default_factory=dict)  # started: task -> its pid
    too_big: bool = False  # alone it held more than the budget: not started again
    early: Started | None = None  # its kernel, started before the server (``headstart``)
    used: bool = False  # a notebook used it (not only a guess for new notebooks)

    def drop_early(self) -> None:
        """Stop the kernel started before the server, if it was not adopted."""
        early, self.early = self.early, None
        if early is not None:
            early.discard()


class Hold:
    """A user's kernel is starting: no pool kernel starts until every hold is released."""

    def __init__(self, pool: KernelPool, label: str) -> None:
        self.label = label
        self._pool: KernelPool | None = pool

    def release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool._release(self.label)


class KernelPool:
    def __init__(
        self,
        *,
        cwd: Path,
        env: dict[str, str],
        per_env: int = 1,
        max_envs: int = 3,
        preimport: bool = True,
        budget_mb: int | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.cwd = cwd
        self.env = env
        self.per_env = per_env
        self.max_envs = max_envs
        self.preimport = preimport
        # None: sized from this machine's RAM
        self.budget_mb = pool_memory.default_budget_mb() if budget_mb is None else budget_mb
        self.log = log or logging.getLogger(__name__)
        self.events: deque[dict] = deque(maxlen=200)
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._stopping: set[asyncio.Task] = set()
        self._holds = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._priority = Priority()
        self._watcher: asyncio.Task | None = None
        self._typical_rss = 0  # the last warm kernel's measured size, in bytes

    @property
    def enabled(self) -> bool:
        return self.per_env > 0 and self.max_envs > 0 and self.budget_mb > 0

    def hold(self, label: str = "") -> Hold:
        """A user's kernel starts now: pool kernels wait until ``release`` (call it once the
        kernel answered, or failed)."""
        self._holds += 1
        self._idle.clear()
        self._event("user-start", label)
        for slot in self._slots.values():  # kernels booting now yield to it
            for pid in slot.booting.values():
                self._priority.lower(pid)
        return Hold(self, label)

    def _release(self, label: str) -> None:
        self._holds -= 1
        self._event("user-ready", label)
        if self._holds == 0:
            self._idle.set()
            for slot in self._slots.values():
                for pid in slot.booting.values():
                    self._priority.restore(pid)

    @property
    def holding(self) -> bool:
        """Whether a user's kernel is starting now."""
        return self._holds > 0

    async def idle(self) -> None:
        """Return once no user's kernel is starting."""
        while self._holds:
            await self._idle.wait()

    def want(
        self, target: WarmTarget, *, used: bool = True, started: Started | None = None
    ) -> None:
        """Keep warm kernels for ``target`` (most recently used first); start what is missing.

        ``used=False``: a guess (a default for new notebooks), not a use: it goes after the
        environments actually used, and does not move ahead of them when already kept.
        ``started``: a kernel of ``target`` started already (``headstart``: its command may
        also import the notebook's packages as it boots), adopted as its first warm kernel;
        stopped if the pool does not keep ``target``."""
        if not self.enabled or _adopt_code(target, Path(), "") is None:
            if started is not None:
                started.discard()
            return
        if not used and target.env_id in self._slots:
            return
        slot = self._slots.pop(target.env_id, None) or _Slot(target)
        slot.used = slot.used or used
        if slot.target.argv != target.argv:  # started for another command: not wanted now
            for warm in slot.ready:
                self._retire(warm)
            slot.ready.clear()
            slot.too_big = False
            slot.drop_early()
        if started is not None:
            slot.drop_early()
            slot.early = started
        slot.target = target
        self._slots[target.env_id] = slot
        self._slots.move_to_end(target.env_id, last=not used)
        while len(self._slots) > self.max_envs:
            _, dropped = self._slots.popitem()
            self._discard(dropped)
        if self._slots.get(target.env_id) is slot:  # a guess may find no room
            self._fill(slot)

    async def take(
        self, env_id: str, *, cwd: Path, session: str = "", argv: list[str] | None = None
    ) -> Warm | None:
        """A ready kernel for ``env_id`` moved into ``cwd``, or None if none is near.

        With ``argv``, only a kernel started with that same command will do (a container
        kernel's command also says which folders it sees and which options it has).
        """
        slot = self._slots.get(env_id)
        if slot is None or (argv is not None and slot.target.argv != argv):
            return None
        if not slot.ready and slot.booting:
            # One is on its way: it will be ready sooner than a kernel started now, at the
            # priority of a kernel someone waits for. (One still waiting to start is not.)
            for pid in slot.booting.values():
                self._priority.restore(pid)
            await asyncio.wait(set(slot.booting), return_when=asyncio.FIRST_COMPLETED)
            if self._slots.get(env_id) is not slot:  # dropped meanwhile (budget, other envs)
                return None
        warm = slot.ready.pop(0) if slot.ready else None
        if warm is not None and argv is not None and warm.argv != argv:
            self._retire(warm)
            warm = None
        self._slots.move_to_end(env_id, last=False)
        self._fill(slot)
        if warm is None:
            return None
        self._event("take", env_id)
        if warm.pid:
            self._priority.restore(warm.pid)
        try:
            if not await warm.km.is_alive():
                raise RuntimeError("the warm kernel died")
            reply = await warm.kc.execute_interactive(
                _adopt_code(slot.target, cwd, session) or "",
                silent=True,
                store_history=False,
                timeout=10,
            )
            if reply["content"].get("status") != "ok":
                raise RuntimeError(f"it could not move to {cwd}")
        except Exception as e:
            self.log.warning("Orbit: dropping a warm kernel for %s: %s", env_id, e)
            with contextlib.suppress(Exception):
                await warm.shutdown()
            return None
        return warm

    def status(self) -> list[dict]:
        return [
            {
                "env_id": k,
                "ready": len(s.ready),
                "starting": len(s.starting),
                "rss_mb": round(sum(w.rss for w in s.ready) / pool_memory.MIB, 1),
            }
            for k, s in self._slots.items()
        ]

    def usage(self) -> dict:
        """The budget and what the warm kernels hold of it, with the pool's recent events."""
        used = sum(w.rss for s in self._slots.values() for w in s.ready)
        return {
            "budget_mb": self.budget_mb,
            "used_mb": round(used / pool_memory.MIB, 1),
            "warm": sum(len(s.ready) for s in self._slots.values()),
            "events": list(self.events),
        }

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        slots = list(self._slots.values())
        self._slots.clear()
        for slot in slots:
            slot.drop_early()
        starting = [t for slot in slots for t in slot.starting]
        for task in starting:
            task.cancel()
        await asyncio.gather(
            *(w.shutdown() for s in slots for w in s.ready),
            *starting,  # each stops the kernel it was starting
            *self._stopping,
            return_exceptions=True,
        )

    def _event(self, kind: str, env_id: str = "", **more: object) -> None:
        at = round(time.monotonic(), 4)
        self.events.append({"t": at, "event": kind, "env_id": env_id, **more})

    def _fill(self, slot: _Slot) -> None:
        if slot.too_big:
            return
        missing = self.per_env - len(slot.ready) - len(slot.starting)
        for _ in range(max(0, missing)):
            task = asyncio.ensure_future(self._start(slot))
            slot.starting.add(task)
            task.add_done_callback(slot.starting.discard)

    def _discard(self, slot: _Slot) -> None:
        slot.drop_early()
        for task in slot.starting:
            task.cancel()
        for warm in slot.ready:
            self._retire(warm)
        slot.ready.clear()

    def _used_starting(self) -> bool:
        """Whether a kernel for an environment a notebook used is on its way (the notebook
        opened next most likely wants it: a guess's kernel does not compete with it)."""
        return any(s.used and s.starting for s in self._slots.values())

    def _room_for(self, slot: _Slot) -> bool:
        """Whether a kernel for ``slot`` fits in the budget beside the warm kernels of the
        environments used more recently (a typical kernel's size: the last one measured)."""
        ahead = 0
        for other in self._slots.values():
            if other is slot:
                break
            ahead += sum(w.rss for w in other.ready)
        return ahead == 0 or ahead + self._typical_rss <= self.budget_mb * pool_memory.MIB

    def _enforce(self) -> None:
        """Drop the least recently used warm kernels while they hold more than the budget, and
        one (the least recently used) when the machine is short of memory."""
        budget = self.budget_mb * pool_memory.MIB
        used = sum(w.rss for s in self._slots.values() for w in s.ready)
        pressure = used > 0 and pool_memory.under_pressure()
        warm_slots = [(k, s) for k, s in self._slots.items() if s.ready]
        for env_id, slot in reversed(warm_slots):  # least recently used first
            if not (used > budget or pressure):
                return
            warm = slot.ready.pop()
            used -= warm.rss
            why = "memory pressure" if pressure else "over budget"
            if len(warm_slots) == 1 and not pressure and warm.rss > budget:
                slot.too_big = True  # alone over the budget: starting it again would only churn
                why = "alone over budget"
            self._event("drop", env_id, why=why, rss_mb=round(warm.rss / pool_memory.MIB, 1))
            self.log.info("Orbit: dropped a warm kernel for %s (%s)", env_id, why)
            self._retire(warm)
            pressure = False  # one at a time: the next check sees what that gave back

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            for slot in list(self._slots.values()):
                for warm in slot.ready:
                    if warm.pid:
                        warm.rss = await asyncio.to_thread(pool_memory.rss, warm.pid)
            self._enforce()

    def _retire(self, warm: Warm) -> None:
        task = asyncio.ensure_future(warm.shutdown())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _start(self, slot: _Slot) -> None:
        target = slot.target
        early, slot.early = slot.early, None  # started for this very target (``want``)
        if early is None:
            await self.idle()  # never while a user's kernel starts
            while not slot.used and self._used_starting():  # guesses after what was used
                await asyncio.sleep(0.05)
                await self.idle()
            if not self._room_for(slot):  # it would only be dropped again once started
                self._event("skip", target.env_id, why="no room in the budget")
                return
        task = asyncio.current_task()
        kc = None
        if early is not None:  # booting since the server's process began: taken over
            km = adopting_manager(early, target.language)
        else:
            km = new_kernel_manager(target.argv, target.language, target.env_id)
        try:
            if early is not None:
                self._event("prewarm-adopt", target.env_id)
                await km.start_kernel(cwd=early.command.cwd)
            else:
                self._event("prewarm-start", target.env_id)
                await km.start_kernel(cwd=str(self.cwd), env={**self.env, **target.env})
            pid = getattr(km.provisioner, "pid", None)
            if pid and task is not None:
                if self._holds:  # a user's kernel started meanwhile
                    self._priority.lower(pid)
                slot.booting[task] = pid
            kc = km.client()
            kc.start_channels()
            await wait_ready(km, kc, timeout=120)  # no IOPub quiet wait
            if self.preimport and (code := _warm_code(target)) is not None:
                await kc.execute_interactive(code, silent=True, store_history=False, timeout=300)
        except BaseException as e:
            if not isinstance(e, asyncio.CancelledError | Exception):
                raise
            if isinstance(e, Exception):  # a broken environment must not break the server
                self.log.warning("Orbit: could not prewarm a kernel for %s: %s", target.env_id, e)
            if kc is not None:
                kc.stop_channels()
            if early is not None:  # stopped here if its manager had not taken it over yet
                early.discard()
            with contextlib.suppress(Exception):
                await km.shutdown_kernel(now=True)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        finally:
            slot.booting.pop(task, None)
        warm = Warm(km, kc, target.argv)
        if warm.pid:
            warm.rss = self._typical_rss = await asyncio.to_thread(pool_memory.rss, warm.pid)
        if self._slots.get(target.env_id) is slot:
            slot.ready.append(warm)
            self._event("prewarm-ready", target.env_id, rss_mb=round(warm.rss / pool_memory.MIB, 1))
            self._enforce()
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch())
        else:
            await warm.shutdown()


def _recipe(target: WarmTarget) -> KernelRecipe | None:
    from jupyter_orbit.kernels.recipes import find_recipe

    return find_recipe(target.recipe)


def _adopt_code(target: WarmTarget, cwd: Path, session: str) -> str | None:
    recipe = _recipe(target)
    return recipe.adopt_code(cwd, session) if recipe else None


def _warm_code(target: WarmTarget) -> str | None:
    recipe = _recipe(target)
    return recipe.warm_code(target.imports) if recipe else None
