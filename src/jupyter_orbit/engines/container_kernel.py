"""The host side of a kernel in a container: ``python -m jupyter_orbit.engines.container_kernel``.

Jupyter starts this command as if it were the kernel (it is what the docker engine's
``kernel_command`` returns), so every caller that starts kernels from a command line (the
provisioner, the warm pool, ``orbit run``) runs container kernels unchanged. It lives exactly as
long as the container:

- it creates the container from the environment's image: the project folder mounted at the same
  path, running as the caller's own uid and gid, the kernel's ports published on 127.0.0.1 only,
  no engine socket, never privileged, auto-removed when it stops;
- it copies in the connection file (the kernel binds every interface inside the container, which
  is only reachable through those loopback ports), then relays the container's output;
- it passes SIGINT (an interrupt) and SIGTERM on to the kernel and exits with its status;
- it stops the kernel when the process that started it is gone (a server that exited without
  stopping it: one whose warm kernel was starting as it shut down, or one killed outright), as
  a local kernel does (``ipykernel``'s parent poller);
- it holds the container's stdin open: if this process is killed outright, stdin closes and the
  guard inside stops the kernel, so no container outlives its kernel for long. Anything left over
  (an engine restart, a host crash) is labelled with this process and removed when a server
  starts (``DockerEngine.cleanup``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import signal
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_orbit.hardware.needs import KERNEL_ENV, ContainerDevices
from jupyter_orbit.imagelayout import CONNECTION_DIR, GUARD

LABEL_KERNEL = "org.jupyter.orbit.kernel"
LABEL_OWNER = "org.jupyter.orbit.owner"
_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_PASSED_ENV = ("JPY_SESSION_NAME", "TZ", "LANG", "LC_ALL", *KERNEL_ENV)


def owner_label(pid: int | None = None) -> str:
    """``machine:boot:pid:start``: enough to tell later whether the process is gone."""
    pid = os.getpid() if pid is None else pid
    return f"{_read('/etc/machine-id')}:{_read('/proc/sys/kernel/random/boot_id')}:{pid}:" + (
        _start_time(pid) or ""
    )


def owner_alive(label: str) -> bool | None:
    """Whether the process a container's owner label names still runs (None: not this host's)."""
    try:
        machine, boot, pid, start = label.split(":")
    except ValueError:
        return None
    if machine != _read("/etc/machine-id"):
        return None
    if boot != _read("/proc/sys/kernel/random/boot_id"):
        return False  # the host rebooted since
    return _start_time(int(pid)) == start and bool(start)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, after the command in parentheses


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="orbit-container-kernel")
    p.add_argument("--image", required=True)
    p.add_argument("--env-id", default="")
    p.add_argument("--mount", action="append", default=[], help="host folder, same path inside")
    p.add_argument("--read-only", action="append", default=[], help="the same, read-only")
    p.add_argument("--connection-file", required=True)
    p.add_argument("--options", default="{}", help="checked container options (JSON)")
    p.add_argument("--network", action="append", default=[], help="a services' network to join")
    p.add_argument(
        "--pass-env", action="append", default=[], help="a variable of this process to pass on"
    )
    p.add_argument("--devices", default="{}", help="the declared devices, as host config (JSON)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- the kernel command in the image")
    args = p.parse_args(argv)
    if args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    return args


def _tar_one(name: str, data: bytes, uid: int, gid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), 0o600, uid, gid
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _folders(mounts: list[str], cwd: Path) -> tuple[list[Path], Path]:
    """Folders to mount (the project, and the working folder if it lies outside) and the workdir."""
    folders = [Path(m) for m in mounts]
    if not any(cwd.is_relative_to(f) for f in folders):
        folders.append(cwd)
    return folders, cwd


def container_spec(args: argparse.Namespace, connection: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``containers.create``, and the connection file seen from inside."""
    from jupyter_orbit.engines.container_options import create_kwargs

    options = json.loads(args.options)
    extra = create_kwargs(options)
    host_network = extra.get("network_mode") == "host"
    folders, workdir = _folders(args.mount, Path.cwd())
    uid, gid = os.getuid(), os.getgid()
    environment = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    environment.update(HOME="/tmp", IPYTHONDIR="/tmp/.ipython", JUPYTER_RUNTIME_DIR="/tmp/.jupyter")
    extra_env = extra.pop("environment", {})
    if isinstance(extra_env, list):
        extra_env = dict(e.split("=", 1) if "=" in e else (e, "") for e in extra_env)
    environment.update(extra_env)
    environment.update({k: os.environ[k] for k in args.pass_env if k in os.environ})
    ports = (
        {}
        if host_network
        else {f"{connection[k]}/tcp": ("127.0.0.1", connection[k]) for k in _PORTS}
    )
    ports.update(extra.pop("ports", {}))
    volumes = [f"{f}:{f}:rw" for f in folders] + [f"{f}:{f}:ro" for f in args.read_only]
    volumes += extra.pop("volumes", [])
    security = ["no-new-privileges", *extra.pop("security_opt", [])]
    kw: dict[str, Any] = {
        "image": args.image,
        "entrypoint": ["/usr/bin/python3", "-I", "-S", str(GUARD), "--watch-stdin", "--"],
        "command": args.argv,
        "name": f"orbit-kernel-{args.env_id[:8] or 'x'}-{secrets.token_hex(3)}",
        "user": f"{uid}:{gid}",
        "working_dir": str(workdir),
        "environment": environment,
        "labels": {LABEL_KERNEL: args.env_id, LABEL_OWNER: owner_label()},
        "volumes": volumes,
        "ports": ports,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,mode=1777"},
        "security_opt": security,
        "auto_remove": True,
        # Attached (not detached) with stdin open: the engine closes the container's stdin
        # once this process lets go of it (StdinOnce), which is how the guard knows.
        "stdin_open": True,
        "detach": False,
        "privileged": False,
    }
    if uid != 0:  # an ordinary user's processes need no capabilities; root's keep Docker's few
        kw["cap_drop"] = ["ALL"]
    if args.network and not host_network:  # services beside the kernel: reached by their names
        kw["network"] = args.network[0]
    kw.update(extra)
    # GPUs and devices the notebook declares (hardware.needs.container_devices)
    devices = ContainerDevices.from_host_config(json.loads(args.devices))
    for key, value in devices.create_kwargs().items():
        kw[key] = [*kw.get(key, ()), *value]
    return kw


