"""The remote half of a kernel on an SSH host. Orbit copies this file to the remote
(``~/.cache/orbit-remote/bin/orbit-kernel-<hash>.py``) and runs it there with the environment's
Python; it uses the standard library only and imports nothing from Orbit.

    start [--cwd C] DIR -- ARGV
                          pick free loopback ports, write DIR/connection.json, start a detached
                          supervisor that runs ARGV; print {"pid", "ports"} as JSON
    supervise DIR -- ARGV run the kernel, record its pid and exit status; stop it when no
                          client has renewed DIR/lease for --orphan-timeout seconds
    watch DIR             renew the lease while the kernel runs, copy its output (from
                          --offset), and end with "@@orbit-exit N" on stderr when it exits
    signal DIR NAME       send signal NAME (INT, TERM, KILL) to the kernel
    stop DIR              TERM the kernel, KILL it after 5 seconds

The kernel runs in a session of its own, detached from the SSH connection: a dropped link does
not stop it, and a client that reconnects finds it on the same ports. The folder DIR is the
kernel's (mode 0700): its connection file (mode 0600, holding the key) is removed when it exits.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def _read(path: Path) -> "str | None":
    try:
        return path.read_text().strip()
    except OSError:
        return None


def free_ports(n: int) -> "list[int]":
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    conn = folder / "connection.json"
    info = json.loads(conn.read_text())
    info.update(zip(_PORTS, free_ports(len(_PORTS))), ip="127.0.0.1", transport="tcp")  # noqa: B905
    _write(conn, json.dumps(info))
    cmd = [sys.executable, str(Path(__file__).resolve()), "supervise"]
    cmd += ["--cwd", args.cwd, "--orphan-timeout", str(args.orphan_timeout)]
    cmd += [str(folder), "--", *args.argv]
    with (folder / "supervisor.log").open("ab") as log:
        subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = _read(folder / "pid")
        if pid:
            print(json.dumps({"pid": int(pid), "ports": {k: info[k] for k in _PORTS}}))
            return 0
        if _read(folder / "status") is not None:
            break
        time.sleep(0.05)
    sys.stderr.write(_read(folder / "supervisor.log") or "the kernel did not start\n")
    sys.stderr.write(_read(folder / "kernel.log") or "")
    return 1


def supervise(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    env = dict(os.environ)
    env.update(json.loads(_read(folder / "env.json") or "{}"))
    lease = folder / "lease"
    _write(lease, "")
    with (folder / "kernel.log").open("ab") as log:
        try:
            kernel = subprocess.Popen(
                args.argv, cwd=args.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        except OSError as e:
            log.write(f"orbit: could not start the kernel: {e}\n".encode())
            _write(folder / "status", "127")
            return 1
        _write(folder / "pid", str(kernel.pid))
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda s, _f: kernel.send_signal(s))
        code = None
        while code is None:
            try:
                code = kernel.wait(timeout=2)
            except subprocess.TimeoutExpired:
                try:
                    idle = time.time() - lease.stat().st_mtime
                except OSError:
                    idle = 0
                if idle > args.orphan_timeout:
                    log.write(f"orbit: no client for {idle:.0f} s: stopping the kernel\n".encode())
                    log.flush()
                    code = _terminate(kernel)
    if code < 0:
        code = 128 - code
    with contextlib.suppress(OSError):
        (folder / "connection.json").unlink()
    _write(folder / "status", str(code))
    return 0


def _terminate(kernel: subprocess.Popen) -> int:
    kernel.terminate()
    try:
        return kernel.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kernel.kill()
        return kernel.wait()


def watch(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    offset = args.offset
    out = sys.stdout.buffer
    beat = 0.0
    while True:
        status = _read(folder / "status")
        with contextlib.suppress(OSError):
            os.utime(str(folder / "lease"))
        try:
            with (folder / "kernel.log").open("rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            data = b""
        if data:
            out.write(data)
            out.flush()
            offset += len(data)
        if status is not None or not folder.is_dir():
            sys.stderr.write(f"@@orbit-exit {status or 255}\n")
            sys.stderr.flush()
            return 0
        if time.monotonic() - beat > 2:  # a write that fails once the client is gone ends us
            sys.stderr.write(".\n")
            sys.stderr.flush()
            beat = time.monotonic()
        time.sleep(0.25)


def send(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if _read(folder / "status") is not None:
        return 0
    pid = _read(folder / "pid")
    if not pid:
        return 1
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pid), getattr(signal, "SIG" + args.name))
    return 0


def stop(args: argparse.Namespace) -> int:
    args.name = "TERM"
    send(args)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _read(Path(args.dir) / "status") is not None:
            return 0
        time.sleep(0.1)
    args.name = "KILL"
    return send(args)


def main(argv: "list[str] | None" = None) -> int:
    p = argparse.ArgumentParser(prog="orbit-remote-kernel")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("start", "supervise"):
        s = sub.add_parser(name)
        s.add_argument("dir")
        s.add_argument("--cwd", default=str(Path.home()))
        s.add_argument("--orphan-timeout", type=float, default=3600.0)
        s.add_argument("argv", nargs=argparse.REMAINDER)
    w = sub.add_parser("watch")
    w.add_argument("dir")
    w.add_argument("--offset", type=int, default=0)
    g = sub.add_parser("signal")
    g.add_argument("dir")
    g.add_argument("name", choices=("INT", "TERM", "KILL"))
    t = sub.add_parser("stop")
    t.add_argument("dir")
    args = p.parse_args(argv)
    if getattr(args, "argv", None) and args.argv[0] == "--":
        args.argv = args.argv[1:]
    handler = {"start": start, "supervise": supervise, "watch": watch, "signal": send, "stop": stop}
    try:
        return handler[args.command](args)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
