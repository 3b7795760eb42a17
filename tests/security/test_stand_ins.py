"""The stand-in registries fetch nothing behind the user's back: run here, with the network up,
they still answer "not found" for what is not bundled (no redirect to PyPI, no npm uplink), and
accept no uploads."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.registries import NpmRegistry, PyPIIndex
from jupyter_orbit.bundle.store import BundleStore
from tests.support.pypi_index import build_wheel

pytestmark = pytest.mark.integration


def test_the_pypi_stand_in_never_redirects_to_pypi_and_takes_no_uploads(tmp_path):
    wheel = build_wheel(tmp_path / "w", "orbit-offline-demo", "1.0")
    bundle = tmp_path / "b.tar.gz"
    archive.write_bundle(bundle, [archive.Entry(wheel, "wheel")])
    store = BundleStore(tmp_path / "bundles")
    store.install(bundle)
    with (
        PyPIIndex(store.layers(), tmp_path / "run") as index,
        httpx.Client(trust_env=False, follow_redirects=False) as http,
    ):
        ok = http.get(index.url + "orbit-offline-demo/")
        assert ok.status_code == 200 and wheel.name in ok.text
        missing = http.get(index.url + "requests/")
        assert missing.status_code == 404  # not a 30x to pypi.org
        upload = http.post(
            index.url.removesuffix("simple/"),
            data={":action": "file_upload", "name": "evil", "version": "1"},
            files={"content": ("evil-1-py3-none-any.whl", b"x")},
        )
        assert upload.status_code in (401, 403, 405)
        assert not any(p.name.startswith("evil") for p in (tmp_path / "run").rglob("*"))


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_the_npm_stand_in_has_no_uplinks_and_refuses_publishing(tmp_path, verdaccio_tool):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "package.json").write_text(
        json.dumps({"name": "orbit-offline-demo", "version": "1.0.0"})
    )
    (pkg / "index.js").write_text("module.exports = 42;\n")
    subprocess.run(
        ["npm", "pack", "--pack-destination", str(tmp_path)],
        cwd=pkg,
        check=True,
        capture_output=True,
    )
    entries = [
        archive.Entry(tmp_path / "orbit-offline-demo-1.0.0.tgz", "npm"),
        verdaccio_tool,
    ]
    bundle = tmp_path / "b.tar.gz"
    archive.write_bundle(bundle, entries)
    store = BundleStore(tmp_path / "bundles")
    store.install(bundle)
    with (
        NpmRegistry(store.layers(), tmp_path / "run") as reg,
        httpx.Client(trust_env=False) as http,
    ):
        assert reg.healthy()
        doc = http.get(reg.url + "orbit-offline-demo").json()
        assert doc["dist-tags"]["latest"] == "1.0.0"
        tarball = doc["versions"]["1.0.0"]["dist"]["tarball"]
        assert tarball.startswith(reg.url)
        assert http.get(tarball).status_code == 200
        # a real, popular package: with an uplink verdaccio would fetch it from the npm registry
        assert http.get(reg.url + "left-pad").status_code == 404
        put = http.put(
            reg.url + "orbit-offline-evil",
            json={"name": "orbit-offline-evil", "versions": {}},
        )
        assert put.status_code in (401, 403)
        assert http.get(reg.url + "orbit-offline-evil").status_code == 404
