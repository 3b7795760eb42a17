"""Kernel recipes: how a language becomes a Jupyter kernel inside an environment.

One small base class; each recipe says which packages its environment needs, how to start the
kernel from an environment (absolute paths only, never a bare ``python`` from PATH), and a smoke
snippet with its expected output so tests can prove the kernel works.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Origin, Requirement


class KernelRecipe(ABC):
    name: ClassVar[str]
    display_name: ClassVar[str]
    language: ClassVar[str]
    kernelspec_name: ClassVar[str]  # the generic name kept in notebooks (portable to plain Jupyter)
    packages: ClassVar[dict[str, tuple[str, ...]]] = {}
    smoke_code: ClassVar[str] = ""
    smoke_output: ClassVar[str] = ""

    def requirements(self) -> tuple[Requirement, ...]:
        origin = Origin(f"kernel recipe {self.name}", None, None, 5)
        from jupyter_orbit.manifests.base import pypi_requirement

        out: list[Requirement] = []
        for eco, names in self.packages.items():
            for n in names:
                out.append(
                    pypi_requirement(n, origin) if eco == "pypi" else Requirement(eco, n, n, origin)
                )
        return tuple(out)

    @abstractmethod
    def argv(self, env_prefix: Path, python: Path) -> list[str]:
        """The kernel command inside an environment; ``{connection_file}`` is filled by Jupyter."""


class IPythonRecipe(KernelRecipe):
    name = "python"
    display_name = "Python 3 (ipykernel)"
    language = "python"
    kernelspec_name = "python3"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("ipykernel",)}
    smoke_code = "print(6 * 7)"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path) -> list[str]:
        return [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]


RECIPES: dict[str, type[KernelRecipe]] = {r.name: r for r in (IPythonRecipe,)}
# Kernelspec names and languages found in notebooks, mapped to the recipe that serves them.
ALIASES = {"python3": "python", "python": "python", "ipython": "python"}


def get_recipe(name: str) -> KernelRecipe:
    key = ALIASES.get(name, name)
    if key not in RECIPES:
        raise InputError(f"unknown kernel {name!r}", f"use one of: {', '.join(sorted(RECIPES))}")
    return RECIPES[key]()
