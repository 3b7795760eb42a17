"""JupyterLab's checkpoints, kept in the profile rather than beside the notebooks.

JupyterLab makes a checkpoint of every notebook it opens (to revert to), and jupyter_server keeps
it in a ``.ipynb_checkpoints`` folder beside the notebook: merely opening a notebook would add a
folder to the project and leave a clean git checkout dirty. Orbit's server keeps them under the
profile instead, one folder per project folder (named by a hash of its real path), so opening,
building and running change nothing in the project. Reverting to a checkpoint works as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jupyter_core.utils import ensure_dir_exists
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints, FileCheckpoints
from traitlets import Unicode


class SyncProfileCheckpoints(FileCheckpoints):
    """For the synchronous file contents managers."""

    folder = Unicode(config=True, help="Where checkpoints are kept (the profile's, by default).")

    def checkpoint_path(self, checkpoint_id: str, path: str) -> str:
        parent, name = ("/" + path.strip("/")).rsplit("/", 1)
        base, ext = Path(name).stem, Path(name).suffix
        real = Path(self._get_os_path(path=parent.strip("/"))).resolve()
        where = Path(self.folder) / hashlib.sha256(str(real).encode()).hexdigest()[:24]
        with self.perm_to_403():
            ensure_dir_exists(str(where), mode=0o700)
        return str(where / f"{base}-{checkpoint_id}{ext}")


class ProfileCheckpoints(SyncProfileCheckpoints, AsyncFileCheckpoints):
    """For the async file contents managers (jupyter_server's default)."""


def keep_in_profile(contents_manager: object, folder: Path) -> bool:
    """Move ``contents_manager``'s checkpoints to ``folder`` when they are jupyter_server's own
    file checkpoints (a user's own checkpoints class is left alone); True if moved."""
    from jupyter_orbit.server.contents import OrbitCheckpoints, OrbitProfileCheckpoints

    current = type(getattr(contents_manager, "checkpoints", None))
    replace = {
        AsyncFileCheckpoints: ProfileCheckpoints,
        FileCheckpoints: SyncProfileCheckpoints,
        OrbitCheckpoints: OrbitProfileCheckpoints,  # Orbit's contents manager's, root-checked
    }
    if current not in replace:
        return False
    contents_manager.checkpoints = replace[current](  # type: ignore[attr-defined]
        parent=contents_manager, folder=str(folder)
    )
    return True
