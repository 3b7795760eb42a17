"""The package managers Orbit speaks, one ``Ecosystem`` class each (see ``base``).

Orbit's own (PyPI, conda, npm, Debian's apt) and other packages' are registered in the
``jupyter_orbit.ecosystems`` entry point group; a module is imported only when its ecosystem is
used (a search in one ecosystem loads one module).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jupyter_orbit.ecosystems.base import Ecosystem, Found, Hit
from jupyter_orbit.paths import Paths
from jupyter_orbit.plugins import ECOSYSTEMS


def ecosystem_class(name: str) -> type[Ecosystem]:
    """The class registered as ``name``; an unknown name lists the valid ones."""
    return ECOSYSTEMS.load(name)


def ecosystem_names() -> list[str]:
    return ECOSYSTEMS.names()


def get_ecosystem(name: str, paths: Paths, environ: Mapping[str, str] | None = None) -> Ecosystem:
    return ecosystem_class(name)(paths, environ)


def in_order(names: Iterable[str]) -> list[str]:
    """``names`` in the order their packages are installed (system packages first)."""
    return sorted(set(names), key=lambda n: (ecosystem_class(n).order, n))


__all__ = [
    "Ecosystem",
    "Found",
    "Hit",
    "ecosystem_class",
    "ecosystem_names",
    "get_ecosystem",
    "in_order",
]
