"""The stand-in registries, proven with the network cut: a bundle built here from real PyPI,
npm and Debian packages is installed (verified) in a network namespace with only loopback,
fresh homes and caches; the real installers (uv, npm, apt-get) install from the stand-ins, and
a package that is not bundled fails with "offline: X is not in the bundle"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.registries import PyPIIndex, stand_ins
from jupyter_orbit.bundle.store import BundleStore
from jupyter_orbit.errors import InputError
from tests.support.airgap import airgapped, skip_reason

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]

_PRELUDE = """
import json, os, subprocess, sys
from pathlib import Path
from jupyter_orbit.bundle.store import BundleStore
from jupyter_orbit.bundle import registries
bundle, work = Path(sys.argv[1]), Path(sys.argv[2])
store = BundleStore(Path(os.environ["ORBIT_HOME"]) / "bundles")
installed = store.install(bundle)
out = {"members": len(installed.manifest.members)}
def run(*argv, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    return {"rc": p.returncode, "out": p.stdout[-3000:], "err": p.stderr[-3000:]}
"""


def _scenario(tmp_path: Path, bundle: Path, body: str) -> dict:
    script = tmp_path / "scenario.py"
    script.write_text(_PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n")
    work = tmp_path / "work"
    work.mkdir()
    r = airgapped([sys.executable, str(script), str(bundle), str(work)], base=tmp_path / "air")
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_namespace_has_no_network(tmp_path):
    r = airgapped(
        [
            sys.executable,
            "-c",
            "import socket\ntry:\n socket.create_connection(('151.101.0.223', 443), timeout=5)\n"
            " print('reached')\nexcept OSError as e:\n print('unreachable', e.errno)",
        ],
        base=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("unreachable")


def test_uv_installs_bundled_wheels_with_no_network(tmp_path, pypi_bundle):
    names = {m.meta["name"] for m in pypi_bundle.manifest.of_kind("wheel")}
    assert {"six", "idna", "numpy"} <= names
    out = _scenario(
        tmp_path,
        pypi_bundle.bundle,
        """
        from jupyter_orbit.uvcli import uv_bin
        with registries.PyPIIndex(store.layers(), work / "run") as index:
            out["url"], out["healthy"] = index.url, index.healthy()
            venv = work / "venv"
            out["venv"] = run(uv_bin(), "venv", venv, "--python", sys.executable)
            py = venv / "bin" / "python"
            out["install"] = run(uv_bin(), "pip", "install", "--python", py,
                                 "--index-url", index.url, "six", "idna", "numpy")
            out["import"] = run(py, "-c", "import six, idna, numpy; print(numpy.__version__)")
            out["missing"] = run(uv_bin(), "pip", "install", "--python", py,
                                 "--index-url", index.url, "requests")
            out["offline"] = str(index.offline_error(out["missing"]["err"]))
            pypi = run(uv_bin(), "pip", "install", "--python", py, "--index-url",
                       "https://pypi.org/simple", "requests")
            out["real_pypi_rc"] = pypi["rc"]
        out["stopped"] = not index.healthy()
        """,
    )
    assert out["url"].startswith("http://127.0.0.1:") and out["healthy"]
    assert out["install"]["rc"] == 0, out["install"]["err"]
    assert out["import"]["rc"] == 0 and out["import"]["out"].strip().startswith("2."), out
    assert out["missing"]["rc"] != 0
    assert out["offline"].startswith("offline: requests is not in the bundle (bundled: ")
    assert "numpy" in out["offline"] and "six" in out["offline"]
    assert out["real_pypi_rc"] != 0  # the real index is unreachable in there
    assert out["stopped"]


def test_npm_installs_bundled_tarballs_through_verdaccio_with_no_network(tmp_path, npm_bundle):
    names = {m.meta["name"] for m in npm_bundle.manifest.of_kind("npm")}
    assert names == {"is-odd", "is-number"}
    assert [m.meta["name"] for m in npm_bundle.manifest.of_kind("tool")] == ["verdaccio"]
    out = _scenario(
        tmp_path,
        npm_bundle.bundle,
        """
        import shutil
        with registries.NpmRegistry(store.layers(), work / "run") as reg:
            out["url"], out["healthy"] = reg.url, reg.healthy()
            proj = work / "proj"
            proj.mkdir()
            env = {**os.environ, "npm_config_registry": reg.url}
            npm = shutil.which("npm")
            out["install"] = run(npm, "install", "is-odd@3.0.1", cwd=proj, env=env)
            out["use"] = run("node", "-e", "console.log(require('is-odd')(3), require('is-number/package.json').version)", cwd=proj)
            out["missing"] = run(npm, "install", "left-pad@1.3.0", cwd=proj, env=env)
            out["offline"] = str(reg.offline_error(out["missing"]["err"]))
            out["config"] = (work / "run" / "npm" / "config.yaml").read_text()
        """,
    )
    assert out["url"].startswith("http://127.0.0.1:") and out["healthy"]
    assert out["install"]["rc"] == 0, out["install"]["err"]
    assert out["use"]["out"].split() == ["true", "6.0.0"], out["use"]
    assert out["missing"]["rc"] != 0
    assert out["offline"].startswith("offline: left-pad is not in the bundle (bundled: ")
    assert "is-number, is-odd" in out["offline"]
    config = json.loads(out["config"].split("\n", 1)[1])
    assert config["uplinks"] == {}
    assert all("proxy" not in rule for rule in config["packages"].values())


def test_apt_reads_the_flat_repository_with_no_network(tmp_path, apt_bundle):
    names = {m.meta["name"] for m in apt_bundle.manifest.of_kind("deb")}
    assert {"jq", "libjq1", "libonig5", "libc6"} <= names  # dependencies, even installed ones
    out = _scenario(
        tmp_path,
        apt_bundle.bundle,
        """
        repo = registries.AptRepository(store.layers(), work / "run").start()
        out["healthy"], out["url"] = repo.healthy(), repo.url
        apt = work / "apt"
        for d in ("lists/partial", "cache/archives/partial", "parts", "state"):
            (apt / d).mkdir(parents=True)
        (apt / "state" / "status").touch()
        (apt / "sources.list").write_text(repo.sources_line())
        opts = [f"-o{k}={v}" for k, v in {
            "Dir::Etc::sourcelist": apt / "sources.list",
            "Dir::Etc::sourceparts": apt / "parts",
            "Dir::State::lists": apt / "lists",
            "Dir::Cache": apt / "cache",
            "Dir::State::status": apt / "state" / "status",
            "Debug::NoLocking": "1",
            "APT::Sandbox::User": "root",
        }.items()]
        out["update"] = run("apt-get", *opts, "update")
        out["download"] = run("apt-get", *opts, "install", "-y", "--download-only", "jq")
        # a file: source is read in place (nothing is copied): ask apt where each file is
        out["uris"] = run("apt-get", *opts, "install", "-y", "-qq", "--print-uris", "jq")
        out["missing"] = run("apt-get", *opts, "install", "-y", "--download-only", "cowsay")
        out["offline"] = str(repo.offline_error(out["missing"]["err"]))
        repo.stop()
        """,
    )
    assert out["healthy"] and out["url"].startswith("file:///")
    assert out["update"]["rc"] == 0, out["update"]
    assert out["download"]["rc"] == 0, out["download"]
    uris = [line.split()[0].strip("'") for line in out["uris"]["out"].splitlines()]
    repo = out["url"].removeprefix("file://") + "/"
    assert uris and all(u.removeprefix("file:").startswith(repo) for u in uris), uris
    assert any("/jq_" in u for u in uris) and any("/libonig5_" in u for u in uris)
    assert out["missing"]["rc"] != 0
    assert out["offline"].startswith("offline: cowsay is not in the bundle (bundled: ")


def test_a_tampered_bundle_is_refused_before_any_server_starts(tmp_path, pypi_bundle):
    """One wheel's bytes changed (same length, manifest intact): nothing is installed, and so
    nothing can be served."""
    import gzip
    import io
    import tarfile

    bad = tmp_path / "tampered.tar.gz"
    with (
        gzip.open(pypi_bundle.bundle) as src,
        tarfile.open(fileobj=src, mode="r|") as tin,
        gzip.open(bad, "wb") as dst,
        tarfile.open(fileobj=dst, mode="w") as tout,
    ):
        for info in tin:
            data = tin.extractfile(info).read()
            if info.name.startswith("wheels/six-"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            tout.addfile(info, io.BytesIO(data))
    store = BundleStore(tmp_path / "bundles")
    with pytest.raises(InputError, match=r"six-.*does not match its sha256"):
        store.install(bad)
    assert store.installed() == []
    assert stand_ins(store.layers(), tmp_path / "run") == []
    assert not (tmp_path / "run").exists()


def test_the_same_bundle_built_twice_is_byte_identical(tmp_path, pypi_bundle):
    """Collected again from PyPI into another folder, the bundle is the same file."""
    from tests.bundle.conftest import build_pypi

    again = build_pypi(tmp_path, ["six", "idna"])
    first = archive.write_bundle(
        tmp_path / "first.tar.gz",
        [
            archive.Entry(pypi_bundle.files / m.name, "wheel", meta=m.meta, needed_by=m.needed_by)
            for m in pypi_bundle.manifest.of_kind("wheel")
            if m.meta["name"] in ("six", "idna")
        ],
        name="pypi-test",
        created=again.manifest.created,
        platform=again.manifest.platform,
    )
    assert first == again.manifest
    assert (tmp_path / "first.tar.gz").read_bytes() == again.bundle.read_bytes()


def test_stand_ins_listen_on_loopback_only(tmp_path, pypi_bundle):
    store = BundleStore(tmp_path / "bundles")
    store.install(pypi_bundle.bundle)
    with PyPIIndex(store.layers(), tmp_path / "run") as index:
        pid = index._proc.pid
        ss = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        mine = [line for line in ss.splitlines() if f"pid={pid}," in line]
        assert mine and all("127.0.0.1:" in line.split()[3] for line in mine), mine
        assert str(index.url).startswith("http://127.0.0.1:")
    assert index._proc is None


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker is not installed")
def test_images_go_through_docker_save_and_load(tmp_path):
    from jupyter_orbit.bundle import collect
    from jupyter_orbit.bundle.registries import ImageLoader

    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no docker engine answers")
    tag = "orbit-bundle-test:1"
    rootfs = tmp_path / "rootfs.tar"
    import tarfile

    (tmp_path / "hello.txt").write_text("hello from a bundle\n")
    with tarfile.open(rootfs, "w") as t:
        t.add(tmp_path / "hello.txt", arcname="hello.txt")
    subprocess.run(["docker", "import", str(rootfs), tag], check=True, capture_output=True)
    try:
        entries = collect.collect_images([tag], tmp_path / "images")
        bundle = tmp_path / "img.tar.gz"
        archive.write_bundle(bundle, entries, name="images")
        subprocess.run(["docker", "rmi", tag], check=True, capture_output=True)
        store = BundleStore(tmp_path / "bundles")
        store.install(bundle)
        loader = ImageLoader(store.layers(), tmp_path / "run").start()
        assert loader.loaded == [tag]
        assert loader.healthy()
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