class _Kernel:
    """One container and the signals that reach it."""

    def __init__(self, client: Any, container: Any) -> None:
        self.client = client
        self.container = container
        self.stopping = False

    def signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if signum != signal.SIGINT:
            self.stopping = True
            threading.Thread(target=self._escalate, daemon=True).start()
        threading.Thread(target=self._kill, args=(name,), daemon=True).start()

    def _kill(self, name: str) -> None:
        with contextlib.suppress(Exception):  # gone already
            self.container.kill(signal=name)

    def _escalate(self) -> None:
        time.sleep(5)
        self._kill("SIGKILL")


def _stop_when_orphaned(parent: int, every: float = 0.5) -> None:
    """Once the process that started this one is gone, stop as if it had said so (SIGTERM)."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    import docker
    from docker.utils.socket import frames_iter

    args = _parse(sys.argv[1:] if argv is None else argv)
    host_file = Path(args.connection_file)
    connection = json.loads(host_file.read_text())
    kernel_argv = [
        str(CONNECTION_DIR / "kernel.json") if a == str(host_file) else a for a in args.argv
    ]
    args.argv = kernel_argv
    kw = container_spec(args, connection)
    inside = dict(connection, ip="127.0.0.1" if kw.get("network_mode") == "host" else "0.0.0.0")
    # A stop asked for while the container is being created (a server shutting down as its
    # kernel restarts) waits for the container to exist, then removes it: stopped during the
    # engine's call, this process would leave it behind, created and never started.
    early: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: early.append(s))
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        client = docker.from_env(timeout=120)
        container = client.containers.create(**kw)
    except Exception as e:
        print(
            f"orbit: could not create the kernel's container from {args.image}: {e}",
            file=sys.stderr,
        )
        return 1
    for network in args.network[1:] if "network" in kw else ():
        try:
            client.networks.get(network).connect(container)
        except Exception as e:
            print(f"orbit: could not join the services' network {network}: {e}", file=sys.stderr)
    kernel = _Kernel(client, container)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: kernel.signal(s))
    kernel.stopping = any(s != signal.SIGINT for s in early)  # (an interrupt: nothing runs yet)
    try:
        data = json.dumps(inside).encode()
        container.put_archive(
            str(CONNECTION_DIR), _tar_one("kernel.json", data, os.getuid(), os.getgid())
        )
        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        # Ask for the exit status before starting: an auto-removed container leaves no trace.
        api = client.api
        waiter = api._post(
            api._url("/containers/{0}/wait", container.id),
            params={"condition": "next-exit"},
            stream=True,
            timeout=None,
        )
        api._raise_for_status(waiter)
        if kernel.stopping:
            raise RuntimeError("stopped before it started")
        container.start()
    except Exception as e:
        print(f"orbit: could not start the kernel's container: {e}", file=sys.stderr)
        with contextlib.suppress(Exception):
            container.remove(force=True)
        return 1
    outs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    for stream, chunk in frames_iter(sock, tty=False):
        out = outs.get(stream)
        if out is not None:
            out.write(chunk)
            out.flush()
    try:
        return int(waiter.json().get("StatusCode", 1))
    except Exception:
        return 1
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
