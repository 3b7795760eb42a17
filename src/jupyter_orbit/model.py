"""The data Orbit reasons about: pure, frozen values with no I/O.

An ``EnvSpec`` is the normalised, ecosystem-tagged description of one kernel's environment. Its
hash is the environment's id: two notebooks that ask for the same thing share one environment,
and changing anything that could change what gets installed gives a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from jupyter_orbit.hardware.needs import HardwareNeeds

SPEC_VERSION = 1  # bump when the meaning of a field changes, so old ids are not reused


def _no_hardware() -> HardwareNeeds:
    """A resolution that declares no hardware (the module is imported only when one is made:
    most commands that read this model never make one)."""
    from jupyter_orbit.hardware.needs import HardwareNeeds

    return HardwareNeeds()


class Level(Enum):
    """The kinds of source a spec is read from, in the precedence DESIGN.md states: a part of
    the spec comes from the first level that sets it. Compare levels by name, never by number;
    ``precedence`` is only for sorting sources."""

    COMMAND_LINE = "command line"
    NOTEBOOK = "notebook metadata"
    PEP723 = "PEP 723 block"
    PROJECT = "project files"
    PROFILE = "profile default"
    RECIPE = "kernel recipe"

    @property
    def precedence(self) -> int:
        return _PRECEDENCE[self]


_PRECEDENCE = {level: i for i, level in enumerate(Level)}
# What a notebook or its project (or the user, on the command line) asks for, as opposed to
# what Orbit adds on its own (the profile's defaults, the kernel recipe's packages).
DECLARED = frozenset({Level.COMMAND_LINE, Level.NOTEBOOK, Level.PEP723, Level.PROJECT})


@dataclass(frozen=True)
class Origin:
    """Where one part of a spec came from (``kind``: the file format or the source's name) and
    at which level it binds."""

    kind: str
    path: Path | None = None
    line: int | None = None
    level: Level = Level.PROJECT

    def __str__(self) -> str:
        if self.path is None:
            return self.kind
        return f"{self.path}:{self.line}" if self.line else str(self.path)


COMMAND_LINE = Origin("command line", level=Level.COMMAND_LINE)


@dataclass(frozen=True, order=True)
class Requirement:
    """One requirement line for one ecosystem, normalised so equal meaning hashes equal."""

    ecosystem: str
    name: str
    text: str
    origin: Origin | None = field(default=None, compare=False, hash=False)

    def __str__(self) -> str:
        return self.text

    @property
    def declared(self) -> bool:
        """Asked for by the notebook, its project or the user (not the kernel's own)."""
        return self.origin is None or self.origin.level in DECLARED


@dataclass(frozen=True)
class Lock:
    """Exact resolved versions for a spec, in a format the engine can install from."""

    format: str  # "uv.lock" (a juv/uv script lock) or "requirements" (pinned, hashed lines)
    text: str
    origin: Origin | None = field(default=None, compare=False, hash=False)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class EnvSpec:
    kernel: str = "python"
    python: str | None = None
    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()
    index_options: tuple[str, ...] = ()
    as_of: str | None = None  # UTC "2017-05-01T00:00:00Z", for every ecosystem; None: locked
    lock: Lock | None = None
    # Fitted to the era (``jupyter_orbit.era``): the date the kernel's own packages are resolved
    # as of, the names of those that move forward to it (the rest stay at ``as_of``), and
    # whether every package must come as a wheel (nothing is built from source).
    kernel_as_of: str | None = None
    floating: tuple[str, ...] = ()
    wheels_only: bool = False

    def packages(self, ecosystem: str) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.ecosystem == ecosystem)

    def declared(self, ecosystem: str | None = None) -> tuple[Requirement, ...]:
        """What the notebook or project asks for (of one ecosystem), not the kernel's own."""
        return tuple(
            r
            for r in self.requirements
            if r.declared and (ecosystem is None or r.ecosystem == ecosystem)
        )

    def own(self, ecosystem: str | None = None) -> tuple[Requirement, ...]:
        """The kernel recipe's (and profile's) own packages (of one ecosystem)."""
        return tuple(
            r
            for r in self.requirements
            if not r.declared and (ecosystem is None or r.ecosystem == ecosystem)
        )

    @property
    def ecosystems(self) -> tuple[str, ...]:
        """The ecosystems the spec has packages of, by name."""
        return tuple(sorted({r.ecosystem for r in self.requirements}))

    def identity(self) -> dict[str, Any]:
        """Everything that can change what is installed, in a canonical form."""
        return {
            "v": SPEC_VERSION,
            "kernel": self.kernel,
            "python": self.python,
            "requirements": sorted({(r.ecosystem, r.text) for r in self.requirements}),
            "constraints": sorted({(r.ecosystem, r.text) for r in self.constraints}),
            "index": list(self.index_options),
            "as_of": self.as_of,
            "lock": self.lock.digest if self.lock else None,
            **self._fitted(),
        }

    def _fitted(self) -> dict[str, Any]:
        """The era fit, when there is one (absent otherwise, so ids made before stay)."""
        out: dict[str, Any] = {}
        if self.kernel_as_of is not None:
            out["kernel_as_of"] = self.kernel_as_of
            out["floating"] = sorted(self.floating)
        if self.wheels_only:
            out["wheels_only"] = True
        return out

    @cached_property
    def env_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "python": self.python,
            "packages": {eco: [r.text for r in self.packages(eco)] for eco in self.ecosystems},
            "constraints": [r.text for r in self.constraints],
            "index_options": list(self.index_options),
            "as_of": self.as_of,
            "lock": {"format": self.lock.format, "sha256": self.lock.digest} if self.lock else None,
            **self._fitted(),
        }


