"""A slow front for a local package index: the files of chosen projects arrive late.

Builds that download them take at least that long, so a test can act while a build is still
running (press Run All, say) without racing it.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.support.pypi_index import LocalIndex


class SlowIndex:
    def __init__(self, index: LocalIndex, delays: dict[str, float]) -> None:
        self.index = index
        self.delays = {name.replace("-", "_"): s for name, s in delays.items()}
        self.held: list[str] = []  # the files held back, in order
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use it as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def __enter__(self) -> SlowIndex:
        front = self
        base = self.index.url.removesuffix("/simple/")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._forward("HEAD")

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                if self.path.startswith("/files/"):
                    for prefix, seconds in front.delays.items():
                        if name.startswith(prefix + "-"):
                            front.held.append(name)
                            time.sleep(seconds)
                self._forward("GET")

            def _forward(self, method: str) -> None:
                accept = {"Accept": self.headers.get("Accept", "*/*")}
                r = httpx.request(method, base + self.path, headers=accept, timeout=60)
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("content-type", "text/plain"))
                size = len(r.content) if method == "GET" else r.headers.get("content-length", 0)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if method == "GET":
                    self.wfile.write(r.content)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
