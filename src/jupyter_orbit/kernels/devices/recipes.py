"""The device kernels on the kernel menu: a MicroPython board over serial, a SCPI instrument.

Each recipe's environment holds ipykernel and its device library from PyPI; the kernel's own code
comes from Orbit's package (``devicekernel.bootstrap_argv``), so the environment needs nothing of
Orbit's. What the machine itself must grant (membership of the group that owns serial ports) is a
system requirement: ``orbit kernels`` shows it with the command that grants it.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.kernels.recipes import KernelRecipe, SystemRequirement, Which

SERIAL_GROUP = "dialout"


@dataclass(frozen=True)
class GroupAccess(SystemRequirement):
    """Membership of the group that owns a kind of device node (``dialout`` for serial ports).

    Present for root, on systems without such groups (macOS, Windows), and for members.
    """

    group: str = SERIAL_GROUP

    def present(self, which: Which = shutil.which) -> bool:
        if os.name != "posix" or sys.platform == "darwin" or os.geteuid() == 0:
            return True
        from jupyter_orbit.hardware.detect import Probe

        return self.group in Probe().user_groups()


SERIAL_ACCESS = GroupAccess(
    what=f"permission to open serial ports (group {SERIAL_GROUP})",
    executable="",
    debian=(),
    elsewhere=(
        f"sudo usermod -aG {SERIAL_GROUP} $USER, then log out and in again "
        "(`orbit hardware` shows a udev rule for a stable name)"
    ),
    group=SERIAL_GROUP,
)


class _DeviceRecipe(KernelRecipe):
    module: ClassVar[str]  # the kernel's module in Orbit's package

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        # devicekernel imports ipykernel: loaded when a device kernel starts, not with the recipes
        from jupyter_orbit.kernels.devices.devicekernel import bootstrap_argv

        return bootstrap_argv(str(python), self.module)

    def host_folders(self) -> tuple[Path, ...]:
        from jupyter_orbit.kernels.devices.devicekernel import package_folder

        return (package_folder(),)  # the kernel's code is Orbit's own

    def logo_svg(self) -> str:
        logos = resources.files("jupyter_orbit.kernels.devices").joinpath("logos")
        return logos.joinpath(self.logo).read_text()


class MicroPythonRecipe(_DeviceRecipe):
    name = "micropython"
    display_name = "MicroPython (board)"
    language = "python"
    kernelspec_name = "micropython"
    aliases = ("micropython", "circuitpython", "upython")
    description = (
        "MicroPython or CircuitPython on a board over USB serial: cells run on the board; "
        "%upload and %ls files, %reset"
    )
    logo = "micropython.svg"
    module = "jupyter_orbit.kernels.devices.micropython"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("ipykernel", "pyserial")}
    system = (SERIAL_ACCESS,)
    language_info: ClassVar[dict[str, str]] = {"name": "python", "file_extension": ".py"}
    # Needs no board: proves the kernel starts and answers. Tests run real cells on a
    # simulated board.
    smoke_code = "%version"
    smoke_output = "orbit-micropython 1"


class ScpiRecipe(_DeviceRecipe):
    name = "scpi"
    display_name = "SCPI instrument"
    language = "scpi"
    kernelspec_name = "scpi"
    aliases = ("scpi", "visa", "pyvisa")
    description = (
        "oscilloscopes, multimeters and supplies through PyVISA: SCPI queries, and %waveform "
        "plots a trace"
    )
    logo = "scpi.svg"
    module = "jupyter_orbit.kernels.devices.scpi"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {
        "pypi": ("ipykernel", "pyvisa", "pyvisa-py", "matplotlib")
    }
    language_info: ClassVar[dict[str, str]] = {"name": "scpi", "file_extension": ".scpi"}
    smoke_code = "%version"
    smoke_output = "orbit-scpi 1"
