"""The bazaar: the package managers Orbit speaks (one ``Ecosystem`` class each), which of
them a kernel can use, and what is built on them (search, add/remove, lock, hot add, export)."""

from __future__ import annotations

from collections.abc import Mapping

from jupyter_orbit.bazaar.base import Ecosystem, Found, Hit
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths

# Which ecosystems each kernel language can use, the first being where a bare `orbit add`
# goes, and the name prefix each uses for that language's packages (R's Debian packages are
# r-cran-*, its conda packages r-*).
KERNEL_ECOSYSTEMS: dict[str, dict[str, str]] = {
    "python": {"pypi": "", "conda": "", "apt": ""},
    "r": {"conda": "r-", "apt": "r-cran-"},
    "typescript": {"npm": ""},
    "javascript": {"npm": ""},
    "bash": {"apt": ""},
    "octave": {"apt": "octave-"},
}
DEFAULT_KERNEL = "python"
# Kernelspec names and languages seen in notebooks that no recipe serves (a recipe's own names
# lead to its language).
KERNEL_ALIASES = {
    "tslab": "typescript",
    "nodejs": "javascript",
    "ijavascript": "javascript",
}


# Built-in ecosystems, imported only when used (a search in one ecosystem loads one module).
BUILTIN = {
    "pypi": "jupyter_orbit.bazaar.pypi:PyPI",
    "npm": "jupyter_orbit.bazaar.npm:Npm",
    "apt": "jupyter_orbit.bazaar.apt:Apt",
    "conda": "jupyter_orbit.bazaar.conda:Conda",
}


def ecosystem_class(name: str) -> type[Ecosystem]:
    import importlib

    if name not in BUILTIN:
        raise InputError(f"unknown ecosystem {name!r}", f"use one of: {', '.join(sorted(BUILTIN))}")
    module, _, cls = BUILTIN[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def ecosystem_classes() -> dict[str, type[Ecosystem]]:
    return {name: ecosystem_class(name) for name in BUILTIN}


def get_ecosystem(name: str, paths: Paths, environ: Mapping[str, str] | None = None) -> Ecosystem:
    return ecosystem_class(name)(paths, environ)


def kernel_ecosystems(kernel: str) -> dict[str, str]:
    """The ecosystems (with name prefixes) a kernel can use; unknown kernels get Python's."""
    return KERNEL_ECOSYSTEMS.get(kernel_family(kernel), KERNEL_ECOSYSTEMS[DEFAULT_KERNEL])


def kernel_family(kernel: str) -> str:
    """``python3`` → ``python``, ``ir`` → ``r``: the key of ``KERNEL_ECOSYSTEMS`` (a recipe's
    language, for any name the recipe answers to)."""
    from jupyter_orbit.kernels.recipes import find_recipe

    recipe = find_recipe(kernel)
    key = recipe.language.lower() if recipe else kernel.lower()
    return KERNEL_ALIASES.get(key, key)


__all__ = ["Ecosystem", "Found", "Hit", "get_ecosystem", "kernel_ecosystems"]
