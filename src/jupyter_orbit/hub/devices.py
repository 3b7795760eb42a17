"""The devices a hub's users' servers get: the GPUs the project's notebooks declare.

A hub serves a whole project folder, so it gives every user's server what its notebooks need
together (``metadata.orbit.hardware`` of each, merged). DockerSpawner has no GPU option of its
own: the GPUs go into its ``extra_host_config`` as device requests (or CDI device names), in the
hub's generated ``jupyterhub_config.py``. Serial devices and instruments are never passed to a
hub's users, who share the machine: the hub says so and leaves them out.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jupyter_orbit.hardware.fit import Hardware
from jupyter_orbit.hardware.needs import (
    HardwareNeeds,
    engine_cdi_enabled,
    hub_host_config,
    match,
    merge_needs,
    parse_needs,
)
from jupyter_orbit.progress import Progress

MAX_NOTEBOOKS = 500  # read at most this many notebooks of a project
_SKIPPED = ("node_modules", "__pycache__")


def notebooks(project: Path) -> Iterator[Path]:
    """The project's notebooks (not in hidden folders such as .ipynb_checkpoints), at most
    ``MAX_NOTEBOOKS``, in a stable order."""
    found = 0
    for folder, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
        for name in sorted(files):
            if name.endswith(".ipynb") and not name.startswith("."):
                yield Path(folder) / name
                found += 1
                if found >= MAX_NOTEBOOKS:
                    return


def project_needs(project: Path) -> HardwareNeeds:
    """What the project's notebooks need together."""
    from jupyter_orbit.manifests.notebook import load_notebook

    merged = merge_needs(
        parse_needs(load_notebook(nb).get("metadata"), notebook=nb) for nb in notebooks(project)
    )
    return dataclasses.replace(merged, notebook=project)


def hub_devices(
    project: Path, hardware: Hardware, engine_info: Mapping[str, Any], progress: Progress
) -> dict[str, Any]:
    """What ``c.DockerSpawner.extra_host_config`` adds for ``project``: its GPUs; a
    ``BuildError`` when this machine or its engine cannot give them (before anything is built)."""
    needs = project_needs(project)
    if needs.serial or needs.visa:
        left = [str(s) for s in needs.serial] + list(needs.visa)
        progress.warn(
            f"the hub does not pass {', '.join(left)} to its users' servers (they share the "
            "machine); open those notebooks in Orbit itself"
        )
        needs = dataclasses.replace(needs, serial=(), visa=())
    if needs.gpu is None:
        return {}
    detection = hardware.look(("gpu",))
    return hub_host_config(
        match(needs, detection), detection, cdi_enabled=engine_cdi_enabled(engine_info)
    )
