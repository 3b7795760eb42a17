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
from functools import cached_property
from pathlib import Path
from typing import Any

ECOSYSTEMS = ("pypi", "conda", "npm", "apt")
SPEC_VERSION = 1  # bump when the meaning of a field changes, so old ids are not reused


@dataclass(frozen=True)
class Origin:
    """Where one part of a spec came from, and how strongly it binds.

    ``rank`` is the precedence DESIGN.md states: 0 the command line, 1 the notebook's
    ``metadata.orbit``, 2 its PEP 723 block, 3 the project's files, 4 the profile's default;
    kernel recipes add their own packages at rank 5.
    """

    kind: str
    path: Path | None = None
    line: int | None = None
    rank: int = 3

    def __str__(self) -> str:
        if self.path is None:
            return self.kind
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass(frozen=True, order=True)
class Requirement:
    """One requirement line for one ecosystem, normalised so equal meaning hashes equal."""

    ecosystem: str
    name: str
    text: str
    origin: Origin | None = field(default=None, compare=False, hash=False)

    def __str__(self) -> str:
        return self.text


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

    def packages(self, ecosystem: str) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.ecosystem == ecosystem)

    @property
    def ecosystems(self) -> tuple[str, ...]:
        return tuple(e for e in ECOSYSTEMS if self.packages(e))

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
        }

    @cached_property
    def env_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "python": self.python,
            "packages": {
                eco: [r.text for r in self.packages(eco)]
                for eco in ECOSYSTEMS
                if self.packages(eco)
            },
            "constraints": [r.text for r in self.constraints],
            "index_options": list(self.index_options),
            "as_of": self.as_of,
            "lock": {"format": self.lock.format, "sha256": self.lock.digest} if self.lock else None,
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
    rank: int
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

    @property
    def source_changing(self) -> tuple[str, ...]:
        """Options and requirements that change where packages come from."""
        direct = tuple(
            f"{r.text}  ({r.origin})" for r in self.spec.requirements if _is_direct_reference(r)
        )
        options = tuple(o for o in self.spec.index_options if not o.startswith("--prerelease"))
        return options + direct


def _is_direct_reference(r: Requirement) -> bool:
    return r.ecosystem == "pypi" and (" @ " in r.text or "://" in r.text)


@dataclass(frozen=True)
class Step:
    action: str
    detail: str


@dataclass(frozen=True)
class Plan:
    """What an engine would do to realise a spec; printing it is ``--dry-run``."""

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
            "steps": [{"action": s.action, "detail": s.detail} for s in self.steps],
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
