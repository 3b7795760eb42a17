"""A base class for kernels that talk to a device: a board, an instrument, a sensor.

A device kernel is an ordinary Jupyter kernel (ipykernel's ``Kernel``) whose cells go to a device
rather than to an interpreter in the kernel process. ``DeviceKernel`` speaks the kernel messages;
a subclass says how to reach its device:

``open_device()``
    connect (called before the first cell that needs the device, again after a failure);
``close_device()``
    let go of it (at shutdown, and by ``%disconnect``);
``run_code(code)``
    run a cell on the device, reporting output as it arrives with ``self.print`` and
    ``self.display``; raise ``CellError`` for an error the device reports, ``DeviceError`` for a
    failure to reach it;
``interrupted()``
    the user pressed "interrupt" while ``run_code`` was waiting: stop the device (a Ctrl-C, an
    abort command) and collect what it still says.

Lines at the top of a cell that start with ``%`` are magics: ``%name args`` calls the method
``magic_name(self, args)``; a cell starting ``%%name args`` hands the rest of the cell to
``cell_magic_name(self, args, body)``. The device is opened before a magic runs unless its name
is in ``offline_magics``. A magic's docstring is its help (``%help``), and magic
names complete with Tab. ``self.display(..., display_id=...)`` and ``self.update_display`` send
``display_data`` and ``update_display_data`` for live readings.

Everything here imports only the standard library and ipykernel: a device kernel runs in an
environment that holds ipykernel and its device library, with Orbit's own package made importable
without its dependencies (``bootstrap_argv``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ipykernel.kernelbase import Kernel


class DeviceError(Exception):
    """The device could not be reached or did not answer; shown as a message and a fix."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CellError(Exception):
    """The device ran the cell and reported an error (its own traceback, as it wrote it)."""

    def __init__(self, ename: str, evalue: str, traceback_lines: list[str]) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.traceback_lines = traceback_lines


