"""The pipeline's use of hardware: a notebook's declaration held against this machine.

``prepare`` calls ``fit`` once it has read the notebook (``Resolution.hardware``) and before it
looks anything up: the match says what is missing here ("no GPU here", and the fix), and the
accelerator choice changes the spec when the build of torch or jax depends on the GPUs the
kernel gets. The rule for that is the declaration's: a kernel gets the GPUs its notebook
declares (a container gets exactly those; a local kernel could reach more, but its build
follows what the notebook says it needs), so the same notebook gets the same environment on
every engine of one machine.

Only what the notebook declares is looked at (GPUs, serial ports), so a notebook that declares
nothing costs no probing. VISA instruments are not listed here (a network instrument often is
not listed at all, and a scan takes seconds): the kernel finds out when it connects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit.hardware.accelerator import (
    JAX,
    TORCH,
    AcceleratorChoice,
    HardwareSettings,
    accelerator_choice,
)
from jupyter_orbit.hardware.detect import Detection, detect
from jupyter_orbit.hardware.needs import (
    ContainerDevices,
    HardwareNeeds,
    Match,
    container_devices,
    kernel_env,
    match,
)

if TYPE_CHECKING:
    from jupyter_orbit.model import Resolution
    from jupyter_orbit.paths import ProfilePaths

Look = Callable[[Collection[str]], Detection]


def this_machine(kinds: Collection[str]) -> Detection:
    """Detection of ``kinds`` on the machine Orbit runs on."""
    return detect(kinds=kinds)


@dataclass(frozen=True)
class Hardware:
    """How the pipeline looks at hardware: the profile's ``[hardware]`` settings (read only when
    a notebook's build or devices depend on them) and a way to look at the machine (``look``:
    detection of some kinds; tests hand in fixture trees)."""

    settings_file: Path | None = None
    look: Look = this_machine

    @classmethod
    def of_profile(cls, profile: ProfilePaths) -> Hardware:
        return cls(profile.settings_file)

    @cached_property
    def settings(self) -> HardwareSettings:
        from jupyter_orbit import settings as st

        if self.settings_file is None or not self.settings_file.exists():
            return HardwareSettings()
        return st.read(self.settings_file).hardware


@dataclass(frozen=True)
class Fit:
    """A notebook's declared hardware, what serves it here, and the build that follows."""

    needs: HardwareNeeds
    match: Match
    detection: Detection
    accelerator: AcceleratorChoice | None = None
    hardware: Hardware = field(default_factory=Hardware, compare=False)

    @property
    def ok(self) -> bool:
        return self.match.ok

    def check(self) -> None:
        """Refuse, with the reason and the fix, a notebook whose hardware is not here."""
        self.match.raise_for_problems()

    def apply(self, res: Resolution) -> Resolution:
        """``res`` with the accelerator's index and extras in its spec. Its ``source_changing``
        stays as the project made it: the profile's indexes are the user's own."""
        if self.accelerator is None:
            return res
        return dataclasses.replace(res, spec=self.accelerator.apply(res.spec))

    def container_devices(self, *, cdi_enabled: bool) -> ContainerDevices:
        """What a kernel container gets (``BuildError`` when it cannot have it here)."""
        if self.needs.empty:
            return ContainerDevices()
        serial = bool(self.needs.serial) and self.hardware.settings.container_serial
        return container_devices(
            self.match, self.detection, cdi_enabled=cdi_enabled, allow_serial=serial
        )

    def kernel_env(self) -> dict[str, str]:
        return kernel_env(self.needs, self.match)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.match.to_dict(),
            "accelerator": self.accelerator.to_dict() if self.accelerator else None,
            "notes": list(self.detection.notes),
        }


def kinds_for(needs: HardwareNeeds) -> tuple[str, ...]:
    """The kinds of device detection looks at for ``needs``."""
    return tuple(k for k, wanted in (("gpu", needs.gpu), ("serial", needs.serial)) if wanted)


def fit(res: Resolution, hardware: Hardware) -> Fit:
    """Hold ``res``'s declared hardware against this machine and choose its torch/jax build."""
    needs = res.hardware
    kinds = kinds_for(needs)
    detection = hardware.look(kinds) if kinds else Detection(kinds=())
    m = match(needs, detection)
    packages = {r.name for r in res.spec.packages("pypi")}
    accelerator = None
    if packages & (TORCH | JAX):
        # The GPUs this kernel gets: the ones its notebook declares and that are here.
        seen = Detection(m.gpus, detection.containers, detection.cuda_version if m.gpus else None)
        accelerator = accelerator_choice(packages, seen, hardware.settings)
    return Fit(needs, m, detection, accelerator, hardware)
