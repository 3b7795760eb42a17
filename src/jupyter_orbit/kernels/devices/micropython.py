"""A kernel whose cells run on a MicroPython or CircuitPython board over a serial port.

Cells go to the board through the raw REPL (raw-paste mode when the firmware has it, the plain raw
REPL otherwise: ``rawrepl``). A board busy in ``main.py`` is stopped with Ctrl-C when the kernel
connects; one that does not answer (asleep, or running with Ctrl-C disabled) gets a clear message
and the fix. Interrupting a cell sends Ctrl-C to the board.

The port comes from ``%port PATH`` in a cell, else ``ORBIT_SERIAL_PORT`` (a port, or a USB
``vendor:product`` such as ``2e8a:0005``, which is what a notebook's
``metadata.orbit.hardware.serial`` says), else the only connected board of a vendor known to make
MicroPython boards.

Magics: ``%port``, ``%ls``, ``%upload``, ``%reset`` (and ``%help``, ``%disconnect``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.kernels.devices.devicekernel import (
    CellError,
    DeviceError,
    DeviceKernel,
    env_flag,
    launch,
)
from jupyter_orbit.kernels.devices.rawrepl import RawRepl, ReplError

PORT_ENV = "ORBIT_SERIAL_PORT"
TIMEOUT_ENV = "ORBIT_MICROPYTHON_TIMEOUT"
BAUD = 115200
UPLOAD_CHUNK = 1024
_USB_ID = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")

_LS = """\
import os
def _orbit_ls(p):
    at = (lambda n: n) if p is None else (lambda n: p.rstrip('/') + '/' + n)
    try:
        entries = sorted(os.ilistdir() if p is None else os.ilistdir(p))
    except AttributeError:
        names = os.listdir() if p is None else os.listdir(p)
        entries = sorted((n, os.stat(at(n))[0] & 0xF000) for n in names)
    for e in entries:
        size = e[3] if len(e) > 3 else os.stat(at(e[0]))[6]
        print('d' if e[1] & 0x4000 else '-', size, e[0], sep='\\t')
_orbit_ls({path!r})
del _orbit_ls
"""

PERMISSION_HINT = (
    "add yourself to the group that owns the port: sudo usermod -aG dialout $USER, then log out "
    "and in again (`orbit hardware` shows what each port needs)"
)


def _cooked(text: str) -> str:
    return text.replace("\r\n", "\n")


def parse_traceback(text: str) -> CellError:
    """A board's traceback as a cell error: the last line names the exception."""
    lines = [line for line in _cooked(text).split("\n") if line.strip()]
    last = lines[-1] if lines else "Error"
    ename, _, evalue = last.partition(":")
    if " " in ename.strip():  # not "Name: value": a message of the board's own
        ename, evalue = "Error", last
    return CellError(ename.strip(), evalue.strip(), ["\n".join(lines)])


def _usb_id(port: Any) -> str | None:
    return f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else None


def find_port(wanted: str | None) -> str:
    """The serial port to use: ``wanted`` (a port, or a USB vendor:product), else the only
    board of a vendor known to make MicroPython boards."""
    if wanted and not _USB_ID.match(wanted):
        return wanted
    try:
        from serial.tools import list_ports
    except ImportError:
        raise DeviceError("pyserial is not installed", "pip install pyserial") from None
    from jupyter_orbit.hardware.detect import BOARD_VENDORS

    ports = list(list_ports.comports())
    if wanted:
        found = [p.device for p in ports if _usb_id(p) == wanted.lower()]
        if not found:
            raise DeviceError(
                f"no serial device {wanted} is connected",
                "plug the board in (`orbit hardware` lists the ports), or name its port: "
                "%port /dev/ttyACM0",
            )
        return found[0]
    boards = [p.device for p in ports if p.vid is not None and f"{p.vid:04x}" in BOARD_VENDORS]
    if len(boards) == 1:
        return boards[0]
    listed = ", ".join(p.device for p in ports) or "none"
    raise DeviceError(
        "which serial port is the board on? "
        + ("several boards are connected" if boards else "no board was recognised")
        + f" (ports here: {listed})",
        f"name it in the cell: %port /dev/ttyACM0, or set {PORT_ENV}, or declare it in the "
        'notebook: metadata.orbit.hardware.serial = "/dev/ttyACM0"',
    )


