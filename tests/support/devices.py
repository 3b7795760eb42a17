"""Device kernels driven through a real jupyter_client KernelManager, and simulated devices."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.kernels.devices.devicekernel import bootstrap_argv

REPO = Path(__file__).resolve().parents[2]
# A pyvisa-sim oscilloscope (PyVISA backend "<this file>@sim").
SCOPE = Path(__file__).parent / "scope.yaml"


@dataclass
class SimBoard:
    """A simulated MicroPython board on a pty (tests/support/mpboard.py)."""

    proc: subprocess.Popen
    port: str
    fs: Path
    log_path: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Any]:
    started: list[SimBoard] = []

    def start(*flags: str, main: str | None = None) -> SimBoard:
        fs = tmp_path / f"board{len(started)}"
        fs.mkdir()
        if main is not None:
            (fs / "main.py").write_text(main)
        log = tmp_path / f"board{len(started)}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.mpboard",
                "--fs",
                str(fs),
                "--log",
                str(log),
                *flags,
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        b = SimBoard(proc, port, fs, log)
        started.append(b)
        return b

    yield start
    for b in started:
        b.proc.terminate()
        b.proc.wait(10)


@dataclass
class Reply:
    status: str
    content: dict[str, Any]
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def stream(self, name: str = "stdout") -> str:
        return "".join(c["text"] for t, c in self.messages if t == "stream" and c["name"] == name)

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [c for t, c in self.messages if t == msg_type]


class DeviceKernelSession:
    """One kernel started by jupyter_client from a kernelspec, as Jupyter would."""

    def __init__(self, km: Any) -> None:
        self.km = km
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def execute(self, code: str, timeout: float = 60) -> Reply:
        msg_id = self.kc.execute(code)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> Reply:
        messages = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "status" and msg["content"]["execution_state"] == "idle":
                break
            if t in ("stream", "display_data", "update_display_data", "error", "execute_result"):
                messages.append((t, msg["content"]))
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        return Reply(reply["content"]["status"], reply["content"], messages)

    def wait_for_output(self, msg_id: str, text: str, timeout: float = 30) -> list:
        seen = []
        streamed = ""
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            seen.append((msg["msg_type"], msg["content"]))
            if msg["msg_type"] == "stream":
                streamed += msg["content"]["text"]
                if text in streamed:
                    return seen

    def complete(self, code: str, cursor_pos: int | None = None) -> dict[str, Any]:
        msg_id = self.kc.complete(code, cursor_pos)
        reply = self.kc.get_shell_msg(timeout=30)
        # (a busy machine may leave a second kernel_info reply from wait_for_ready queued)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=30)
        return reply["content"]

    def drain_iopub(self) -> None:
        try:
            while True:
                self.kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            pass


@pytest.fixture
def device_kernel(tmp_path: Path) -> Iterator[Any]:
    """Start a device kernel module (``jupyter_orbit.kernels.devices.micropython``) the way its recipe
    does: the bootstrap command, a kernelspec, jupyter_client's KernelManager."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    sessions: list[DeviceKernelSession] = []

    def start(module: str, env: dict[str, str] | None = None, *, argv: list[str] | None = None):
        spec_dir = tmp_path / "kernels" / f"k{len(sessions)}"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": argv or bootstrap_argv(sys.executable, module),
                    "display_name": module,
                    "language": "python",
                }
            )
        )
        ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
        km = KernelManager(kernel_name=spec_dir.name, kernel_spec_manager=ksm)
        kernel_env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
        kernel_env.update(env or {})
        km.start_kernel(env=kernel_env, cwd=str(tmp_path))
        s = DeviceKernelSession(km)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.kc.stop_channels()
        if s.km.is_alive():
            s.km.shutdown_kernel(now=True)
