"""orbit search: a local index served by the test (names from its project list, summaries
from its JSON API, both cached), kernel-aware ecosystems, offline and stale caches, and one
live smoke test per registry this machine reaches."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import make_notebook
from tests.support.indexes import fill, indexed
from tests.support.pypi_index import LocalIndex


def search(o, *args: str) -> dict:
    r = o.run("search", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_ranked_merged_and_cached(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        fill(index)
        o = indexed(tmp_path, index, default=True)
        out = search(o, "orbit-bz-alpha", "--in", "pypi")
        names = [h["name"] for h in out["results"]]
        # exact first, then the first word, then a plain prefix; beta/tools only say "alpha"
        assert names == ["orbit-bz-alpha", "orbit-bz-alphabet"]
        top = out["results"][0]
        assert top == {
            "ecosystem": "pypi",
            "name": "orbit-bz-alpha",
            "version": "1.0",
            "summary": "Alpha: the first test package",
            "popularity": None,
            "exact": True,
        }
        assert out["stale"] is False and not out["errors"]
        asked = len(index.requests)
        again = search(o, "orbit-bz-alpha", "--in", "pypi")
        assert again["results"] == out["results"]
        assert len(index.requests) == asked  # warm: names and summaries from the disk cache

        # the human table: exact name first, with version and summary
        r = o.run("search", "orbit-bz-beta", "--in", "pypi")
        assert r.returncode == 0, r.stderr
        first = r.stdout.splitlines()[1].split()
        assert first[:3] == ["pypi", "orbit-bz-beta", "2.0"]


def test_offline_uses_the_cache_and_says_it_is_stale(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        fill(index)
        o = indexed(tmp_path, index, default=True)
        assert search(o, "orbit-bz-tools", "--in", "pypi")["results"]
    # the index is gone (no network); make the cached copy old
    for meta in (o.home / "cache" / "bazaar" / "pypi" / "names").glob("*/meta.json"):
        data = json.loads(meta.read_text())
        data["fetched"] = time.time() - 3 * 24 * 3600
        meta.write_text(json.dumps(data))
    out = search(o, "orbit-bz-tools", "--in", "pypi")
    assert [h["name"] for h in out["results"]] == ["orbit-bz-tools"]
    assert out["results"][0]["summary"] == "Tools for alpha users"
    assert out["stale"] is True
    assert any("72 h old" in n for n in out["notes"]), out["notes"]

    fresh = indexed(tmp_path / "other", index, default=True)  # nothing cached, nothing reachable
    r = fresh.run("search", "orbit-bz-tools", "--in", "pypi")
    assert r.returncode == 1
    assert "not cached and cannot be fetched" in r.stderr


def test_kernel_aware_ecosystems(tmp_path: Path, orbit):
    r_nb = make_notebook(tmp_path / "r.ipynb", "1")
    data = json.loads(r_nb.read_text())
    data["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    r_nb.write_text(json.dumps(data))
    out = search(orbit, "ggplot2", "--for", str(r_nb), "--in", "apt")
    assert out["kernel"] == "ir" and out["ecosystems"] == ["apt"]
    assert all(h["name"].startswith("r-cran-") for h in out["results"])
    r = orbit.run("search", "x", "--for", str(r_nb), "--in", "cargo")
    assert r.returncode == 2 and "unknown ecosystem 'cargo'" in r.stderr


def test_conda_channel_made_by_the_test(tmp_path: Path, orbit):
    pytest.importorskip("rattler")
    from tests.support.conda_channel import build_conda_package, index_channel

    channel = tmp_path / "channel"
    build_conda_package(channel, "orbit-bz-conda", "1.0")
    build_conda_package(channel, "orbit-bz-conda", "1.2")
    build_conda_package(channel, "orbit-bz-conda-extra", "0.3", depends=["orbit-bz-conda >=1.2"])
    index_channel(channel)
    orbit_env = {**orbit.env, "ORBIT_CONDA_CHANNELS": str(channel)}
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_orbit",
            "search",
            "orbit-bz-conda",
            "--in",
            "conda",
            "--json",
        ],
        env=orbit_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(h["name"], h["version"]) for h in out["results"]] == [
        ("orbit-bz-conda", "1.2"),
        ("orbit-bz-conda-extra", "0.3"),
    ]


def test_conda_unreachable_says_it_maps_to_pypi(orbit):
    r = orbit.run("search", "numpy", "--in", "conda", "--json")
    out = json.loads(r.stdout)
    if not out["errors"]:
        pytest.skip("a conda channel is reachable here")
    assert r.returncode == 1
    assert "mapped to PyPI names" in out["errors"]["conda"]


# -- live registries (skipped, saying why, only when unreachable) -------------------------------


@pytest.mark.integration
def test_live_pypi(orbit):
    out = json.loads(orbit.run("search", "requests", "--in", "pypi", "--json").stdout or "{}")
    if out.get("errors"):
        pytest.skip(f"PyPI unreachable: {out['errors']}")
    top = out["results"][0]
    assert top["name"].lower() == "requests" and top["exact"] and top["version"]
    assert "HTTP" in top["summary"]


@pytest.mark.integration
def test_live_npm(orbit):
    out = json.loads(orbit.run("search", "lodash", "--in", "npm", "--json").stdout or "{}")
    if out.get("errors"):
        pytest.skip(f"npm registry unreachable: {out['errors']}")
    top = out["results"][0]
    assert top["name"] == "lodash" and top["exact"] and top["version"].startswith("4.")


@pytest.mark.integration
def test_live_apt_cache(orbit):
    if not shutil.which("apt-cache") or not list(Path("/var/lib/apt/lists").glob("*Packages*")):
        pytest.skip("no apt lists on this machine (run apt-get update)")
    out = json.loads(orbit.run("search", "graphviz", "--in", "apt", "--json").stdout)
    top = out["results"][0]
    assert top["name"] == "graphviz" and top["exact"] and top["version"]


# -- every ecosystem asked at once; one failing does not hold up the others --------------------


def test_ecosystems_are_asked_concurrently_and_each_answers(tmp_path: Path):
    import threading

    from jupyter_orbit.bazaar.search import search as run_search
    from jupyter_orbit.ecosystems.base import Ecosystem, Found, Hit
    from jupyter_orbit.model import Requirement
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.plugins import ECOSYSTEMS

    both = threading.Barrier(2, timeout=30)  # passed only if the two searches overlap

    def meeting(eco_name: str) -> type[Ecosystem]:
        class Meets(Ecosystem):
            name = eco_name

            @classmethod
            def parse(cls, text: str, origin: object = None) -> Requirement:
                return Requirement(cls.name, text, text, origin)

            def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
                both.wait()
                return Found(self.name, [Hit(self.name, f"{query}-{self.name}", "1", "")])

        return Meets

    for cls in (meeting("orbit-one"), meeting("orbit-two")):
        ECOSYSTEMS.add(cls)
    try:
        out = run_search(Paths(tmp_path), "q", ecosystems=["orbit-one", "orbit-two"])
    finally:
        ECOSYSTEMS.remove("orbit-one")
        ECOSYSTEMS.remove("orbit-two")
    assert not out["errors"], out["errors"]
    assert [h["name"] for h in out["results"]] == ["q-orbit-one", "q-orbit-two"]


def test_a_failing_registry_does_not_hold_up_the_others(tmp_path: Path):
    """npm's registry is a stand-in that fails every request; PyPI's a local index."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from jupyter_orbit.bazaar.search import search as run_search
    from jupyter_orbit.paths import Paths

    class Broken(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    broken = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    Thread(target=broken.serve_forever, daemon=True).start()
    try:
        with LocalIndex(tmp_path) as index:
            fill(index)
            environ = {
                "UV_DEFAULT_INDEX": index.url,
                "ORBIT_NPM_REGISTRY": f"http://127.0.0.1:{broken.server_address[1]}/",
            }
            out = run_search(
                Paths(tmp_path / "home"),
                "orbit-bz-beta",
                ecosystems=["pypi", "npm"],
                environ=environ,
            )
    finally:
        broken.shutdown()
    assert [h["name"] for h in out["results"]] == ["orbit-bz-beta"]
    assert "npm" in out["errors"] and "pypi" not in out["errors"]
    assert out["partial"] is False
