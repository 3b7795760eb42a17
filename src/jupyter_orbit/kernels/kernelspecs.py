"""The profile's kernelspecs: generic names, Orbit's provisioner, nothing from elsewhere.

Notebooks keep portable kernelspec names (``python3``); which environment a kernel runs in is
decided at launch by Orbit's provisioner, from the notebook itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from traitlets import default

from jupyter_orbit import atomic
from jupyter_orbit.kernels.recipes import recipe_classes
from jupyter_orbit.paths import ProfilePaths

PROVISIONER = "orbit-provisioner"


def kernelspec_json(recipe_name: str) -> dict:
    recipe = recipe_classes()[recipe_name]()
    return {
        # Absolute: the server environment's interpreter. The provisioner replaces it with the
        # notebook's environment and the recipe's command; without the provisioner a Python
        # kernel still starts.
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": recipe.display_name,
        "language": recipe.language,
        "metadata": {
            "debugger": recipe.language == "python",
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER,
                "config": {"recipe": recipe.name},
            },
        },
    }


def install_kernelspecs(profile: ProfilePaths) -> list[str]:
    """Write (or refresh) one kernelspec per recipe into the profile's data folder."""
    installed = []
    for name, cls in recipe_classes().items():
        folder = profile.kernels_dir / cls.kernelspec_name
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(folder / "kernel.json", kernelspec_json(name))
        if svg := cls().logo_svg():
            logo = folder / "logo-svg.svg"
            if not logo.exists() or logo.read_text() != svg:
                atomic.write_text(logo, svg)
        installed.append(cls.kernelspec_name)
    return installed


class ProfileKernelSpecManager(KernelSpecManager):
    """Kernelspecs from the profile's data folder only (none from ~/.local, /usr/share, IPython)."""

    @default("kernel_dirs")
    def _kernel_dirs_default(self) -> list[str]:
        return [str(Path(self.data_dir) / "kernels")]

    @default("ensure_native_kernel")
    def _ensure_native_kernel_default(self) -> bool:
        return False
