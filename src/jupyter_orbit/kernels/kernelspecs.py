"""The profile's kernelspecs: generic names, Orbit's provisioner, nothing from elsewhere.

Notebooks keep portable kernelspec names (``python3``); which environment a kernel runs in is
decided at launch by Orbit's provisioner, from the notebook itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from traitlets import default

from jupyter_orbit import atomic
from jupyter_orbit.kernels.recipes import recipe_classes
from jupyter_orbit.paths import ProfilePaths

PROVISIONER = "orbit-provisioner"
# Every IPython kernel of a profile writes the profile's one history database. With many kernels
# busy on a loaded machine, sqlite's default 5 s wait for its lock runs out, and IPython then
# stops saving that kernel's history and prints the error into whatever cell is running
# (bench/soak.py: 20 kernels, 50 clients). The saving happens in a thread of its own: waiting
# longer costs the cells nothing.
HISTORY_CONNECTION = {"check_same_thread": False, "timeout": 120}


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
    install_ipython_config(profile)
    return installed


def install_ipython_config(profile: ProfilePaths) -> None:
    """Give the profile's IPython kernels a patient history database connection, unless the
    profile's ``ipython_kernel_config.json`` already sets one (or is not Orbit's to read)."""
    path = profile.ipython_dir / "profile_default" / "ipython_kernel_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        config = {}
    except (OSError, ValueError):
        return  # someone's own file: left as it is
    if not isinstance(config, dict) or not isinstance(config.get("HistoryAccessor", {}), dict):
        return
    if "connection_options" in config.get("HistoryAccessor", {}):
        return
    config.setdefault("HistoryAccessor", {})["connection_options"] = HISTORY_CONNECTION
    atomic.write_json(path, config)


class ProfileKernelSpecManager(KernelSpecManager):
    """Kernelspecs from the profile's data folder only (none from ~/.local, /usr/share, IPython)."""

    @default("kernel_dirs")
    def _kernel_dirs_default(self) -> list[str]:
        return [str(Path(self.data_dir) / "kernels")]

    @default("ensure_native_kernel")
    def _ensure_native_kernel_default(self) -> bool:
        return False
