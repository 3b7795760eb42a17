"""The offline installer, built here and run in a fresh Debian root with no network.

`orbit bundle --installer` writes one shell script with uv, Orbit's wheels and the default
profile's environment in it; `sh orbit-installer.sh` runs in a debootstrap root (bookworm, with
nothing but Python 3.11) in a network namespace where only loopback exists
(``tests/support/debroot.py``). It must install Orbit as a uv tool, its desktop entry and the
default profile's server environment, say how to start Orbit, and `orbit run` must then run a
notebook there. Minutes (the root is cached under /var/cache/orbit-tests after the first run):
marked slow (``ORBIT_SLOW_TESTS=1``; CI runs it in a step of its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import debroot

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ORBIT = str(Path(sys.executable).with_name("orbit"))


@pytest.fixture(autouse=True)
def _needs():
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (a Debian root and an installer): ORBIT_SLOW_TESTS=1 runs it; CI does")
    if why := debroot.skip_reason():
        pytest.skip(why)


def test_the_installer_needs_no_network(tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    installer = shipped / "orbit-installer.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["ORBIT_HOME"] = str(tmp_path / "builder-home")
    built = subprocess.run(
        [ORBIT, "bundle", "--installer", "-q", "-o", str(installer)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"sh {installer.name}" in built.stdout
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "a",
                "metadata": {},
                "outputs": [],
                "source": "import sys; print('hello from', sys.version_info[:2])",
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (shipped / "hello.ipynb").write_text(json.dumps(nb))

    root = debroot.prepare()
    script = """
        sh /shipped/orbit-installer.sh
        echo "== on PATH: $(command -v orbit)"
        orbit bundle list
        ls /root/.local/share/applications/
        orbit run /shipped/hello.ipynb --yes
    """
    done = debroot.run(root, tmp_path / "layer", script, binds={shipped: "/shipped"})
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, (out[-2000:], err[-4000:])
    assert "Jupyter Orbit is installed. Start it with:" in err
    assert "== on PATH: /root/.local/bin/orbit" in out
    assert "orbit-installer" in out  # the bundle, installed
    assert "built profile default's server environment from the bundles" in err
    assert any(line.endswith(".desktop") for line in out.splitlines())
    assert "hello from (3, 11)" in out
    # Orbit is a uv tool of the root's own Python
    layer = tmp_path / "layer" / "u"
    assert (layer / "root/.local/share/uv/tools/jupyter-orbit").is_dir()