def dedupe(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    """Sorted, with exact duplicates dropped (the first origin seen is kept)."""
    seen: dict[tuple[str, str], Requirement] = {}
    for r in requirements:
        seen.setdefault((r.ecosystem, r.text), r)
    return tuple(sorted(seen.values()))


@dataclass(frozen=True)
class Source:
    """A file (or other input) that contributed to a spec, and which fields it provided."""

    kind: str
    path: Path | None
    level: Level
    provides: tuple[str, ...]


@dataclass(frozen=True)
class Ignored:
    """A file that is present but did not contribute, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Resolution:
    """The result of reading every source for one notebook or folder."""

    spec: EnvSpec
    target: Path
    notebook: Path | None
    project_root: Path
    project_dir: Path | None
    sources: tuple[Source, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    notes: tuple[str, ...] = ()
    engine: str = "local"
    as_of_source: str | None = None  # where spec.as_of came from (jupyter_orbit.asof.SOURCES)
    as_of_detail: str = ""  # that source in words: which commit, which stamp, which flag
    python_detail: str = ""  # why this Python (declared where, or chosen to fit the notebook)
    # Options and requirements that change where packages come from (always reported).
    source_changing: tuple[str, ...] = ()
    # What the notebook declares it needs of the machine (metadata.orbit.hardware).
    hardware: HardwareNeeds = field(default_factory=_no_hardware)


@dataclass(frozen=True)
class Step:
    """One typed step of a plan. A plan is what runs: the engine carries out its steps in order,
    each with ``run``, and ``--dry-run`` prints the same list (``action`` and ``detail``).

    Subclasses (the engines' and the ecosystems' own) name their action (``ACTION``), hold what
    their step needs as fields and implement ``run`` against the build the engine passes in.
    """

    ACTION: ClassVar[str] = "step"
    detail: str

    @property
    def action(self) -> str:
        return self.ACTION

    def run(self, build: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot run on its own")

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """What an engine will do to realise a spec; printing it is ``--dry-run``."""

    engine: str
    env_id: str
    spec: EnvSpec
    location: str
    built: bool
    steps: tuple[Step, ...]
    interpreter: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "env_id": self.env_id,
            "location": self.location,
            "built": self.built,
            "interpreter": self.interpreter,
            "steps": [s.to_dict() for s in self.steps],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Environment:
    """A realised spec: where it lives and the interpreter that runs its kernels."""

    engine: str
    env_id: str
    location: Path
    python: Path
    record: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
