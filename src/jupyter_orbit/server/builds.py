"""Preparing each notebook's kernel, followed live from JupyterLab.

The kernel provisioner opens a build job for the notebook whose kernel it starts (``Builds.begin``)
and reports every step of preparing it there: resolving, the plan's steps ("n of m"), the
kernel starting, and the end: ready, or what went wrong (an environment that cannot be built, a
kernel that exited as it started, with its last lines on stderr). Orbit's JupyterLab extension
follows the job of an open notebook at ``/orbit/api/builds/events?path=NOTEBOOK`` (server-sent
events, as the kernel menu follows a launch), shows its progress beside the kernel's status,
and holds the cells run meanwhile until the kernel is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from jupyter_orbit.server.jobs import Job, stream

if TYPE_CHECKING:
    from jupyter_orbit.server.runtime import OrbitRuntime

_KEEP = 64  # notebooks whose last build is kept
RECENT = 30.0  # seconds: a finished build this recent is still news to a page that just asked
WAIT = 20.0  # seconds a page waits for a build to begin before it is told there is none


class Builds:
    """The latest build job of each notebook (by real path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs: dict[Path, Job] = {}
        self._begun = asyncio.Event()  # set (and replaced) whenever a build begins

    def begin(self, notebook: Path) -> Job:
        key = notebook.resolve()
        try:
            rel = key.relative_to(self.root).as_posix()
        except ValueError:
            rel = str(key)
        job = Job(secrets.token_urlsafe(9), rel)
        self.jobs.pop(key, None)
        self.jobs[key] = job
        while len(self.jobs) > _KEEP:
            self.jobs.pop(next(iter(self.jobs)))
        self._begun.set()
        self._begun = asyncio.Event()
        return job

    def news(self, notebook: Path, after: str = "") -> Job | None:
        """The build of ``notebook`` a page that saw job ``after`` has not seen: running, or
        finished within ``RECENT`` seconds."""
        job = self.jobs.get(notebook.resolve())
        if job is None or job.id == after:
            return None
        if job.finished and time.monotonic() - job.started > RECENT:
            return None
        return job

    async def wait(self, notebook: Path, after: str = "", timeout: float = WAIT) -> Job | None:
        """``news``, waiting up to ``timeout`` seconds for a build to begin."""
        deadline = time.monotonic() + timeout
        while (job := self.news(notebook, after)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._begun.wait(), left)
        return job


class BuildEventsHandler(APIHandler):
    """The steps of preparing one notebook's kernel, as server-sent events."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        runtime: OrbitRuntime = self.settings["orbit_runtime"]
        rel = self.get_argument("path").strip().strip("/")
        notebook = (runtime.root_dir / rel).resolve()
        if not rel or not notebook.is_relative_to(runtime.root_dir):
            raise web.HTTPError(400, f"{rel or '/'} is not a notebook under the server's root")
        job = await runtime.builds.wait(notebook, self.get_argument("after", ""))
        if job is None:  # nothing is being prepared for it: the kernel is up, or not asked for
            idle = 'data: {"done": true, "idle": true}\n\n'
            self.finish(idle, set_content_type="text/event-stream")
            return
        await stream(self, job, first={"job": job.id, "path": job.path})


def handlers() -> list[tuple[str, type]]:
    return [(r"/orbit/api/builds/events", BuildEventsHandler)]
