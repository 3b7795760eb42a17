"""A kernel that talks SCPI to an instrument (oscilloscope, multimeter, supply) through PyVISA.

Each line of a cell is a SCPI command: one with a ``?`` is a query and its answer is shown, any
other is written; ``#`` starts a comment. ``%waveform`` fetches a trace from an oscilloscope and
plots it, once or live (one display, updated in place).

The instrument comes from ``%connect RESOURCE`` or ``ORBIT_VISA_RESOURCE`` (what a notebook's
``metadata.orbit.hardware.visa`` says); the PyVISA backend from ``%backend`` or
``ORBIT_VISA_BACKEND`` (``@py`` for pyvisa-py, ``FILE.yaml@sim`` for a simulated instrument,
empty for the system's VISA library).

``%waveform`` speaks the ``:WAVeform`` commands of the common bench oscilloscopes (Rigol's
DS1000Z and its relatives): source, normal mode, ASCII format, the preamble for the time axis,
then the data. Other instruments are driven with plain query lines.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shlex
import time
from typing import Any, ClassVar

from jupyter_orbit.kernels.devices.devicekernel import DeviceError, DeviceKernel, env_flag, launch

RESOURCE_ENV = "ORBIT_VISA_RESOURCE"
BACKEND_ENV = "ORBIT_VISA_BACKEND"
TIMEOUT_ENV = "ORBIT_VISA_TIMEOUT"


def parse_block(text: str) -> list[float]:
    """ASCII waveform data, with or without its IEEE 488.2 block header (``#9000001234``)."""
    text = text.strip()
    if text.startswith("#") and len(text) > 2 and text[1].isdigit():
        text = text[2 + int(text[1]) :]
    return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]


def time_axis(preamble: str, n: int) -> list[float]:
    """Seconds of each point from a ``:WAV:PRE?`` answer (x increment, origin, reference)."""
    fields = [float(v) for v in preamble.split(",")]
    xinc, xorig, xref = fields[4], fields[5], fields[6]
    return [xorig + (i - xref) * xinc for i in range(n)]


