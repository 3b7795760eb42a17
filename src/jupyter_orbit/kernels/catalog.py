"""The menu of kernels: each recipe's state for a folder (`orbit kernels`, the launcher).

A recipe is *ready* when the environment a new notebook in that folder would get is built and
the system has what the recipe needs; *installable* when only the environment is missing (what
it would install is listed); *needs-system* when a system package is missing (with the exact
command that installs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_orbit.engines import get_engine
from jupyter_orbit.engines.local import default_python
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.kernels.recipes import KernelRecipe, install_command, recipe_classes
from jupyter_orbit.model import Resolution
from jupyter_orbit.paths import Paths

READY, INSTALLABLE, NEEDS_SYSTEM, BROKEN = "ready", "installable", "needs-system", "error"
_ECOSYSTEM_NAMES = {"pypi": "PyPI", "npm": "npm", "apt": "Debian", "conda": "conda"}


def default_resolution(folder: Path, recipe: str, *, root: Path | None = None) -> Resolution:
    """What a new notebook with ``recipe``'s kernel in ``folder`` resolves to."""
    from jupyter_orbit.manifests import resolve

    return resolve(folder, root=root, kernel=recipe, default_python=default_python())


def only_recipe_packages(res: Resolution) -> bool:
    """True when nothing but the kernel's own packages would be installed (no consent needed)."""
    return all(r.origin is not None and r.origin.rank >= 4 for r in res.spec.requirements)


def recipe_state(
    paths: Paths, recipe: KernelRecipe, folder: Path, *, root: Path | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {**recipe.summary(), "logo": recipe.logo_svg()}
    missing = recipe.missing()
    try:
        res = default_resolution(folder, recipe.name, root=root)
        engine = get_engine(res.engine, paths)
        env = engine.lookup(res.spec)
    except OrbitError as err:
        return {**entry, "state": BROKEN, "detail": str(err), "hint": err.hint}
    entry.update(env_id=res.spec.env_id, engine=res.engine, built=env is not None)
    if missing:
        command = install_command(missing)
        return {
            **entry,
            "state": NEEDS_SYSTEM,
            "detail": "needs " + ", ".join(m.what for m in missing),
            "command": command,
        }
    if env is not None:
        return {**entry, "state": READY, "detail": "environment built"}
    own = [r for r in res.spec.requirements if r.origin is not None and r.origin.rank >= 4]
    extra = [r for r in res.spec.requirements if r not in own]
    installs = [
        f"{r.name} ({_ECOSYSTEM_NAMES.get(r.ecosystem, r.ecosystem)})"
        for r in own
        if r.ecosystem != "apt"  # system packages are checked, never installed here
    ]
    detail = "will install " + ", ".join(installs) if installs else "will set up its environment"
    if extra:
        detail += f" and {len(extra)} package(s) the project declares"
    return {**entry, "state": INSTALLABLE, "detail": detail, "installs": installs}


def recipe_states(paths: Paths, folder: Path, *, root: Path | None = None) -> list[dict[str, Any]]:
    return [recipe_state(paths, cls(), folder, root=root) for cls in recipe_classes().values()]
