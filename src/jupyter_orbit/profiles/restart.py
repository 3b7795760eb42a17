"""Restarting a profile's running server onto a changed setup, and undoing it if it fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jupyter_orbit.errors import OrbitError, ServerError
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.profiles.server_env import ServerLaunch
from jupyter_orbit.progress import Progress
from jupyter_orbit.state import ServerState


def restart(
    paths: Paths,
    prof: ProfilePaths,
    state: ServerState,
    launch: ServerLaunch,
    progress: Progress,
    *,
    undo: Callable[[], ServerLaunch],
    what: str,
) -> None:
    """Stop the running server and start it from ``launch`` in the same folder, on the same
    port and with the same token (open JupyterLab pages reconnect). When that start fails,
    ``undo`` puts the previous setup back and returns how to launch it, and the server is
    started from that again."""
    from jupyter_orbit.server import lifecycle
    from jupyter_orbit.state import restarting_marker

    root = Path(state.root_dir)
    progress.step("restart", f"the server of profile {prof.name} (its kernels stop)")
    marker = restarting_marker(prof)
    marker.touch()  # a foreground `orbit up` follows the server across the restart
    try:
        lifecycle.stop(prof, state)
        try:
            lifecycle.start(paths, prof, root, port=state.port, token=state.token, server=launch)
        except OrbitError as e:
            lifecycle.start(paths, prof, root, port=state.port, token=state.token, server=undo())
            raise ServerError(
                f"the server did not restart with {what}: {e.message}",
                "rolled back: it runs with its previous setup again",
            ) from None
    finally:
        marker.unlink(missing_ok=True)
