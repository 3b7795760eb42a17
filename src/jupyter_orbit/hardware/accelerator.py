"""Which build of torch and jax a kernel environment gets: CUDA, ROCm or CPU.

PyPI's torch for Linux is built for one CUDA version and carries its libraries (gigabytes); the
PyTorch project publishes other builds on indexes of their own (a CPU build, one per CUDA and
ROCm version). Which of them fits depends on the GPUs the kernel will see, so the choice is made
here from a detection, and only from the indexes the user's profile names:

    [hardware.torch_indexes]                  # profile.toml
    cpu = "https://download.pytorch.org/whl/cpu"
    cu124 = "https://download.pytorch.org/whl/cu124"

A project can never name these (its own index lines are source-changing and need consent); the
profile's are the user's own configuration, added to the spec's index options so that they are
part of the environment's id, and not reported as the project's.

Orbit resolves as of a date (``--exclude-newer``), which uv applies to files whose index reports
an upload time (PEP 700). An index that reports none (download.pytorch.org today) has no files
"as of" any date: name a mirror that reports upload times, or lock the notebook.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit.errors import InputError

if TYPE_CHECKING:
    from jupyter_orbit.hardware.detect import Detection
    from jupyter_orbit.model import EnvSpec

TORCH = frozenset({"torch", "torchvision", "torchaudio"})
JAX = frozenset({"jax", "jaxlib"})
_VARIANT = re.compile(r"^(cpu|cu(\d{2,3})|rocm(\d+\.\d+))$")
_URL = re.compile(r"^(https?|file)://\S+$")
KEYS = ("torch_indexes", "container_serial")


@dataclass(frozen=True)
class HardwareSettings:
    """The ``[hardware]`` table of a profile: where accelerator builds come from, and whether
    serial devices may go into containers. Only a profile sets these, never a project."""

    torch_indexes: Mapping[str, str] = field(default_factory=dict)  # "cu124" -> index URL
    container_serial: bool = False

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], path: Path | str) -> HardwareSettings:
        def bad(key: str, message: str, hint: str) -> InputError:
            return InputError(f"hardware.{key}: {message}", hint, path=path)

        extra = sorted(set(doc) - set(KEYS))
        if extra:
            raise bad(extra[0], "unknown setting", f"valid here: {', '.join(KEYS)}")
        serial = doc.get("container_serial", False)
        if not isinstance(serial, bool):
            raise bad("container_serial", f"must be true or false, not {serial!r}", "fix it")
        indexes = doc.get("torch_indexes", {})
        if not isinstance(indexes, Mapping):
            raise bad("torch_indexes", "must be a table", 'write e.g. cpu = "https://…/whl/cpu"')
        for variant, url in indexes.items():
            if not _VARIANT.match(str(variant)):
                raise bad(
                    f"torch_indexes.{variant}",
                    "is not a build variant",
                    'name it "cpu", "cu" and the CUDA version ("cu124"), or "rocm6.2"',
                )
            if not isinstance(url, str) or not _URL.match(url):
                raise bad(f"torch_indexes.{variant}", f"{url!r} is not an index URL", "fix it")
        return cls(dict(indexes), serial)

    def to_dict(self) -> dict[str, Any]:
        """The table as profile.toml holds it (empty when everything is at its default)."""
        out: dict[str, Any] = {}
        if self.container_serial:
            out["container_serial"] = True
        if self.torch_indexes:
            out["torch_indexes"] = dict(self.torch_indexes)
        return out


@dataclass(frozen=True)
class AcceleratorChoice:
    """Which build of torch and jax a kernel environment gets here, and why."""

    variant: str  # "cu124", "rocm6.2", "cpu", or "pypi" (PyPI's own build, no index chosen)
    index_options: tuple[str, ...] = ()  # in EnvSpec.index_options' spelling
    replace: Mapping[str, str] = field(default_factory=dict)  # requirement name -> with extras
    reason: str = ""

    def apply(self, spec: EnvSpec) -> EnvSpec:
        """``spec`` with the chosen index and extras (unchanged for PyPI's own builds)."""
        from packaging.requirements import Requirement as Parsed

        requirements = []
        for r in spec.requirements:
            extra = self.replace.get(r.name) if r.ecosystem == "pypi" else None
            if extra:
                parsed = Parsed(r.text)
                parsed.extras |= set(Parsed(extra).extras)
                r = dataclasses.replace(r, text=str(parsed))
            requirements.append(r)
        options = [o for o in spec.index_options if o not in self.index_options]
        return dataclasses.replace(
            spec,
            requirements=tuple(requirements),
            index_options=(*options, *self.index_options),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "index_options": list(self.index_options),
            "replace": dict(self.replace),
            "reason": self.reason,
        }


def _cuda_tuple(variant: str) -> tuple[int, int]:
    digits = variant[2:]
    return int(digits[:-1]), int(digits[-1])


def accelerator_choice(
    packages: Iterable[str], detection: Detection, settings: HardwareSettings
) -> AcceleratorChoice | None:
    """The torch/jax build for a kernel environment whose kernel sees the GPUs of
    ``detection``, from the indexes the profile configures (``packages``: canonical names of
    its PyPI requirements). None when it asks for neither."""
    names = set(packages)
    if not names & (TORCH | JAX):
        return None
    indexes = settings.torch_indexes
    wants_torch = bool(names & TORCH)
    nvidia = detection.gpus("nvidia")
    amd = [g for g in detection.gpus("amd") if g.details.get("rocm") == "yes"]
    replace: dict[str, str] = {}
    if nvidia and detection.cuda_version:
        cuda = tuple(int(x) for x in detection.cuda_version.split(".")[:2])
        if "jax" in names and cuda[0] >= 12:
            replace["jax"] = "jax[cuda12]"
        usable = sorted(
            (v for v in indexes if v.startswith("cu") and _cuda_tuple(v) <= cuda),
            key=_cuda_tuple,
        )
        driver = f"the NVIDIA driver here supports CUDA {detection.cuda_version}"
        if usable and wants_torch:
            v = usable[-1]
            return AcceleratorChoice(
                v, (f"--extra-index-url {indexes[v]}",), replace, f"{driver}: torch from {v}"
            )
        newer = [v for v in indexes if v.startswith("cu")]
        why = f"{driver}; no CUDA index in the profile fits it" if newer else driver
        return AcceleratorChoice("pypi", (), replace, f"{why}: PyPI's own builds")
    if amd:
        rocm = sorted(
            (v for v in indexes if v.startswith("rocm")),
            key=lambda v: tuple(int(x) for x in v[4:].split(".")),
        )
        if rocm and wants_torch:
            v = rocm[-1]
            return AcceleratorChoice(
                v, (f"--extra-index-url {indexes[v]}",), {}, f"an AMD GPU with ROCm: torch from {v}"
            )
        return AcceleratorChoice(
            "pypi", (), {}, "an AMD GPU with ROCm, and no ROCm index in the profile: PyPI's builds"
        )
    if "cpu" in indexes and wants_torch:
        return AcceleratorChoice(
            "cpu",
            (f"--extra-index-url {indexes['cpu']}",),
            {},
            "no GPU for this kernel: the CPU build of torch (no CUDA libraries to download)",
        )
    return AcceleratorChoice("pypi", (), {}, "no GPU for this kernel: PyPI's own builds")
