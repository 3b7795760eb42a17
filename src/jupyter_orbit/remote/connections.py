"""SSH connections kept open for a while, one per host and process.

A server asks the ssh engine several things per kernel start (is the environment built? what
would building it take? build it; start the kernel), and the launcher's menu asks again each
time it is shown. Each of those opening its own SSH connection would cost a handshake and a
login every time. Here one connection per host is opened on first use and kept while it is
used (closed after ``IDLE`` seconds without use); what a host answered once (its home folder,
its uv) is kept with it. A host that could not be reached is remembered for ``RETRY`` seconds,
so a menu does not wait for the same timeout over and over.

The connections live on one event loop in a daemon thread of their own; synchronous callers
(the engine's methods, run from a server's worker threads or the CLI) hand it coroutines with
``call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jupyter_orbit.remote.errors import ConnectionDropped, RemoteError
from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from jupyter_orbit.remote.session import Session

T = TypeVar("T")
IDLE = 120.0  # seconds an unused connection stays open
RETRY = 15.0  # seconds a failed connection attempt is answered from memory
CONNECT_TIMEOUT = 15.0
KEEPALIVE = 10.0  # a dead link is noticed within two keepalives


@dataclass
class _Entry:
    session: Session | None = None
    used: float = 0.0
    failed: RemoteError | None = None
    failed_at: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)


class Connections:
    """Open SSH sessions by host; ``call`` runs coroutines on their loop."""

    def __init__(self, *, idle: float = IDLE, retry: float = RETRY) -> None:
        self.idle = idle
        self.retry = retry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start = threading.Lock()
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self._sweeper: asyncio.Task | None = None

    # -- the loop --------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._start:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    self._sweeper = loop.create_task(self._sweep_forever())
                    loop.run_forever()

                threading.Thread(target=run, name="orbit-ssh", daemon=True).start()
                ready.wait()
                self._loop = loop
            return self._loop

    def call(self, make: Callable[[], Awaitable[T]], *, timeout: float | None = None) -> T:
        """Run the coroutine ``make()`` returns on the connections' loop and wait for it."""
        loop = self._running_loop()

        async def bounded() -> T:
            return await asyncio.wait_for(make(), timeout)

        future = asyncio.run_coroutine_threadsafe(bounded(), loop)
        return future.result()

    # -- sessions --------------------------------------------------------------------------

    async def session(self, host: RemoteHost, store: HostStore) -> Session:
        """An open session to ``host`` (the one kept, else a new one); a ``RemoteError`` when it
        cannot be had (the same one again for ``retry`` seconds after a failure)."""
        from jupyter_orbit.remote.session import connect

        entry = self._entries.setdefault(_key(host, store), _Entry())
        async with entry.connecting:
            now = time.monotonic()
            if entry.session is not None and not entry.session.conn.is_closed():
                entry.used = now
                return entry.session
            entry.session = None
            entry.facts.clear()
            if entry.failed is not None and now - entry.failed_at < self.retry:
                raise entry.failed
            try:
                session = await connect(
                    host, store, timeout=CONNECT_TIMEOUT, keepalive=KEEPALIVE, keepalive_count=2
                )
            except RemoteError as e:
                entry.failed, entry.failed_at = e, time.monotonic()
                raise
            entry.session, entry.failed, entry.used = session, None, time.monotonic()
            return session

    async def fact(
        self, host: RemoteHost, store: HostStore, name: str, ask: Callable[[Session], Awaitable[T]]
    ) -> T:
        """What ``ask`` answers for ``host``, asked once per connection."""
        session = await self.session(host, store)
        entry = self._entries[_key(host, store)]
        if name not in entry.facts:
            entry.facts[name] = await ask(session)
        return entry.facts[name]

    def forget_facts(self, host: RemoteHost, store: HostStore) -> None:
        """After a change on the host (uv copied there): ask again next time."""
        if entry := self._entries.get(_key(host, store)):
            entry.facts.clear()

    async def drop(self, host: RemoteHost, store: HostStore) -> None:
        """Close the kept connection to ``host`` (after it stopped answering)."""
        entry = self._entries.pop(_key(host, store), None)
        if entry is not None and entry.session is not None:
            await entry.session.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle, 30.0))
            await self.sweep()

    async def sweep(self) -> None:
        """Close connections unused for ``idle`` seconds."""
        now = time.monotonic()
        for key, entry in list(self._entries.items()):
            if entry.session is not None and now - entry.used > self.idle:
                session, entry.session = entry.session, None
                entry.facts.clear()
                with contextlib.suppress(Exception):
                    await session.close()
            if entry.session is None and entry.failed is None:
                self._entries.pop(key, None)

    def close_all(self) -> None:
        """Close every connection (tests; a process about to exit need not)."""
        if self._loop is None or self._loop.is_closed():
            return

        async def close() -> None:
            for entry in list(self._entries.values()):
                if entry.session is not None:
                    with contextlib.suppress(Exception):
                        await entry.session.close()
            self._entries.clear()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)


def _key(host: RemoteHost, store: HostStore) -> tuple[str, str, str]:
    return (str(store.root), host.name, str(host.target))


async def guarded(host: RemoteHost, what: str, work: Awaitable[T], timeout: float) -> T:
    """``work``, or ``ConnectionDropped`` when the host does not answer within ``timeout``."""
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        raise ConnectionDropped(
            f"{host.name} did not answer within {timeout:.0f} s while {what}",
            "check the network; try again once the host answers",
        ) from None


# One per process: the engine's instances come and go, the connections stay.
CONNECTIONS = Connections()
