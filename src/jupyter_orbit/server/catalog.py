"""The menu of kernels: each recipe's state for a folder (`orbit kernels`, the launcher).

A recipe is *ready* when the environment a new notebook in that folder would get is built and
the system has what the recipe needs; *installable* when only the environment is missing (what
it would install is listed); *needs-system* when a system package is missing (with the exact
command that installs it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jupyter_orbit.ecosystems import ecosystem_class
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.kernels.recipes import KernelRecipe, install_command, recipe_classes
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, prepare

READY, INSTALLABLE, NEEDS_SYSTEM, BROKEN = "ready", "installable", "needs-system", "error"


def recipe_state(
    paths: Paths, recipe: KernelRecipe, folder: Path, choices: Choices
) -> dict[str, Any]:
    """``recipe``'s state for a new notebook in ``folder``, launched with ``choices``."""
    entry: dict[str, Any] = {**recipe.summary(), "logo": recipe.logo_svg()}
    missing = recipe.missing()
    try:
        chosen = dataclasses.replace(choices, kernel=recipe.name)
        prepared = prepare(folder, chosen, paths, until="lookup")
    except OrbitError as err:
        return {**entry, "state": BROKEN, "detail": str(err), "hint": err.hint}
    spec, env = prepared.spec, prepared.environment
    entry.update(env_id=spec.env_id, engine=prepared.engine.id, built=env is not None)
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
    installs = []
    for r in spec.own():
        eco = ecosystem_class(r.ecosystem)
        if eco.installed_locally:  # system packages are checked, never installed here
            installs.append(f"{r.name} ({eco.display_name or r.ecosystem})")
    detail = "will install " + ", ".join(installs) if installs else "will set up its environment"
    if extra := spec.declared():
        detail += f" and {len(extra)} package(s) the project declares"
    return {**entry, "state": INSTALLABLE, "detail": detail, "installs": installs}


def recipe_states(paths: Paths, folder: Path, choices: Choices) -> list[dict[str, Any]]:
    return [recipe_state(paths, cls(), folder, choices) for cls in recipe_classes().values()]
