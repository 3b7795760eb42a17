"""The bazaar: what Orbit builds on the ecosystems (``jupyter_orbit.ecosystems``) for people —
search across package managers, add and remove packages in the files a project already keeps,
lock, hot add into running kernels, and export to standard files."""

from __future__ import annotations


def kernel_ecosystems(kernel: str) -> dict[str, str]:
    """The ecosystems a kernel's language takes packages from (with their name prefixes), as
    its recipe declares them; a name no recipe answers to gets Python's."""
    from jupyter_orbit.kernels.recipes import DEFAULT, find_recipe

    recipe = find_recipe(kernel) or find_recipe(DEFAULT)
    assert recipe is not None
    return recipe.package_ecosystems()
