"""The offline installers: the Windows zip's parts, and the shell installer run in a fresh
Debian root with no network.

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

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundler import installer
from jupyter_orbit.errors import OrbitError
from tests.support import debroot
from tests.support.offline_lab import Shipped


def _uv_wheel(folder: Path, exe: bytes) -> Path:
    wheel = folder / "uv-0.7.0-py3-none-win_amd64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("uv-0.7.0.data/scripts/uv.exe", exe)
        z.writestr("uv-0.7.0.dist-info/METADATA", "Name: uv\nVersion: 0.7.0\n")
    return wheel


def test_the_windows_installer_is_a_checked_reproducible_zip(tmp_path):
    """uv.exe comes out of the bundle's Windows wheel of uv; the zip holds install.ps1 (CRLF),
    the files and their sums, and the same inputs give the same bytes."""
    files = tmp_path / "in"
    files.mkdir()
    bundle = tmp_path / "orbit.orbit-bundle.tar.gz"
    manifest = archive.write_bundle(
        bundle, [archive.Entry(_uv_wheel(files, b"MZ uv for Windows"), "wheel")]
    )
    work = tmp_path / "work"
    work.mkdir()
    exe = installer.windows_uv(bundle, manifest, work)
    assert exe.read_bytes() == b"MZ uv for Windows"
    script = installer.PS1.replace("@BUNDLE@", installer.BUNDLE)
    outs = [tmp_path / "a.zip", tmp_path / "b.zip"]
    for out in outs:
        installer.write_zip(out, script, {"uv.exe": exe, installer.BUNDLE: bundle})
    assert outs[0].read_bytes() == outs[1].read_bytes()
    with zipfile.ZipFile(outs[0]) as z:
        assert z.namelist() == ["SHA256SUMS", "install.ps1", installer.BUNDLE, "uv.exe"]
        assert b"\r\n" in z.read("install.ps1") and b"\n\n" not in z.read("install.ps1")
        sums = dict(line.split("  ")[::-1] for line in z.read("SHA256SUMS").decode().splitlines())
        for name in ("uv.exe", installer.BUNDLE):
            assert sums[name] == hashlib.sha256(z.read(name)).hexdigest()
    empty = archive.write_bundle(tmp_path / "empty.tar.gz", [])
    with pytest.raises(OrbitError, match="no single Windows wheel of uv"):
        installer.windows_uv(tmp_path / "empty.tar.gz", empty, work)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(
    os.environ.get("ORBIT_SLOW_TESTS") != "1",
    reason="slow (a Debian root and an installer): ORBIT_SLOW_TESTS=1 runs it; CI does",
)
@pytest.mark.skipif(debroot.skip_reason() is not None, reason=debroot.skip_reason() or "")
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
