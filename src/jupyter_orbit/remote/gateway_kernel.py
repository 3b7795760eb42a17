"""The local half of a kernel on a gateway: ``python -m jupyter_orbit.remote.gateway_kernel``.

Jupyter runs this command as if it were the kernel (``GatewayEngine.kernel_command``), so a
standard kernel manager starts, talks to, interrupts and shuts down a kernel that a Jupyter
Enterprise Gateway runs:

- the kernel is started, interrupted and deleted through the gateway's REST API, with
  jupyter_server's own gateway client (``GatewayKernelManager``; the token is read from the
  profile's file for that gateway, never from the command line);
- the kernel's five ports of the local connection file are bound on 127.0.0.1 here, and each
  message is carried between them and the gateway's websocket for that kernel: messages from
  here are checked against the local connection file's key before they are sent on, messages
  from the gateway are signed with it before they are delivered;
- the websocket is opened again when it drops (what is sent meanwhile waits); when the gateway
  says the kernel is gone, this process ends with status 1;
- SIGINT interrupts the kernel, SIGTERM deletes it; a shutdown request is passed on and the
  kernel deleted once it answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

_ROUTED = ("shell", "control", "stdin")
_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
_ROUTES_KEPT = 4096  # requests whose replies may still come


def say(message: str) -> None:
    print(f"orbit: {message}", file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="orbit-gateway-kernel")
    p.add_argument("--profile-root", required=True, type=Path)
    p.add_argument("--gateway", required=True, help="the gateway's name in the profile")
    p.add_argument("--kernelspec", required=True, help="the gateway's kernelspec to start")
    p.add_argument("--connection-file", required=True, type=Path)
    return p.parse_args(argv)


class Bridge:
    def __init__(self, args: argparse.Namespace) -> None:
        from jupyter_client.session import Session

        from jupyter_orbit.remote.hosts import HostStore

        store = HostStore(args.profile_root)
        self.gateway = store.gateway(args.gateway)
        self.token = store.token(self.gateway.name)
        self.kernelspec = args.kernelspec
        self.connection = json.loads(args.connection_file.read_text())
        c = self.connection
        if c.get("transport", "tcp") != "tcp" or c.get("ip") not in ("127.0.0.1", "localhost"):
            raise SystemExit("orbit: gateway kernels are reached on 127.0.0.1 over tcp only")
        self.session = Session(
            key=c["key"].encode(), signature_scheme=c.get("signature_scheme", "hmac-sha256")
        )
        self.routes: OrderedDict[str, list[bytes]] = OrderedDict()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stopping = asyncio.Event()
        self.done_after_reply: str | None = None  # a shutdown request's msg_id
        self.sockets: dict[str, Any] = {}
        self.km: Any = None

    # -- life ------------------------------------------------------------------------------

    async def run(self) -> int:
        from tornado.web import HTTPError

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.interrupt()))
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.stopping.set)
        # The connection file's ports are taken first, as a local kernel takes them: a port
        # chosen for it stays free only so long, and the gateway may take seconds to answer.
        # What the server sends meanwhile waits in the sockets.
        self._bind()
        try:
            self._configure()
            try:
                await self._start()
            except HTTPError as e:
                say(f"error: the gateway {self.gateway.name} could not start a kernel: {_why(e)}")
                return 1
            pumps = [asyncio.ensure_future(self._from_local(ch)) for ch in _ROUTED]
            pumps.append(asyncio.ensure_future(self._heartbeat()))
            try:
                return await self._follow()
            finally:
                for task in pumps:
                    task.cancel()
                with contextlib.suppress(Exception):
                    await self.km.shutdown_kernel()
        finally:
            for sock in self.sockets.values():
                sock.close(linger=0)

    def _configure(self) -> None:
        from jupyter_server.gateway.gateway_client import GatewayClient

        GatewayClient.clear_instance()
        GatewayClient.instance(url=self.gateway.url, auth_token=self.token or "")

    async def _start(self) -> None:
        from jupyter_server.gateway.managers import GatewayKernelManager

        self.km = GatewayKernelManager()
        env = {} if os.environ.get("KERNEL_USERNAME") else {"KERNEL_USERNAME": getpass.getuser()}
        await self.km.start_kernel(kernel_name=self.kernelspec, env=env)
        say(f"kernel {self.km.kernel_id} started on the gateway {self.gateway.name}")

    def _bind(self) -> None:
        import zmq
        import zmq.asyncio

        ctx = zmq.asyncio.Context.instance()
        kinds = {
            "shell": zmq.ROUTER,
            "control": zmq.ROUTER,
            "stdin": zmq.ROUTER,
            "iopub": zmq.PUB,
            "hb": zmq.REP,
        }
        for channel, kind in kinds.items():
            sock = ctx.socket(kind)
            sock.linger = 0
            sock.bind(f"tcp://127.0.0.1:{int(self.connection[f'{channel}_port'])}")
            self.sockets[channel] = sock

    async def _follow(self) -> int:
        """Keep a websocket to the kernel open until it ends or this process is stopped."""
        attempt = 0
        while not self.stopping.is_set():
            try:
                ws = await self._websocket()
            except Exception as e:
                if not await self._kernel_exists():
                    say("error: the kernel is gone from the gateway")
                    return 1
                delay = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
                if attempt % 10 == 0:
                    say(f"cannot reach the gateway {self.gateway.name} ({e}); trying again")
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                continue
            if attempt:
                say(f"reconnected to the gateway {self.gateway.name}")
            attempt = 0
            ended = await self._pump(ws)
            with contextlib.suppress(Exception):
                ws.close()
            if ended or self.stopping.is_set():
                return 0
            say(f"the connection to the gateway {self.gateway.name} was lost; reconnecting")
            if not await self._kernel_exists():
                say("error: the kernel is gone from the gateway")
                return 1
        return 0

    async def _websocket(self) -> Any:
        from jupyter_server.gateway.gateway_client import GatewayClient
        from tornado.escape import url_escape
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        client = GatewayClient.instance()
        base = (client.ws_url or "").rstrip("/")
        url = f"{base}{client.kernels_endpoint}/{url_escape(self.km.kernel_id)}/channels"
        return await websocket_connect(HTTPRequest(url, **client.load_connection_args()))

    async def _kernel_exists(self) -> bool:
        try:
            return await self.km.refresh_model() is not None
        except Exception:  # the gateway does not answer: it may still have the kernel
            return True

    # -- messages --------------------------------------------------------------------------

    async def _pump(self, ws: Any) -> bool:
        """Carry messages both ways until the websocket closes (False) or the kernel was shut
        down on request (True)."""
        sender = asyncio.ensure_future(self._to_gateway(ws))
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            while True:
                reading = asyncio.ensure_future(ws.read_message())
                await asyncio.wait({reading, sender, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    return self.stopping.is_set()
                raw = reading.result()
                if raw is None:
                    return False
                if await self._to_local(raw):
                    return True
        finally:
            sender.cancel()
            stopped.cancel()

    async def _to_gateway(self, ws: Any) -> None:
        from jupyter_client.jsonutil import json_default
        from jupyter_server.services.kernels.connection.base import serialize_binary_message

        while True:
            wire = await self.outgoing.get()
            try:
                if wire["buffers"]:
                    await ws.write_message(serialize_binary_message(wire), binary=True)
                else:
                    await ws.write_message(json.dumps(wire, default=json_default))
            except Exception:
                self.outgoing.put_nowait(wire)  # sent again on the next websocket
                with contextlib.suppress(Exception):
                    ws.close()
                return

    async def _from_local(self, channel: str) -> None:
        sock = self.sockets[channel]
        while True:
            parts = await sock.recv_multipart(copy=True)
            try:
                idents, rest = self.session.feed_identities(parts)
                msg = self.session.deserialize(rest, content=True)  # checks the signature
            except Exception as e:
                say(
                    f"dropped a message on {channel} that is not signed with the kernel's key ({e})"
                )
                continue
            msg_id = msg["header"]["msg_id"]
            self.routes[msg_id] = idents
            while len(self.routes) > _ROUTES_KEPT:
                self.routes.popitem(last=False)
            if channel == "control" and msg["header"]["msg_type"] == "shutdown_request":
                self.done_after_reply = msg_id
            self.outgoing.put_nowait(
                {
                    "header": msg["header"],
                    "parent_header": msg["parent_header"],
                    "metadata": msg["metadata"],
                    "content": msg["content"],
                    "channel": channel,
                    "buffers": [bytes(b) for b in msg["buffers"]],
                }
            )

    async def _to_local(self, raw: str | bytes) -> bool:
        """Deliver one message from the gateway; True once a shutdown request was answered."""
        from jupyter_server.services.kernels.connection.base import deserialize_binary_message

        msg = deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)
        channel = msg.pop("channel", None)
        buffers = msg.pop("buffers", None) or []
        if channel == "iopub":
            await self.sockets["iopub"].send_multipart(self.session.serialize(msg) + buffers)
            return False
        if channel not in _ROUTED:
            return False
        parent = (msg.get("parent_header") or {}).get("msg_id")
        idents = self.routes.get(parent)
        if idents is None:
            return False  # a reply to nobody here (a request made before a restart)
        frames = self.session.serialize(msg, ident=idents)
        await self.sockets[channel].send_multipart(frames + buffers)
        return parent is not None and parent == self.done_after_reply

    async def _heartbeat(self) -> None:
        sock = self.sockets["hb"]
        while True:
            await sock.send_multipart(await sock.recv_multipart())

    async def interrupt(self) -> None:
        if self.km is None or self.km.kernel_id is None:
            say("the kernel on the gateway has not started yet: nothing to interrupt")
            return
        try:
            await self.km.interrupt_kernel()
        except Exception as e:
            say(f"could not interrupt the kernel on the gateway: {e}")


def _why(err: Any) -> str:
    message = getattr(err, "log_message", None) or str(err)
    args = getattr(err, "args", ())[1:]
    with contextlib.suppress(TypeError):
        message = message % args
    return message


def main(argv: list[str] | None = None) -> int:
    from jupyter_orbit.errors import OrbitError

    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        bridge = Bridge(args)
    except OrbitError as e:
        say(f"error: {e}" + (f"\norbit: hint: {e.hint}" if e.hint else ""))
        return 1
    return asyncio.run(bridge.run())


if __name__ == "__main__":
    sys.exit(main())
