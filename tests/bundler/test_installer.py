"""The offline installer, run in a fresh Debian root with no network.

The session's installer (``tests/support/offline_lab.py``: `orbit bundle --installer`, one shell
script with uv, Orbit's wheels, the default profile's environment and a project's) runs with
`sh orbit-installer.sh` in a debootstrap root (bookworm, with nothing but Python 3.11: no Node.js,
so the bundle's npm packages are left out with a warning) in a network namespace where only
loopback exists (``tests/support/debroot.py``). It must install Orbit as a uv tool, its desktop
entry and the default profile's server environment, say how to start Orbit, and `orbit run` must
then run a new notebook there. Minutes (the root is cached under /var/cache/orbit-tests after the
first run): marked slow (``ORBIT_SLOW_TESTS=1``; CI runs it in a step of its own).
"""

from __future__ import annotations

import os

import pytest

from tests.support import debroot
from tests.support.offline_lab import Shipped

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("ORBIT_SLOW_TESTS") != "1",
        reason="slow (a Debian root and an installer): ORBIT_SLOW_TESTS=1 runs it; CI does",
    ),
    pytest.mark.skipif(debroot.skip_reason() is not None, reason=debroot.skip_reason() or ""),
]


def test_the_installer_needs_no_network(tmp_path, shipped: Shipped):
    assert f"sh {shipped.installer.name}" in shipped.built
    root = debroot.prepare()
    script = f"""
        sh /shipped/{shipped.installer.name}
        echo "== on PATH: $(command -v orbit)"
        orbit bundle list
        ls /root/.local/share/applications/
        orbit run /shipped/{shipped.hello.name} --yes
    """
    done = debroot.run(root, tmp_path / "layer", script, binds={shipped.folder: "/shipped"})
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, (out[-2000:], err[-4000:])
    assert "Jupyter Orbit is installed. Start it with:" in err
    assert "== on PATH: /root/.local/bin/orbit" in out
    assert "orbit-installer" in out  # the bundle, installed
    assert "built profile default's server environment from the bundles" in err
    flat = " ".join(err.split())  # as said, whatever the console's width
    assert "npm packages are not served: Node.js is needed" in flat  # none in this root
    assert any(line.endswith(".desktop") for line in out.splitlines())
    assert "hello from (3, 11)" in out
    # Orbit is a uv tool of the root's own Python
    layer = tmp_path / "layer" / "u"
    assert (layer / "root/.local/share/uv/tools/jupyter-orbit").is_dir()
