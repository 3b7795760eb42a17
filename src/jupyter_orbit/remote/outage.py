"""What a notebook hears from its remote kernel while the link to the host is down.

The kernel keeps running on the host; its local ports (tunnels) are gone until the link is back.
Meanwhile the kernel proxy answers on two of those ports itself, signed with the kernel's own key
as the kernel would: a cell run now gets, in the notebook, that the connection was lost, that
the kernel and its variables are still there, and that the cell did not run (an error reply, so
"run all" stops there). Everything else waits for the kernel. When the link returns these
sockets are closed and the tunnels take the ports over again; Jupyter's clients reconnect by
themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any


class Outage:
    """Answers cells on the kernel's shell and IOPub ports while the link is down."""

    def __init__(self, connection: dict[str, Any], host: str) -> None:
        from jupyter_client.session import Session

        self.connection = connection
        self.host = host
        self.since = time.strftime("%H:%M:%S")
        self.session = Session(
            key=str(connection["key"]).encode(),
            signature_scheme=connection.get("signature_scheme", "hmac-sha256"),
        )
        self.sockets: list[Any] = []
        self.task: asyncio.Task | None = None

    @property
    def text(self) -> str:
        return (
            f"orbit: the connection to {self.host} was lost at {self.since}. The kernel keeps "
            "running there, with its variables; Orbit is reconnecting. This cell did not run: "
            "run it again once the kernel answers.\n"
        )

    async def start(self) -> bool:
        """Take the shell and IOPub ports; False if they are not free (nothing is answered)."""
        import zmq
        import zmq.asyncio

        ctx = zmq.asyncio.Context.instance()
        self.shell, self.iopub = ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUB)
        self.sockets = [self.shell, self.iopub]
        try:
            for sock, port in ((self.shell, "shell_port"), (self.iopub, "iopub_port")):
                sock.linger = 0
                sock.bind(f"tcp://127.0.0.1:{int(self.connection[port])}")
        except zmq.ZMQError:
            self.close()
            return False
        self.task = asyncio.ensure_future(self._answer())
        return True

    async def _answer(self) -> None:
        while True:
            parts = await self.shell.recv_multipart()
            try:
                idents, rest = self.session.feed_identities(parts)
                request = self.session.deserialize(rest, content=True)  # the kernel's key only
            except Exception:
                continue
            if request["header"]["msg_type"] != "execute_request":
                continue  # answered by the kernel once it is back
            await self._publish("status", {"execution_state": "busy"}, request)
            await self._publish("stream", {"name": "stderr", "text": self.text}, request)
            await self._publish("status", {"execution_state": "idle"}, request)
            reply = self.session.msg(
                "execute_reply",
                {
                    "status": "error",
                    "ename": "ConnectionLost",
                    "evalue": f"the connection to {self.host} is down; the kernel keeps running",
                    "traceback": [],
                    "execution_count": None,
                },
                parent=request["header"],
            )
            await self.shell.send_multipart(self.session.serialize(reply, ident=idents))

    async def _publish(self, kind: str, content: dict[str, Any], parent: dict[str, Any]) -> None:
        msg = self.session.msg(kind, content, parent=parent["header"])
        await self.iopub.send_multipart(self.session.serialize(msg, ident=[kind.encode()]))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        self.close()
        await asyncio.sleep(0.1)  # the ports are free once ZMQ's I/O thread let them go

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.sockets = []
