"""Plug points found through entry points, Orbit's own included (as hatch finds its plugins).

Four kinds of things can be added to Orbit by installing a package: engines, ecosystems, manifest
formats and kernel recipes. Each is one base class; each class names itself (``name``) and is
registered under that name in the kind's entry point group:

    [project.entry-points."jupyter_orbit.ecosystems"]
    toy = "toy_orbit:ToyEcosystem"

Orbit's own classes are registered the same way in its own ``pyproject.toml``. Looking a name up
reads Orbit's own distribution first (well under a millisecond); the scan of every installed
distribution (tens of milliseconds) happens only for a name Orbit does not ship or when every
plug-in of a kind is listed. An unknown name is an error that lists the valid ones.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, TypeVar

from jupyter_orbit.errors import InputError

T = TypeVar("T")
DISTRIBUTION = "jupyter-orbit"
log = logging.getLogger(__name__)


@dataclass
class Registry(Generic[T]):
    """The plug-ins of one kind: ``kind`` names it in messages, ``group`` is its entry points."""

    kind: str
    group: str
    _own: dict[str, metadata.EntryPoint] | None = field(default=None, repr=False)
    _all: dict[str, metadata.EntryPoint] | None = field(default=None, repr=False)
    _loaded: dict[str, type[T]] = field(default_factory=dict, repr=False)

    def own(self) -> dict[str, metadata.EntryPoint]:
        """Orbit's own plug-ins of this kind, in the order its metadata lists them."""
        if self._own is None:
            try:
                found = metadata.distribution(DISTRIBUTION).entry_points
            except metadata.PackageNotFoundError:
                found = metadata.EntryPoints(())
            self._own = {ep.name: ep for ep in found if ep.group == self.group}
        return self._own

    def entries(self) -> dict[str, metadata.EntryPoint]:
        """Every plug-in of this kind: Orbit's own first, then other packages' by name."""
        if self._all is None:
            own = self.own()
            found = _installed(tuple(sys.path)).select(group=self.group)
            others = sorted(
                (ep for ep in found if ep.name not in own),
                key=lambda ep: ep.name,
            )
            self._all = {**own, **{ep.name: ep for ep in others}}
        return self._all

    def names(self) -> list[str]:
        return list(self.entries())

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``; ``InputError`` listing the valid names if none."""
        if name in self._loaded:
            return self._loaded[name]
        ep = self.own().get(name) or self.entries().get(name)
        if ep is None:
            raise InputError(
                f"unknown {self.kind} {name!r}", f"use one of: {', '.join(sorted(self.names()))}"
            )
        cls = ep.load()
        if getattr(cls, "name", None) != name:
            raise InputError(
                f"the {self.kind} registered as {name!r} ({ep.value}) calls itself "
                f"{getattr(cls, 'name', None)!r}",
                f"fix the entry point in the package that provides {ep.value}",
            )
        self._loaded[name] = cls
        return cls

    def find(self, name: str) -> type[T] | None:
        """Like ``load``, but None for a name nobody registered."""
        if name not in self._loaded and name not in self.own() and name not in self.entries():
            return None
        return self.load(name)

    def classes(self) -> dict[str, type[T]]:
        """Every plug-in that loads; one that fails to load is logged and left out, so a broken
        package cannot take Orbit's own plug-ins down."""
        out: dict[str, type[T]] = {}
        for name in self.entries():
            try:
                out[name] = self.load(name)
            except Exception as e:  # any failure of foreign code
                log.warning("Orbit: the %s %r could not be loaded: %s", self.kind, name, e)
        return out

    def add(self, cls: type[T]) -> None:
        """Register ``cls`` in this process only (an application embedding Orbit, a test)."""
        self.entries()  # found plug-ins first, so the added one is not scanned over
        self._loaded[cls.name] = cls  # type: ignore[attr-defined]
        assert self._all is not None
        self._all[cls.name] = metadata.EntryPoint(
            cls.name, f"{cls.__module__}:{cls.__qualname__}", self.group
        )  # type: ignore[attr-defined]

    def remove(self, name: str) -> None:
        """Undo ``add``."""
        self._loaded.pop(name, None)
        if self._all is not None and name not in self.own():
            self._all.pop(name, None)

    def refresh(self) -> None:
        """Forget what was found (after installing a package into the running process)."""
        self._own = self._all = None
        self._loaded.clear()
        _installed.cache_clear()


@functools.lru_cache(maxsize=4)
def _installed(path: tuple[str, ...]) -> metadata.EntryPoints:
    """The entry points of every distribution on ``path`` (``sys.path``), read once for all
    four kinds: each scan reads every installed distribution's metadata."""
    return metadata.entry_points()


def _registry(kind: str, group: str) -> Registry[Any]:
    return Registry(kind, group)


ENGINES = _registry("engine", "jupyter_orbit.engines")
ECOSYSTEMS = _registry("ecosystem", "jupyter_orbit.ecosystems")
MANIFESTS = _registry("manifest format", "jupyter_orbit.manifests")
RECIPES = _registry("kernel", "jupyter_orbit.kernel_recipes")