def plot_png(t: list[float], v: list[float], title: str) -> bytes:
    """The trace as a PNG (matplotlib's Agg canvas: no display, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    span = max(abs(t[0]), abs(t[-1])) if t else 1
    scale, unit = next(
        ((s, u) for s, u in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")) if span >= s), (1e-9, "ns")
    )
    ax.plot([x / scale for x in t], v, linewidth=1.2)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("volts")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


class ScpiKernel(DeviceKernel):
    implementation = "orbit-scpi"
    device_name = "instrument"
    language_info: ClassVar[dict[str, Any]] = {
        "name": "scpi",
        "mimetype": "text/plain",
        "file_extension": ".scpi",
    }
    banner = "SCPI instruments through PyVISA (Jupyter Orbit)"
    offline_magics = DeviceKernel.offline_magics | {"connect", "backend", "list"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resource_name = os.environ.get(RESOURCE_ENV, "")
        self.backend = os.environ.get(BACKEND_ENV, "")
        self.timeout = env_flag(TIMEOUT_ENV, 5.0)
        self.rm: Any = None
        self.inst: Any = None

    # -- the device ----------------------------------------------------------------------------

    def _manager(self) -> Any:
        if self.rm is None:
            try:
                import pyvisa
            except ImportError:
                raise DeviceError(
                    "PyVISA is not installed", "pip install pyvisa pyvisa-py"
                ) from None
            try:
                self.rm = (
                    pyvisa.ResourceManager(self.backend)
                    if self.backend
                    else (pyvisa.ResourceManager())
                )
            except Exception as e:  # no VISA library, a bad simulation file, …
                raise DeviceError(
                    f"no VISA backend {self.backend or '(default)'}: {e}",
                    "install pyvisa-py and use %backend @py, or install your vendor's VISA",
                ) from None
        return self.rm

    def open_device(self) -> None:
        if not self.resource_name:
            raise DeviceError(
                "which instrument? none is chosen",
                f"%connect RESOURCE (see %list), set {RESOURCE_ENV}, or declare it in the "
                'notebook: metadata.orbit.hardware.visa = "TCPIP0::192.168.1.20::INSTR"',
            )
        rm = self._manager()
        try:
            self.inst = rm.open_resource(
                self.resource_name,
                read_termination="\n",
                write_termination="\n",
                timeout=int(self.timeout * 1000),
            )
        except Exception as e:
            raise DeviceError(
                f"could not open {self.resource_name}: {e}",
                "check the address and that the instrument is on (%list shows what VISA finds)",
            ) from None

    def close_device(self) -> None:
        inst, self.inst = self.inst, None
        if inst is not None:
            with contextlib.suppress(Exception):
                inst.close()
        rm, self.rm = self.rm, None
        if rm is not None:
            with contextlib.suppress(Exception):
                rm.close()

    def _ask(self, command: str) -> str:
        self.ensure_open()
        try:
            return str(self.inst.query(command)).strip()
        except Exception as e:
            raise self._lost(command, e) from None

    def _tell(self, command: str) -> None:
        self.ensure_open()
        try:
            self.inst.write(command)
        except Exception as e:
            raise self._lost(command, e) from None

    def _lost(self, command: str, e: Exception) -> DeviceError:
        if "Timeout" in type(e).__name__ or "TMO" in str(e):
            return DeviceError(
                f"{self.resource_name} did not answer {command!r} within {self.timeout:g} s",
                "check the command (a query needs a '?'), or set ORBIT_VISA_TIMEOUT higher",
            )
        self.release()
        return DeviceError(f"lost {self.resource_name} at {command!r}: {e}", "check the link")

    def run_code(self, code: str) -> None:
        for line in code.splitlines():
            command = line.split("#", 1)[0].strip()
            if not command:
                continue
            if "?" in command:
                self.print(self._ask(command) + "\n")
            else:
                self._tell(command)

    def interrupted(self) -> None:
        if self.inst is not None:
            with contextlib.suppress(Exception):
                self.inst.clear()  # device clear: abandon what was asked

    # -- magics --------------------------------------------------------------------------------

    def magic_connect(self, args: str) -> None:
        """%connect RESOURCE: talk to another instrument (a VISA resource name)."""
        if not args:
            raise DeviceError(
                "usage: %connect RESOURCE", "e.g. %connect TCPIP0::192.168.1.20::INSTR"
            )
        self.release()
        self.resource_name = args
        self.ensure_open()
        self.print(f"connected to {args}\n")

    def magic_backend(self, args: str) -> None:
        """%backend [@py | FILE.yaml@sim | ""]: show or change the PyVISA backend."""
        if not args:
            self.print((self.backend or "(PyVISA's default)") + "\n")
            return
        self.release()
        self.backend = args.strip('"')
        self.print(f"backend: {self.backend or '(default)'}\n")

    def magic_query(self, args: str) -> None:
        """%query COMMAND: send COMMAND and read an answer, though it has no '?'."""
        self.print(self._ask(args) + "\n")

    def magic_list(self, args: str) -> None:
        """%list: the instruments VISA finds."""
        found = self._manager().list_resources(args or "?*::INSTR")
        self.print("\n".join(found) + "\n" if found else "(none found)\n")

    def magic_waveform(self, args: str) -> None:
        """%waveform [SOURCE] [--live N] [--every SECONDS]: fetch a trace and plot it (live:
        N updates of one plot)."""
        words = shlex.split(args)
        live, every, source = 1, 0.5, "CHAN1"
        while words:
            w = words.pop(0)
            if w == "--live" and words:
                live = int(words.pop(0))
            elif w == "--every" and words:
                every = float(words.pop(0))
            elif not w.startswith("--"):
                source = w
            else:
                raise DeviceError(f"%waveform: unknown option {w}", "see %help")
        display_id = None
        for i in range(live):
            if i:
                time.sleep(every)
            t, v = self.fetch_waveform(source)
            title = f"{source}  ({len(v)} points)" + (f"  #{i + 1}" if live > 1 else "")
            png = base64.b64encode(plot_png(t, v, title)).decode()
            data = {"image/png": png, "text/plain": f"<waveform {source}: {len(v)} points>"}
            if display_id is None:
                display_id = self.display(data)
            else:
                self.update_display(display_id, data)

    def fetch_waveform(self, source: str) -> tuple[list[float], list[float]]:
        for command in (f":WAV:SOUR {source}", ":WAV:MODE NORM", ":WAV:FORM ASC"):
            self._tell(command)
        preamble = self._ask(":WAV:PRE?")
        try:
            values = parse_block(self._ask(":WAV:DATA?"))
            return time_axis(preamble, len(values)), values
        except (ValueError, IndexError) as e:
            raise DeviceError(
                f"{self.resource_name} sent a waveform this kernel cannot read ({e})",
                "query it line by line instead (:WAV:PRE? and :WAV:DATA?)",
            ) from None


if __name__ == "__main__":
    launch(ScpiKernel)
