"""Follow a notebook's build in a running Orbit server, as its JupyterLab extension does."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx

from tests.support.kernelws import Server


def read_events(server: Server, path: str, after: str = "", timeout: float = 900) -> list[dict]:
    """Every event of the next build of ``path`` (server-sent events), until it is done."""
    url = f"{server.url.rstrip('/')}/orbit/api/builds/events?path={quote(path)}"
    if after:
        url += f"&after={quote(after)}"
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", url, headers=server.headers, timeout=timeout) as r:
        r.raise_for_status()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1].get("done"):
                    break
    return events


class Follow:
    """``read_events`` in a thread: start following, do what starts the build, then ``result``."""

    def __init__(self, server: Server, path: str, after: str = "") -> None:
        self.events: list[dict] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(server, path, after), daemon=True)
        self._thread.start()

    def _run(self, server: Server, path: str, after: str) -> None:
        try:
            self.events = read_events(server, path, after)
        except BaseException as e:  # reported by result()
            self.error = e

    def result(self, timeout: float = 900) -> list[dict]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the build never finished"
        if self.error is not None:
            raise self.error
        return self.events
