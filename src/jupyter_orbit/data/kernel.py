"""The data sets a notebook declares, given to its kernel without touching the project.

Running changes nothing in the project, so a kernel does not find its data sets in the
notebook's folder. Each launch gets a **data folder** under Orbit's data store instead:
``ORBIT_HOME/data/folders/<id>/``, one read-only link per data set to its verified stored copy
(``<name>`` → ``../../<sha256>``, or the unpacked folder), named by a hash of the entries so
notebooks that declare the same sets share one. The kernel finds it in ``ORBIT_DATA``:

    pandas.read_csv(os.path.join(os.environ["ORBIT_DATA"], "iris.csv"))

A container kernel sees the folder and the store at the same paths, mounted read-only.
A data set that is not stored yet is fetched (from its URL, verified) only with the same
consent as a notebook's packages; an installed bundle's data sets are in the store already.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jupyter_orbit.data.spec import DataSet, read_notebook
from jupyter_orbit.data.store import DataStore
from jupyter_orbit.progress import NullProgress, Progress

VARIABLE = "ORBIT_DATA"
FOLDERS = "folders"


def folder_id(datasets: Sequence[DataSet]) -> str:
    key = json.dumps(sorted((d.name, d.sha256, d.unpack or "") for d in datasets))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def data_folder(datasets: Sequence[DataSet], store: DataStore) -> Path:
    """The read-only folder of links for ``datasets`` (made once, atomically)."""
    from jupyter_orbit import atomic

    folder = store.root / FOLDERS / folder_id(datasets)
    if folder.is_dir():
        return folder
    try:
        with atomic.staged_dir(folder) as build:
            build.mkdir()
            for d in datasets:
                source = store.unpacked(d.sha256) if d.unpack else store.file(d.sha256)
                (build / d.name).symlink_to(os.path.relpath(source, folder))
    except OSError:
        if not folder.is_dir():  # else another launch made the same folder meanwhile
            raise
    return folder


def attach(
    notebook: Path | None,
    launch: Any,
    store: DataStore,
    *,
    consent: Callable[[list[str]], None],
    progress: Progress | None = None,
) -> tuple[Any, dict[str, str]]:
    """``launch`` with the data folder mounted read-only (engines that run kernels elsewhere)
    and the variables the kernel gets (``ORBIT_DATA``); unchanged when the notebook declares
    no data. ``consent(wanted)`` raises unless fetching what is missing is allowed."""
    import dataclasses

    if notebook is None:
        return launch, {}
    datasets = read_notebook(notebook)
    if not datasets:
        return launch, {}
    progress = progress or NullProgress()
    missing = [d for d in datasets if not store.has(d)]
    if missing:
        consent([f"data set: {d.name} from {d.url or 'nowhere (no URL)'}" for d in missing])
    for d in missing:
        store.fetch(d, progress=progress)
    folder = data_folder(datasets, store)
    progress.step("data", f"{len(datasets)} data set(s) in ${VARIABLE} ({folder})")
    launch = dataclasses.replace(
        launch,
        read_only=(*launch.read_only, store.root),  # the folder and what it links to
        pass_env=(*launch.pass_env, VARIABLE),
    )
    return launch, {VARIABLE: str(folder)}
