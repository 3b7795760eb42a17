"""The stand-in registries of the installed bundles, started and stopped together.

The profile's server starts them with itself and stops them with itself (``StandIns``), and
records where they listen in its private runtime folder (``offline.RECORD``), so that commands
run beside it (``orbit run``) install from the same servers. A command that runs with no server
starts its own for as long as it runs (``serving``). Each stand-in binds 127.0.0.1 on a port it
chose itself and reports, and dies with the process that started it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.bundle.registries import StandIn, Unservable, stand_ins
from jupyter_orbit.bundle.store import BundleStore
from jupyter_orbit.offline import RECORD, Serving
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress


class StandIns:
    """Every stand-in the installed bundles need (none when no bundle is installed)."""

    def __init__(self, paths: Paths, workdir: Path) -> None:
        self.store = BundleStore(paths.bundles_dir)
        self.workdir = workdir
        self.running: list[StandIn] = []

    def start(self, progress: Progress | None = None) -> Serving | None:
        """Start them (each verified against its bundle's sizes first); None when no bundle is
        installed. A stand-in this machine cannot run (no Node.js for npm packages, which then
        cannot be installed here anyway) is left out with a warning; one that fails stops the
        others and raises."""
        progress = progress or NullProgress()
        layers = self.store.layers()
        if not layers.bundles:
            return None
        layers.check()
        try:
            for s in stand_ins(layers, self.workdir):
                try:
                    self.running.append(s.start(progress))
                except Unservable as e:
                    progress.warn(f"the bundles' {s.kind} packages are not served: {e.message}")
        except BaseException:
            self.stop()
            raise
        by = {s.ecosystem: s for s in self.running if s.ecosystem}
        return Serving(
            pypi=by["pypi"].url if "pypi" in by else None,
            npm=by["npm"].url if "npm" in by else None,
            apt=by["apt"].url if "apt" in by else None,
            bundled={name: tuple(s.bundled()) for name, s in by.items()},
            owner=os.getpid(),
        )

    def stop(self) -> None:
        while self.running:
            with contextlib.suppress(Exception):
                self.running.pop().stop()


def record(profile: ProfilePaths, serving: Serving) -> None:
    """Say where the profile's server serves the bundles (a private file)."""
    profile.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic.write_text(profile.runtime_dir / RECORD, serving.to_json())


def unrecord(profile: ProfilePaths) -> None:
    with contextlib.suppress(FileNotFoundError):
        (profile.runtime_dir / RECORD).unlink()


@contextlib.contextmanager
def serving(
    paths: Paths, profile: ProfilePaths, progress: Progress | None = None
) -> Iterator[Serving | None]:
    """Where this command installs from: the running server's stand-ins, else stand-ins of its
    own for as long as the block runs; None when no bundle is installed."""
    if not BundleStore(paths.bundles_dir).installed():
        yield None
        return
    if (found := Serving.recorded(profile.runtime_dir)) is not None:
        yield found
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="orbit-stand-ins-") as tmp:
        stand = StandIns(paths, Path(tmp))
        try:
            yield stand.start(progress)
        finally:
            stand.stop()
