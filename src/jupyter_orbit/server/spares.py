"""Clones of running kernels' environments, kept ready so a hot add need not wait for one.

Hot add grows a new environment from the running one (``engines.grow``), and the first step,
a clone with files of its own, is most of its time where the disk cannot share blocks (ext4:
seconds for a pandas environment). So once a Python kernel has answered and no user's kernel is
starting, the server clones that kernel's environment in the background, at idle priority,
and keeps the clone (a *spare*) until a hot add takes it, or the environment's last kernel
stops, or the server stops. A hot add that arrives while the spare is still being made gets
it at the server's priority and waits for the rest; one that arrives before it began makes
its own.

Spares cost disk, not memory: at most ``limit`` are kept (the environments used last), none
where the disk would keep less than ``MIN_FREE`` free afterwards, and a spare is a hidden build
folder (``.build-<id>-spare…``), so one a crashed server left behind is a leftover ``orbit gc``
removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit.engines import bytecode, storage
from jupyter_orbit.engines.grow import clone_ahead, spare_folder
from jupyter_orbit.server.warm_priority import Priority

if TYPE_CHECKING:
    from jupyter_orbit.engines.local import LocalEngine
    from jupyter_orbit.model import Environment
    from jupyter_orbit.server.pool import KernelPool

DELAY = 2.0  # seconds after a kernel answered before its spare is begun (it imports first)
MIN_FREE = 2 << 30  # bytes the disk keeps free after a spare is made


@dataclass(eq=False)
class _Spare:
    env_id: str
    task: asyncio.Task | None = None
    pid: int | None = None  # the copying process, while it runs
    copying: bool = False
    urgent: bool = False  # a hot add waits for it
    dropped: bool = False
    folder: Path | None = None  # once made
    dest: Path | None = None  # where it is being made
    after: list[asyncio.Future] = field(default_factory=list)


def has_room(engine: LocalEngine, env: Environment) -> bool:
    """Whether a copy of ``env`` leaves the disk at least ``MIN_FREE`` free."""
    try:
        free = shutil.disk_usage(engine.root).free
    except OSError:
        return False
    return free - storage.sizes(env.location)[0] >= MIN_FREE


class Spares:
    """The spares of one server (``runtime.spares``)."""

    def __init__(
        self, pool: KernelPool | None = None, *, limit: int = 1, log: logging.Logger | None = None
    ) -> None:
        self.limit = limit
        self.log = log or logging.getLogger(__name__)
        self._pool = pool  # no spare is made while a user's kernel starts
        self._spares: OrderedDict[str, _Spare] = OrderedDict()  # used last, last
        self._priority = Priority()
        self.delay = DELAY

    def want(
        self,
        engine: LocalEngine,
        env: Environment,
        *,
        after: list[asyncio.Future] | None = None,
    ) -> None:
        """Keep a spare of ``env`` (made once the futures ``after`` are done, e.g. bytecode
        jobs writing into it); the environments wanted longest ago lose theirs first."""
        if self.limit <= 0:
            return
        if env.env_id in self._spares:
            self._spares.move_to_end(env.env_id)
            return
        spare = _Spare(env.env_id, after=list(after or ()))
        spare.task = asyncio.ensure_future(self._make(spare, engine, env))
        spare.task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._spares[env.env_id] = spare
        while len(self._spares) > self.limit:
            _, old = self._spares.popitem(last=False)
            self._drop(old)

    async def _make(self, spare: _Spare, engine: LocalEngine, env: Environment) -> Path | None:
        if spare.after:
            await asyncio.gather(*spare.after, return_exceptions=True)
        await asyncio.sleep(self.delay)
        while self._pool is not None and self._pool.holding:
            await self._pool.idle()
            await asyncio.sleep(self.delay)  # the kernel that started imports next
        spare.copying = True
        spare.dest = spare_folder(engine, env)

        def started(pid: int) -> None:
            spare.pid = pid
            if not spare.urgent:
                self._priority.lower(pid)

        def make() -> Path | None:
            bytecode.wait(env.location)  # never copy a .pyc being written
            if spare.dropped or not has_room(engine, env):
                return None
            return clone_ahead(engine, env, started=started, dest=spare.dest)

        try:
            path = await asyncio.to_thread(make)
        except OSError as e:
            if not spare.dropped:
                self.log.info("Orbit: no spare of %s for hot add: %s", env.env_id[:8], e)
            return None
        finally:
            spare.pid = None
        if path is not None and spare.dropped:
            await asyncio.to_thread(shutil.rmtree, path, True)
            return None
        if path is not None:
            spare.folder = path
            self.log.debug("Orbit: a spare of %s is ready for hot add", env.env_id[:8])
        return path

    async def take(self, env_id: str) -> Path | None:
        """The spare of ``env_id`` for a hot add (the caller owns it from here), waiting for
        the rest of one being made; None if there is none or it had not begun."""
        spare = self._spares.pop(env_id, None)
        if spare is None:
            return None
        if spare.folder is not None:
            return spare.folder
        if spare.task is None:
            return None
        if not spare.copying:  # not begun: the hot add clones at once, at its own priority
            spare.task.cancel()
            return None
        spare.urgent = True
        if spare.pid is not None:
            self._priority.restore(spare.pid)
        try:
            return await asyncio.shield(spare.task)
        except Exception:
            return None

    def put(self, env_id: str, folder: Path) -> asyncio.Future | None:
        """A spare a hot add took and did not use (the change was refused, or needed no
        growing): kept again if ``env_id`` has none and may, removed otherwise (in the
        background; the future to await, if any)."""
        spare = _Spare(env_id, folder=folder)
        if self.limit <= 0 or env_id in self._spares or not folder.is_dir():
            return self._drop(spare)
        self._spares[env_id] = spare
        while len(self._spares) > self.limit:
            _, old = self._spares.popitem(last=False)
            self._drop(old)
        return None

    def forget(self, env_id: str) -> None:
        """``env_id``'s last kernel stopped: its spare goes."""
        spare = self._spares.pop(env_id, None)
        if spare is not None:
            self._drop(spare)

    def _drop(self, spare: _Spare) -> asyncio.Future | None:
        """Remove ``spare`` (in the background; the future to await, if any)."""
        spare.dropped = True
        task = spare.task
        if spare.folder is not None:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(None, shutil.rmtree, spare.folder, True)
        if task is None or task.done():
            return None
        if not spare.copying:
            task.cancel()
            return None
        if spare.pid is not None:  # stop the copy; _make removes what it made
            with contextlib.suppress(ProcessLookupError):
                os.kill(spare.pid, signal.SIGKILL)
        return task

    def status(self) -> dict[str, dict[str, str]]:
        """env id → {"state": "waiting", "copying" or "ready"; "folder" once it has one},
        for the status API (``orbit gc`` keeps those folders)."""
        out: dict[str, dict[str, str]] = {}
        for env_id, spare in self._spares.items():
            if spare.folder is not None:
                out[env_id] = {"state": "ready", "folder": str(spare.folder)}
            elif spare.task is not None and not spare.task.done():
                if spare.copying and spare.dest is not None:
                    out[env_id] = {"state": "copying", "folder": str(spare.dest)}
                else:
                    out[env_id] = {"state": "waiting"}
        return out

    async def shutdown(self) -> None:
        """Remove every spare (stopping the copies being made) before the server stops."""
        spares = list(self._spares.values())
        self._spares.clear()
        pending = [f for f in map(self._drop, spares) if f is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
