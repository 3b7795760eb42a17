"""The profile's kernelspecs: generic names, Orbit's provisioner, nothing from elsewhere.

Notebooks keep portable kernelspec names (``python3``); which environment a kernel runs in is
decided at launch by Orbit's provisioner, from the notebook itself.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from traitlets import default

from jupyter_orbit import atomic
from jupyter_orbit.kernels.recipes import RECIPES
from jupyter_orbit.paths import ProfilePaths

PROVISIONER = "orbit-provisioner"


def kernelspec_json(recipe_name: str) -> dict:
    recipe = RECIPES[recipe_name]()
    return {
        # Absolute: the server environment's interpreter. The provisioner replaces it with the
        # notebook's environment; without the provisioner this still starts a working kernel.
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": recipe.display_name,
        "language": recipe.language,
        "metadata": {
            "debugger": True,
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER,
                "config": {"recipe": recipe.name},
            },
        },
    }


def install_kernelspecs(profile: ProfilePaths) -> list[str]:
    """Write (or refresh) one kernelspec per recipe into the profile's data folder."""
    installed = []
    for name, cls in RECIPES.items():
        folder = profile.kernels_dir / cls.kernelspec_name
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(folder / "kernel.json", kernelspec_json(name))
        for logo in _logos(name):
            target = folder / logo.name
            if not target.exists():
                shutil.copyfile(logo, target)
        installed.append(cls.kernelspec_name)
    return installed


def _logos(recipe_name: str) -> list[Path]:
    if recipe_name == "python":
        import ipykernel

        res = Path(ipykernel.__file__).parent / "resources"
        return [p for p in res.glob("logo-*") if p.is_file()]
    return []


class ProfileKernelSpecManager(KernelSpecManager):
    """Kernelspecs from the profile's data folder only (none from ~/.local, /usr/share, IPython)."""

    @default("kernel_dirs")
    def _kernel_dirs_default(self) -> list[str]:
        return [str(Path(self.data_dir) / "kernels")]

    @default("ensure_native_kernel")
    def _ensure_native_kernel_default(self) -> bool:
        return False
