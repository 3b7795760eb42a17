"""Talking to a running profile server from the command line.

This is on the hot path of ``orbit run``, so it uses the standard library's ``http.client``
(imported in milliseconds) rather than httpx; every request carries the token in the
``Authorization`` header, never in a URL.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from jupyter_orbit.errors import ServerError


class ServerClient:
    def __init__(self, url: str, token: str, *, timeout: float = 10) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        headers = {"Authorization": f"token {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self.base + path, body=data, headers=headers)
            return conn.getresponse()
        except OSError as e:
            conn.close()
            raise ServerError(
                f"the server at {self.host}:{self.port} did not answer ({e})",
                "start it with `orbit up`, or check `orbit status`",
            ) from None

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        resp = self._request("GET", path, timeout=timeout)
        return self._json(resp, path)

    def post_json(self, path: str, body: Any = None, timeout: float | None = None) -> Any:
        resp = self._request("POST", path, body if body is not None else {}, timeout=timeout)
        return self._json(resp, path)

    def stream(self, path: str, body: Any, timeout: float | None = None) -> Iterator[dict]:
        """POST ``body`` and yield each JSON line of the response as it arrives."""
        resp = self._request("POST", path, body, timeout=timeout)
        if resp.status != 200:
            self._json(resp, path)
        try:
            while line := resp.readline():
                if line.strip():
                    yield json.loads(line)
        finally:  # also when the caller stops reading early
            resp.close()

    @staticmethod
    def _json(resp: http.client.HTTPResponse, path: str) -> Any:
        raw = resp.read()
        resp.close()
        if resp.status >= 400:
            try:
                detail = json.loads(raw).get("message", "")
            except ValueError:
                detail = raw[:200].decode(errors="replace")
            raise ServerError(
                f"the server refused {path}: HTTP {resp.status} {detail}".strip(),
                "check `orbit status`; restart the server with `orbit down` then `orbit up`",
            )
        return json.loads(raw) if raw else None