class MicroPythonKernel(DeviceKernel):
    implementation = "orbit-micropython"
    device_name = "board"
    language_info: ClassVar[dict[str, Any]] = {
        "name": "python",
        "version": "3.4",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "python3",
    }
    banner = "MicroPython / CircuitPython on a board over serial (Jupyter Orbit)"
    offline_magics = DeviceKernel.offline_magics | {"port"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wanted_port = os.environ.get(PORT_ENV) or None
        self.port: str | None = None
        self.timeout = env_flag(TIMEOUT_ENV, 10.0)
        self.link: Any = None
        self.repl: RawRepl | None = None
        self._held_cr = ""

    # -- the device ----------------------------------------------------------------------------

    def open_device(self) -> None:
        import serial

        port = find_port(self.wanted_port)
        try:
            self.link = serial.Serial(port, BAUD, timeout=0.05, write_timeout=self.timeout)
        except serial.SerialException as e:
            if isinstance(e.__context__, PermissionError) or "Permission denied" in str(e):
                raise DeviceError(f"no permission to open {port}", PERMISSION_HINT) from None
            raise DeviceError(
                f"could not open {port}: {e}", "check the cable and the port (%port)"
            ) from None
        self.port = port
        self.repl = RawRepl(self.link, timeout=self.timeout)
        try:
            self.repl.enter_raw(on_stopped=self._stopped)
        except (ReplError, OSError) as e:
            self.close_device()
            raise DeviceError(
                f"the board on {port} does not answer ({e})",
                "it may be asleep (deep sleep or lightsleep), busy with Ctrl-C disabled, or not "
                "running MicroPython: press its reset button and run the cell again",
            ) from None

    def _stopped(self, text: str) -> None:
        text = _cooked(text)
        said = [line for line in text.split("\n") if line.strip() and not line.startswith(">>>")]
        if any(not line.startswith(("MicroPython", "Type ")) for line in said):
            self.print(f"(the board was busy; stopped it with Ctrl-C)\n{text.strip()}\n", "stderr")

    def close_device(self) -> None:
        link, self.link, self.repl = self.link, None, None
        if link is None:
            return
        try:
            link.write(b"\r\x02")  # back to the friendly REPL, as a person would find it
            link.flush()
        except Exception:
            pass
        link.close()

    def _repl(self) -> RawRepl:
        self.ensure_open()
        assert self.repl is not None
        return self.repl

    def run_code(self, code: str) -> None:
        errors = self._exec(code)
        if errors.strip():
            raise parse_traceback(errors)

    def _exec(self, code: str, out: Any = None) -> str:
        self._held_cr = ""
        try:
            return self._repl().exec(code, out or self._out, timeout=None)
        except (ReplError, OSError) as e:
            self.release()
            raise DeviceError(
                f"lost the board on {self.port}: {e}",
                "check the cable; the next cell connects again (%reset restarts the board)",
            ) from None

    def _out(self, text: str) -> None:
        # A board sends "\r\n"; a chunk may end between the two.
        text = self._held_cr + text
        self._held_cr = "\r" if text.endswith("\r") else ""
        self.print(_cooked(text[: len(text) - len(self._held_cr)]))

    def interrupted(self) -> None:
        assert self.repl is not None
        try:
            self.repl.stop(self._out, timeout=self.timeout)
        except (ReplError, OSError):
            self.release()
            raise DeviceError(
                "the board did not stop after Ctrl-C",
                "it may have disabled Ctrl-C (micropython.kbd_intr(-1)): press its reset button",
            ) from None

    def _quiet(self, code: str) -> str:
        """Run helper code; its output as text, its error as a DeviceError."""
        out: list[str] = []
        errors = self._exec(code, out.append)
        if errors.strip():
            raise DeviceError(parse_traceback(errors).traceback_lines[0])
        return _cooked("".join(out))

    # -- magics --------------------------------------------------------------------------------

    def magic_port(self, args: str) -> None:
        """%port [PATH|VID:PID]: show the board's port, or use another one."""
        if not args:
            self.print(f"{self.port or self.wanted_port or '(chosen on first use)'}\n")
            return
        self.release()
        self.wanted_port = args
        self.ensure_open()
        self.print(f"connected to {self.port}\n")

    def magic_ls(self, args: str) -> None:
        """%ls [PATH]: the files on the board (in its current folder without PATH)."""
        listing = self._quiet(_LS.format(path=args or None))
        rows = [line.split("\t") for line in listing.splitlines() if line.count("\t") == 2]
        width = max((len(size) for _, size, _ in rows), default=1)
        text = "\n".join(
            f"{name}/" if kind == "d" else f"{size:>{width}}  {name}" for kind, size, name in rows
        )
        self.print((text or "(empty)") + "\n")

    def magic_upload(self, args: str) -> None:
        """%upload LOCAL [REMOTE]: copy a file from the notebook's folder to the board."""
        parts = args.split()
        if not 1 <= len(parts) <= 2:
            raise DeviceError("usage: %upload LOCAL [REMOTE]", "e.g. %upload blink.py main.py")
        local = Path(parts[0]).expanduser()
        remote = parts[1] if len(parts) == 2 else local.name
        try:
            data = local.read_bytes()
        except OSError as e:
            raise DeviceError(f"cannot read {local}: {e.strerror}", "check the path") from None
        self._quiet(f"_orbit_f = open({remote!r}, 'wb')")
        for i in range(0, len(data), UPLOAD_CHUNK):
            self._quiet(f"_orbit_f.write({data[i : i + UPLOAD_CHUNK]!r})")
        size = self._quiet(
            f"_orbit_f.close()\ndel _orbit_f\nimport os\nprint(os.stat({remote!r})[6])"
        ).strip()
        if size != str(len(data)):
            raise DeviceError(f"{remote} on the board has {size} bytes, not {len(data)}", "retry")
        self.print(f"uploaded {local} to {remote} on the board ({len(data)} bytes)\n")

    def magic_reset(self, args: str) -> None:
        """%reset: soft-reset the board (its variables are gone; main.py is not run)."""
        said = self._repl().soft_reset()
        self.print(_cooked(said).replace("raw REPL; CTRL-B to exit", "").strip(" \n>") + "\n")


if __name__ == "__main__":
    launch(MicroPythonKernel)
