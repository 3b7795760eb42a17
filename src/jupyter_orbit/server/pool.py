"""Prewarmed kernels: started ahead of need, one per recently used environment.

A kernel takes about a second to start and its packages as long again to import; a warm kernel
has done both, so the notebook that asks next gets a ready kernel at once. The pool is bounded
(``per_env`` kernels for at most ``max_envs`` environments, least recently used dropped first);
a kernel handed out is replaced in the background. Pool kernels start in the server's root
folder and are moved into the notebook's folder when they are handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from jupyter_orbit.execute import new_kernel_manager

# Runs silently in a fresh kernel: import the top-level modules of the packages the notebook
# declares, so its own imports find them loaded. Failures are the notebook's to report.
_WARMUP = """
def _orbit_warm(names):
    import importlib, importlib.metadata as md
    for name in names:
        try:
            files = md.distribution(name).files or ()
        except Exception:
            continue
        tops = set()
        for f in files:
            top = f.parts[0] if f.parts else ""
            if top.endswith(".py") and len(f.parts) == 1:
                top = top[:-3]
            if top.isidentifier() and not top.startswith("_") and top != "bin":
                tops.add(top)
        for top in sorted(tops):
            try:
                importlib.import_module(top)
            except Exception:
                pass
_orbit_warm({names}); del _orbit_warm
"""


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

    async def shutdown(self) -> None:
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)


@dataclass
class _Slot:
    target: WarmTarget
    ready: list[Warm] = field(default_factory=list)
    starting: set[asyncio.Task] = field(default_factory=set)


class KernelPool:
    def __init__(
        self,
        *,
        cwd: Path,
        env: dict[str, str],
        per_env: int = 1,
        max_envs: int = 3,
        preimport: bool = True,
        log: logging.Logger | None = None,
    ) -> None:
        self.cwd = cwd
        self.env = env
        self.per_env = per_env
        self.max_envs = max_envs
        self.preimport = preimport
        self.log = log or logging.getLogger(__name__)
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._stopping: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return self.per_env > 0 and self.max_envs > 0

    def want(self, target: WarmTarget) -> None:
        """Keep warm kernels for ``target`` (most recently used first); start what is missing."""
        if not self.enabled or _adopt_code(target, Path(), "") is None:
            return
        slot = self._slots.pop(target.env_id, None) or _Slot(target)
        if slot.target.argv != target.argv:  # started for another command: not wanted now
            for warm in slot.ready:
                self._retire(warm)
            slot.ready.clear()
        slot.target = target
        self._slots[target.env_id] = slot
        self._slots.move_to_end(target.env_id, last=False)
        while len(self._slots) > self.max_envs:
            _, dropped = self._slots.popitem()
            self._discard(dropped)
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
        if not slot.ready and slot.starting:
            # One is on its way: it will be ready sooner than a kernel started now.
            await asyncio.wait(set(slot.starting), return_when=asyncio.FIRST_COMPLETED)
        warm = slot.ready.pop(0) if slot.ready else None
        if warm is not None and argv is not None and warm.argv != argv:
            self._retire(warm)
            warm = None
        self._slots.move_to_end(env_id, last=False)
        self._fill(slot)
        if warm is None:
            return None
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
            {"env_id": k, "ready": len(s.ready), "starting": len(s.starting)}
            for k, s in self._slots.items()
        ]

    async def shutdown(self) -> None:
        slots = list(self._slots.values())
        self._slots.clear()
        for slot in slots:
            for task in slot.starting:
                task.cancel()
        await asyncio.gather(
            *(w.shutdown() for s in slots for w in s.ready), return_exceptions=True
        )

    def _fill(self, slot: _Slot) -> None:
        missing = self.per_env - len(slot.ready) - len(slot.starting)
        for _ in range(max(0, missing)):
            task = asyncio.ensure_future(self._start(slot))
            slot.starting.add(task)
            task.add_done_callback(slot.starting.discard)

    def _discard(self, slot: _Slot) -> None:
        for task in slot.starting:
            task.cancel()
        for warm in slot.ready:
            self._retire(warm)
        slot.ready.clear()

    def _retire(self, warm: Warm) -> None:
        task = asyncio.ensure_future(warm.shutdown())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _start(self, slot: _Slot) -> None:
        target = slot.target
        km = new_kernel_manager(target.argv, target.language, target.env_id)
        kc = None
        try:
            await km.start_kernel(cwd=str(self.cwd), env={**self.env, **target.env})
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=120)
            if self.preimport and target.imports and target.language == "python":
                await kc.execute_interactive(
                    _WARMUP.format(names=json.dumps(list(target.imports))),
                    silent=True,
                    store_history=False,
                    timeout=300,
                )
        except BaseException as e:
            if not isinstance(e, asyncio.CancelledError | Exception):
                raise
            if isinstance(e, Exception):  # a broken environment must not break the server
                self.log.warning("Orbit: could not prewarm a kernel for %s: %s", target.env_id, e)
            if kc is not None:
                kc.stop_channels()
            with contextlib.suppress(Exception):
                await km.shutdown_kernel(now=True)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        warm = Warm(km, kc, target.argv)
        if self._slots.get(target.env_id) is slot:
            slot.ready.append(warm)
        else:
            await warm.shutdown()


def _adopt_code(target: WarmTarget, cwd: Path, session: str) -> str | None:
    from jupyter_orbit.kernels.recipes import find_recipe

    recipe = find_recipe(target.recipe)
    return recipe.adopt_code(cwd, session) if recipe else None
