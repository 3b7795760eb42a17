"""The server writes a detected date into the notebook it prepares a kernel for.

A date from git or from "now" holds only while nothing changes: the first save of the notebook
would make git call it uncommitted, and tomorrow's "now" is another day. So once the server has
an environment for a notebook whose date was detected, it stamps the notebook (round-trip,
atomic; a juv-style PEP 723 block too), and the next run on any machine resolves the same.

JupyterLab may have the notebook open from before the stamp; when it saves that older copy,
the stamp would be lost again. A pre-save hook puts it back into that one save.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jupyter_orbit.asof import STAMP_SOURCES
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.manifests.notebook_edit import update_notebook
from jupyter_orbit.manifests.stamp import set_stamp, stamp_of
from jupyter_orbit.model import Resolution


class Stamper:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.pending: dict[Path, str] = {}  # notebook -> stamp a stale save must not drop

    def stamp(self, res: Resolution) -> bool:
        """Write ``res``'s detected date into its notebook; True if the file changed."""
        nb, as_of = res.notebook, res.spec.as_of
        if nb is None or as_of is None or res.as_of_source not in STAMP_SOURCES:
            return False
        try:
            changed = update_notebook(nb, lambda data: set_stamp(data, nb, as_of))
        except (OrbitError, OSError) as e:  # a read-only notebook still gets its kernel
            self.log.warning("Orbit: could not stamp %s with %s: %s", nb, as_of, e)
            return False
        self.pending[nb] = as_of
        if changed:
            how = f"{res.as_of_source}: {res.as_of_detail}"
            self.log.info("Orbit: stamped %s: as of %s (%s)", nb, as_of, how)
        return changed

    def pre_save(self, model: dict[str, Any], path: str, contents_manager: Any, **kw: Any) -> None:
        """A jupyter_server pre-save hook: keep the stamp in a save made from an older copy."""
        if not self.pending or model.get("type") != "notebook":
            return
        full = (Path(contents_manager.root_dir) / path).resolve()
        as_of = self.pending.pop(full, None)
        content = model.get("content")
        if as_of is None or not isinstance(content, dict) or stamp_of(content) is not None:
            return
        try:
            set_stamp(content, full, as_of)
        except OrbitError as e:
            self.log.warning("Orbit: could not keep the stamp of %s: %s", full, e)