class DeviceKernel(Kernel):
    """Speaks the kernel messages for one device; subclasses say how to reach it."""

    implementation = "orbit-device"
    implementation_version = "1"
    device_name = "device"  # in messages: "the board", "the instrument"
    language_info: ClassVar[dict[str, Any]] = {
        "name": "text",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    }
    banner = "An Orbit device kernel"
    # Magics that work without the device (the others get it opened first).
    offline_magics: ClassVar[frozenset[str]] = frozenset({"help", "version", "disconnect"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connected = False

    # -- what a subclass implements ------------------------------------------------------------

    def open_device(self) -> None:
        """Connect to the device; raise ``DeviceError`` with a fix when it cannot be reached."""

    def close_device(self) -> None:
        """Let go of the device (close ports, sessions); must not raise."""

    def run_code(self, code: str) -> None:
        """Run a cell's code on the device, reporting output as it arrives."""
        raise DeviceError(f"this kernel runs no code, only magics: {', '.join(self.magics())}")

    def interrupted(self) -> None:
        """Stop what the device is doing after the user interrupted ``run_code``."""

    def complete_code(self, code: str, cursor_pos: int) -> tuple[list[str], int]:
        """Completions for device code at ``cursor_pos``: (matches, where the word starts)."""
        return [], cursor_pos

    # -- what a subclass uses ------------------------------------------------------------------

    def print(self, text: str, stream: str = "stdout") -> None:
        """Stream text to the cell's output as it arrives."""
        if text:
            self.send_response(self.iopub_socket, "stream", {"name": stream, "text": text})

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        display_id: str | None = None,
    ) -> str:
        """Show rich output (``{"image/png": base64, "text/plain": ...}``); returns its id, which
        ``update_display`` replaces in place (live readings)."""
        display_id = display_id or uuid.uuid4().hex
        self.send_response(
            self.iopub_socket,
            "display_data",
            {"data": data, "metadata": metadata or {}, "transient": {"display_id": display_id}},
        )
        return display_id

    def update_display(
        self, display_id: str, data: dict[str, Any], metadata: dict[str, Any] | None = None
    ) -> None:
        self.send_response(
            self.iopub_socket,
            "update_display_data",
            {"data": data, "metadata": metadata or {}, "transient": {"display_id": display_id}},
        )

    def ensure_open(self) -> None:
        if not self.connected:
            self.open_device()
            self.connected = True

    def release(self) -> None:
        if self.connected:
            self.connected = False
            with contextlib.suppress(Exception):
                self.close_device()

    @classmethod
    def magics(cls) -> dict[str, str]:
        """Magic name -> its one-line help, line magics as ``%name``, cell magics ``%%name``."""
        out = {}
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            for prefix, mark in (("magic_", "%"), ("cell_magic_", "%%")):
                if name.startswith(prefix):
                    doc = inspect.getdoc(member) or ""
                    out[mark + name[len(prefix) :]] = doc.splitlines()[0] if doc else ""
        return dict(sorted(out.items()))

    # -- built-in magics -----------------------------------------------------------------------

    def magic_help(self, args: str) -> None:
        """List the magics this kernel knows."""
        width = max(map(len, self.magics()), default=0)
        lines = [f"{name:<{width}}  {doc}" for name, doc in self.magics().items()]
        self.print("\n".join(lines) + "\n")

    def magic_version(self, args: str) -> None:
        """This kernel's name and version."""
        self.print(f"{self.implementation} {self.implementation_version}\n")

    def magic_disconnect(self, args: str) -> None:
        """Let go of the device (the next cell connects again)."""
        self.release()
        self.print(f"disconnected from the {self.device_name}\n")

    # -- the kernel messages -------------------------------------------------------------------

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            with self._interruptible():
                self._execute(code)
        except KeyboardInterrupt:
            return self._error("KeyboardInterrupt", "interrupted", [], silent)
        except CellError as e:
            return self._error(e.ename, e.evalue, e.traceback_lines, silent)
        except DeviceError as e:
            text = e.message + (f"\nFix: {e.hint}" if e.hint else "")
            return self._error("DeviceError", e.message, [text], silent)
        except Exception as e:  # a bug in the kernel: say so, keep the kernel alive
            lines = traceback.format_exception(e)
            return self._error(type(e).__name__, str(e), ["".join(lines)], silent)
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        try:
            yield
        except KeyboardInterrupt:
            if self.connected:
                try:
                    self.interrupted()
                except DeviceError as e:
                    self.print(f"{e.message}\n" + (f"Fix: {e.hint}\n" if e.hint else ""), "stderr")
            raise

    def _execute(self, code: str) -> None:
        lines = code.split("\n")
        if lines and lines[0].lstrip().startswith("%%"):
            name, _, args = lines[0].lstrip()[2:].partition(" ")
            self._magic("cell_magic_", name, args.strip(), "\n".join(lines[1:]))
            return
        while lines and (not lines[0].strip() or lines[0].lstrip().startswith("%")):
            line = lines.pop(0).strip()
            if line:
                name, _, args = line[1:].partition(" ")
                self._magic("magic_", name, args.strip())
        body = "\n".join(lines)
        if body.strip():
            self.ensure_open()
            try:
                self.run_code(body)
            except DeviceError:
                self.release()  # connect afresh next time
                raise

    def _magic(self, prefix: str, name: str, args: str, *body: str) -> None:
        method = getattr(self, prefix + name, None)
        if method is None:
            mark = "%%" if prefix.startswith("cell") else "%"
            raise DeviceError(
                f"unknown magic {mark}{name}", f"known ones: {', '.join(self.magics())}"
            )
        if name not in self.offline_magics:
            self.ensure_open()
        method(args, *body)

    def _error(self, ename: str, evalue: str, tb: list[str], silent: bool) -> dict[str, Any]:
        content = {"ename": ename, "evalue": evalue, "traceback": tb}
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:  # type: ignore[override]
        line_start = code.rfind("\n", 0, cursor_pos) + 1
        line = code[line_start:cursor_pos]
        if line.lstrip().startswith("%") and " " not in line.strip():
            word = line.strip()
            start = cursor_pos - len(word)
            matches = [m for m in self.magics() if m.startswith(word)]
        else:
            matches, start = self.complete_code(code, cursor_pos)
        return {
            "matches": matches,
            "cursor_start": start,
            "cursor_end": cursor_pos,
            "metadata": {},
            "status": "ok",
        }

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:  # type: ignore[override]
        self.release()
        return {"status": "ok", "restart": restart}

    async def do_is_complete(self, code: str) -> dict[str, Any]:  # type: ignore[override]
        return {"status": "complete"}


def launch(kernel_class: type[DeviceKernel]) -> None:
    """Start ``kernel_class`` as a kernel process (``-f CONNECTION_FILE`` on the command line)."""
    import atexit

    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance(kernel_class=kernel_class)
    app.initialize(sys.argv[1:])
    atexit.register(app.kernel.release)  # a kernel that is killed still lets go of its device
    app.start()


def package_folder() -> Path:
    """The folder of Orbit's own package (``jupyter_orbit``)."""
    return Path(__file__).resolve().parents[2]


def bootstrap_argv(python: str, module: str) -> list[str]:
    """The command that runs ``module`` (a device kernel in Orbit's package) with ``python``, an
    environment's interpreter that has ipykernel and the device library but not Orbit.

    Only Orbit's own package folder is made importable, not the environment Orbit runs in, so the
    kernel sees its environment's packages and nothing of Orbit's dependencies.
    """
    package = str(package_folder())
    code = (
        "import runpy, sys, types; "
        "m = types.ModuleType('jupyter_orbit'); m.__path__ = [sys.argv.pop(1)]; "
        "sys.modules['jupyter_orbit'] = m; "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return [python, "-I", "-c", code, package, "-f", "{connection_file}"]


def env_flag(name: str, default: float) -> float:
    """A number from the environment (timeouts), the default when unset or not a number."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default
