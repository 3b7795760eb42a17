"""Jobs whose steps a page follows live: a launch from the kernel menu, a kernel's build.

A job keeps every event it emitted, so a page that connects late or reconnects sees them all;
``stream`` sends them as server-sent events (``id:`` is the event's index, ``Last-Event-ID``
resumes) until the job is done. ``JobProgress`` is the ``Progress`` a build reports to, turned
into job events; it knows the plan's steps, so each step event says "n of m".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.base.handlers import APIHandler


@dataclass
class Job:
    """Something in progress: its events so far."""

    id: str
    path: str  # the notebook, relative to the server's root, with forward slashes
    started: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def emit(self, event: dict[str, Any]) -> None:
        if self.finished:  # one "done" per job; what comes after it is not news
            return
        event["t"] = round(time.monotonic() - self.started, 3)
        self.events.append(event)
        self.finished = bool(event.get("done"))
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class JobProgress:
    """The ``Progress`` a build reports to, turned into job events (safe from any thread).

    Once told the plan (``plan``), a step that is the plan's next one carries ``n`` and ``m``;
    the engines' finer steps in between (a base image, a layer) carry the ``n`` they belong to.
    """

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self.warnings: list[str] = []
        self._steps: list[tuple[str, str]] = []
        self._n = 0

    def _send(self, event: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.job.emit, event)

    def plan(self, steps: list[tuple[str, str]]) -> None:
        self._steps, self._n = list(steps), 0
        self._send({"plan": [{"action": a, "detail": d} for a, d in steps], "m": len(steps)})

    def step(self, action: str, detail: str = "") -> None:
        event: dict[str, Any] = {"step": action, "detail": detail}
        if self._steps:
            if self._n < len(self._steps) and self._steps[self._n] == (action, detail):
                self._n += 1
            event.update(n=max(self._n, 1), m=len(self._steps))
        self._send(event)

    def log(self, line: str) -> None:
        if line.strip():
            self._send({"log": line.rstrip()[:500]})

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._send({"warning": message})


async def stream(handler: APIHandler, job: Job, *, first: dict[str, Any] | None = None) -> None:
    """Send ``job``'s events to ``handler``'s client as server-sent events until it is done
    (``first``: an event sent before them, without an id)."""
    handler.set_header("Content-Type", "text/event-stream")
    handler.set_header("Cache-Control", "no-cache")
    handler.set_header("X-Accel-Buffering", "no")
    last = handler.request.headers.get("Last-Event-ID", "")
    sent = int(last) + 1 if last.isdigit() else 0
    if first is not None and not last:
        handler.write(f"data: {json.dumps(first, default=str)}\n\n")
    while True:
        while sent < len(job.events):
            handler.write(f"id: {sent}\ndata: {json.dumps(job.events[sent], default=str)}\n\n")
            sent += 1
        try:
            await handler.flush()
        except Exception:  # the page went away
            return
        if job.finished and sent >= len(job.events):
            break
        await job.changed(timeout=15)
        if sent >= len(job.events):
            handler.write(": still working\n\n")
    handler.finish(set_content_type="text/event-stream")
