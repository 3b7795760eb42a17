"""The local half of a kernel on an SSH host: ``python -m jupyter_orbit.remote.kernel_proxy``.

Jupyter runs this command as if it were the kernel (``SshEngine.kernel_command`` returns it), so
a standard ``KernelManager`` starts, talks to, interrupts and shuts down the remote kernel:

- it connects to the host (the user's SSH config, agent and keys; host keys checked) and starts
  the kernel detached on the remote, bound to the remote's loopback (``launcher.py``), in the
  folder it is given (the engine sent the project's changes there before);
- it forwards the five ports of the local connection file, on 127.0.0.1, over the SSH connection
  to the kernel's ports on the remote's 127.0.0.1;
- SIGINT becomes an interrupt of the remote kernel; SIGTERM stops it;
- it lives exactly as long as the remote kernel and exits with its status;
- when the link drops, the remote kernel keeps running (and its state); this process reconnects
  with backoff and re-opens the forwards on the same local ports to the same remote ports;
  meanwhile a cell run in the notebook is told so (``outage``).
  A kernel no client has watched for ``--orphan-timeout`` seconds stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.remote.hosts import HostStore
from jupyter_orbit.remote.outage import Outage
from jupyter_orbit.remote.session import Session, connect

_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_PASSED_ENV = ("TZ", "LANG", "LC_ALL")
LAUNCHER = Path(__file__).with_name("launcher.py")
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)
DEFAULT_KEEPALIVE = 10.0  # seconds between keepalives when the SSH config sets none


def launcher_name() -> str:
    digest = hashlib.sha256(LAUNCHER.read_bytes()).hexdigest()[:12]
    return f"orbit-kernel-{digest}.py"


def say(message: str) -> None:
    print(f"orbit: {message}", file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="orbit-remote-kernel-proxy")
    p.add_argument("--profile-root", required=True, type=Path)
    p.add_argument("--host", required=True, help="the remote's name in the profile")
    p.add_argument("--python", required=True, help="the environment's Python on the remote")
    p.add_argument("--env-prefix", required=True, help="the environment's folder on the remote")
    p.add_argument("--connection-file", required=True, type=Path)
    p.add_argument("--cwd", help="the kernel's folder on the remote (default: the home)")
    p.add_argument("--kernel-env", default="{}", help="variables for the kernel (JSON)")
    p.add_argument("--orphan-timeout", type=float, default=3600.0)
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- the kernel command on the remote")
    args = p.parse_args(argv)
    if args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    return args


class Proxy:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.store = HostStore(args.profile_root)
        self.host = self.store.get(args.host)
        self.connection = json.loads(args.connection_file.read_text())
        self.session: Session | None = None
        self.listeners: list[Any] = []
        self.remote_dir = ""
        self.remote_ports: dict[str, int] = {}
        self.offset = 0
        self.stopping = asyncio.Event()
        self.exit_code: int | None = None

    # -- the life of one kernel --

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.interrupt()))
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(self.stop()))
        self._check_connection()
        try:
            self.session = await self._connect()
            await self._start()
        except OrbitError as e:
            say(f"error: {e}")
            if e.hint:
                say(f"hint: {e.hint}")
            return 1
        while True:
            try:
                await self._forward()
            except OSError as e:  # a local port taken meanwhile: no way to reach the kernel
                say(f"error: cannot listen on 127.0.0.1 for the kernel's ports: {e}")
                await self._signal("STOP")
                await self._close()
                return 1
            lost = await self._watch()
            if self.exit_code is not None:
                await self._close()
                return self.exit_code
            if self.stopping.is_set():
                await self._close()
                return 0
            say(f"the connection to {self.host.name} was lost ({lost}); the kernel keeps running")
            await self._close()
            outage = Outage(self.connection, self.host.name)  # cells run meanwhile hear why
            if not await outage.start():
                say("cannot answer on the kernel's ports while reconnecting (they are taken)")
            try:
                if not await self._reconnect():
                    return 0
            finally:
                await outage.stop()

    def _check_connection(self) -> None:
        c = self.connection
        if c.get("transport", "tcp") != "tcp" or c.get("ip") not in ("127.0.0.1", "localhost"):
            raise SystemExit("orbit: remote kernels are reached on 127.0.0.1 over tcp only")

    async def _connect(self) -> Session:
        from jupyter_orbit.remote.session import endpoint

        ep = endpoint(self.host)
        keepalive = ep.keepalive or DEFAULT_KEEPALIVE
        return await connect(self.host, self.store, keepalive=keepalive, timeout=15)

    async def _start(self) -> None:
        session = self.session
        assert session is not None
        lib = _lib()
        sftp = await session.sftp()
        launcher = await session.orbit_dir("bin", launcher_name())
        if not await sftp.exists(launcher):
            tmp = f"{launcher}.{secrets.token_hex(4)}.tmp"
            async with session.guard("copying the kernel launcher"):
                await sftp.makedirs(launcher.rsplit("/", 1)[0], exist_ok=True)
                await sftp.put(str(LAUNCHER), tmp)
                await sftp.posix_rename(tmp, launcher)
        self.launcher = launcher
        cwd = self.args.cwd or await session.home()
        kernel_id = secrets.token_hex(8)
        self.remote_dir = await session.orbit_dir("kernels", kernel_id)
        async with session.guard("preparing the kernel"):
            await sftp.makedirs(self.remote_dir, attrs=lib.SFTPAttrs(permissions=0o700))
            await sftp.chmod(self.remote_dir, 0o700)
        template = {k: v for k, v in self.connection.items() if k not in _PORTS}
        await self._write(f"{self.remote_dir}/connection.json", json.dumps(template))
        await self._write(f"{self.remote_dir}/env.json", json.dumps(self._kernel_env()))
        remote_file = f"{self.remote_dir}/connection.json"
        local_file = str(self.args.connection_file)
        argv = [remote_file if a == local_file else a for a in self.args.argv]
        cmd = [self.args.python, launcher, "start", "--cwd", cwd]
        cmd += ["--orphan-timeout", str(self.args.orphan_timeout), self.remote_dir, "--", *argv]
        r = await session.run(cmd, what="starting the kernel")
        started = json.loads(str(r.stdout).strip().splitlines()[-1])
        self.remote_ports = started["ports"]
        say(f"kernel started on {self.host.name} (pid {started['pid']}, in {cwd})")

    def _kernel_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env["PATH"] = f"{self.args.env_prefix}/bin:/usr/local/bin:/usr/bin:/bin"
        env.update(json.loads(self.args.kernel_env))
        return env

    async def _write(self, path: str, text: str) -> None:
        lib = _lib()
        session = self.session
        assert session is not None
        sftp = await session.sftp()
        async with (
            session.guard("writing the kernel's files"),
            sftp.open(path, "w", attrs=lib.SFTPAttrs(permissions=0o600)) as f,
        ):
            await f.write(text)

    # -- tunnels and watching --

    async def _forward(self) -> None:
        session = self.session
        assert session is not None
        for name in _PORTS:
            for attempt in range(20):  # a port the outage answers on is let go in a moment
                try:
                    listener = await session.conn.forward_local_port(
                        "127.0.0.1",
                        int(self.connection[name]),
                        "127.0.0.1",
                        int(self.remote_ports[name]),
                    )
                    break
                except OSError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.1)
            self.listeners.append(listener)

    async def _watch(self) -> str:
        """Follow the kernel until it exits (``exit_code`` set) or the link is lost (returned)."""
        session = self.session
        assert session is not None
        cmd = [self.args.python, self.launcher, "watch", self.remote_dir]
        cmd += ["--offset", str(self.offset)]
        try:
            import shlex

            proc = await session.conn.create_process(shlex.join(cmd), encoding=None)
        except Exception as e:
            return str(e) or type(e).__name__

        async def relay() -> None:
            while chunk := await proc.stdout.read(65536):
                self.offset += len(chunk)
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()

        async def status() -> None:
            async for line in proc.stderr:
                text = line.decode(errors="replace").strip()
                if text.startswith("@@orbit-exit "):
                    code = text.split()[1]
                    self.exit_code = int(code) if code.lstrip("-").isdigit() else 1

        tasks = [
            asyncio.ensure_future(asyncio.gather(relay(), status())),
            asyncio.ensure_future(session.conn.wait_closed()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)
        return "no answer to keepalives" if self.exit_code is None else ""

    async def _close(self) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener.close()
        self.listeners.clear()
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _reconnect(self) -> bool:
        attempt, started = 0, time.monotonic()
        while not self.stopping.is_set():
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                say("stopped while disconnected; the remote kernel stops once its lease runs out")
                return False
            attempt += 1
            try:
                self.session = await self._connect()
            except OrbitError as e:
                if attempt == 1 or attempt % 10 == 0:
                    say(f"reconnecting to {self.host.name} (attempt {attempt}): {e}")
                continue
            say(f"reconnected to {self.host.name} after {time.monotonic() - started:.0f} s")
            return True
        return False

    # -- signals --

    async def interrupt(self) -> None:
        await self._signal("INT")

    async def stop(self) -> None:
        self.stopping.set()
        if not await self._signal("STOP") and self.session is not None:
            self.session.conn.close()

    async def _signal(self, name: str) -> bool:
        session = self.session
        if session is None or not self.remote_dir:
            say(f"cannot pass {name} on: not connected to {self.host.name}")
            return False
        cmd = [self.args.python, self.launcher]
        cmd += ["stop", self.remote_dir] if name == "STOP" else ["signal", self.remote_dir, name]
        try:
            await session.run(cmd, what=f"sending {name} to the kernel", timeout=15)
        except (TimeoutError, OrbitError) as e:
            say(f"could not pass {name} on to the kernel: {e}")
            return False
        return True


def _lib() -> Any:
    from jupyter_orbit.remote._lib import asyncssh

    return asyncssh()


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        proxy = Proxy(args)
    except OrbitError as e:
        say(f"error: {e}" + (f"\norbit: hint: {e.hint}" if e.hint else ""))
        return 1
    return asyncio.run(proxy.run())


if __name__ == "__main__":
    sys.exit(main())
