"""A minimal Jupyter kernel client over a server's websocket, as JupyterLab talks to kernels.

Used by the integration tests and the benchmarks to start a session for a notebook through the
REST API and run code in its kernel.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


@dataclass
class Server:
    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url.rstrip("/") + path, headers=self.headers, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url.rstrip("/") + path, headers=self.headers, timeout=600, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.put(self.url.rstrip("/") + path, headers=self.headers, timeout=60, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.delete(self.url.rstrip("/") + path, headers=self.headers, timeout=60, **kw)

    def new_session(self, path: str, kernel: str = "python3") -> dict:
        r = self.post(
            "/api/sessions",
            # As JupyterLab sends it: the server makes JPY_SESSION_NAME from path and name.
            json={
                "path": path,
                "type": "notebook",
                "name": path.rsplit("/", 1)[-1],
                "kernel": {"name": kernel},
            },
        )
        r.raise_for_status()
        return r.json()


@dataclass
class Reply:
    status: str
    stdout: str = ""
    stderr: str = ""
    results: list[dict] = field(default_factory=list)
    error: dict | None = None


class KernelWS:
    def __init__(self, server: Server, kernel_id: str) -> None:
        self.server = server
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        self.ws: Any = None

    async def __aenter__(self) -> KernelWS:
        ws_url = self.server.url.replace("http://", "ws://").rstrip("/")
        req = HTTPRequest(
            f"{ws_url}/api/kernels/{self.kernel_id}/channels?session_id={self.session}",
            headers=self.server.headers,
            # the server answers the upgrade once the kernel has started, and a kernel may be
            # building its environment first (minutes on a busy machine)
            connect_timeout=60,
            request_timeout=600,
        )
        self.ws = await websocket_connect(req)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.ws.close()

    def _send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        msg = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "session": self.session,
                "username": "test",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }
        self.ws.write_message(json.dumps(msg))
        return msg_id

    async def _recv(self, deadline: float) -> dict:
        remaining = max(0.01, deadline - time.monotonic())
        raw = await asyncio.wait_for(self.ws.read_message(), remaining)
        if raw is None:
            raise ConnectionError("websocket closed")
        return json.loads(raw)

    async def kernel_info(self, timeout: float = 120) -> dict:
        """Send kernel_info_request until a reply comes: the kernel is then ready."""
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self._send("kernel_info_request", {})
            try:
                while True:
                    msg = await self._recv(min(deadline, time.monotonic() + 1.0))
                    if (
                        msg["msg_type"] == "kernel_info_reply"
                        and msg["parent_header"].get("msg_id") == msg_id
                    ):
                        return msg["content"]
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    async def execute(self, code: str, timeout: float = 300, linger: float = 0) -> Reply:
        """Run ``code``; ``linger`` seconds more collect outputs a kernel sends after going idle
        (Deno's can come late; JupyterLab shows them wherever they arrive)."""
        deadline = time.monotonic() + timeout
        msg_id = self._send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        reply = Reply(status="")
        idle = False
        while True:
            if reply.status and idle:
                if linger <= 0 or reply.stdout or reply.results:
                    break
                try:
                    msg = await self._recv(min(deadline, time.monotonic() + linger))
                except TimeoutError:
                    break
            else:
                msg = await self._recv(deadline)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    reply.stdout += content["text"]
                else:
                    reply.stderr += content["text"]
            elif kind in ("execute_result", "display_data"):
                reply.results.append(content["data"])
            elif kind == "error":
                reply.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                reply.status = content["status"]
                if content["status"] == "error":
                    reply.error = reply.error or content
        return reply
