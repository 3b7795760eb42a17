"""Data sets fetched over real HTTP (a loopback server) with pooch, verified, stored by content,
shared, placed read-only; bad hashes and dead URLs leave nothing behind; the CLI writes the
notebook entry round-trip."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jupyter_orbit.data.spec import DataSet
from jupyter_orbit.data.store import DataStore, place
from jupyter_orbit.errors import InputError, OrbitError
from tests.conftest import make_notebook

pytestmark = pytest.mark.integration

CSV = b"sepal,petal\n5.1,1.4\n4.9,1.4\n"
SHA = hashlib.sha256(CSV).hexdigest()


class _Files:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        files = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                files.requests.append(self.path)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "iris.csv").write_bytes(CSV)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("images/a.txt", "A")
        z.writestr("b.txt", "B")
    (root / "imgs.zip").write_bytes(buf.getvalue())
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as t:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    (root / "evil.tar").write_bytes(evil.getvalue())
    f = _Files(root)
    yield f
    f.server.shutdown()
    f.server.server_close()


def _leftovers(store: DataStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir()) if store.root.exists() else []


def test_fetch_verifies_stores_by_content_and_shares(tmp_path, files):
    store = DataStore(tmp_path / "data")
    ds = DataSet("iris.csv", SHA, files.url("iris.csv"))
    stored = store.fetch(ds)
    assert stored == tmp_path / "data" / SHA
    assert stored.read_bytes() == CSV
    assert stored.stat().st_mode & 0o777 == 0o444
    assert _leftovers(store) == [SHA]
    # a second project naming the same bytes under another name shares the copy: no download
    n = len(files.requests)
    assert store.fetch(DataSet("flowers.csv", SHA, files.url("iris.csv"))) == stored
    assert len(files.requests) == n
    assert store.stored() == [(SHA, len(CSV))]


def test_a_wrong_hash_is_an_error_that_leaves_nothing(tmp_path, files):
    store = DataStore(tmp_path / "data")
    with pytest.raises(OrbitError, match="does not match its sha256") as e:
        store.fetch(DataSet("iris.csv", "0" * 64, files.url("iris.csv")))
    assert e.value.hint
    assert _leftovers(store) == []


def test_an_unreachable_url_is_an_error_that_leaves_nothing(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = DataStore(tmp_path / "data")
    with pytest.raises(OrbitError, match=r"cannot fetch http://127\.0\.0\.1"):
        store.fetch(DataSet("x.csv", SHA, f"http://127.0.0.1:{port}/x.csv"))
    assert _leftovers(store) == []
    with pytest.raises(InputError, match="no URL"):
        store.fetch(DataSet("x.csv", SHA))


def test_unpack_and_place_as_links_or_copies(tmp_path, files):
    store = DataStore(tmp_path / "data")
    zsha = hashlib.sha256((files.root / "imgs.zip").read_bytes()).hexdigest()
    sets = [
        DataSet("iris.csv", SHA, files.url("iris.csv")),
        DataSet("imgs", zsha, files.url("imgs.zip"), "zip"),
    ]
    kernel_dir = tmp_path / "kernel"
    placed = place(sets, store, kernel_dir)
    assert [(p.name, p.how) for p in placed] == [("iris.csv", "linked"), ("imgs", "linked")]
    assert (kernel_dir / "iris.csv").read_bytes() == CSV
    assert (kernel_dir / "imgs" / "images" / "a.txt").read_text() == "A"
    assert (kernel_dir / "imgs" / "b.txt").stat().st_mode & 0o222 == 0  # read-only
    assert (kernel_dir / "imgs").stat().st_mode & 0o222 == 0
    assert [p.how for p in place(sets, store, kernel_dir)] == ["already there"] * 2
    copies = place(sets, store, tmp_path / "container", copy=True)
    assert [p.how for p in copies] == ["copied", "copied"]
    assert not (tmp_path / "container" / "iris.csv").is_symlink()
    assert (tmp_path / "container" / "iris.csv").stat().st_mode & 0o222 == 0
    # a file of the user's with that name is never replaced
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "iris.csv").write_text("mine")
    with pytest.raises(InputError, match=r"exists and is not data set iris\.csv"):
        place(sets[:1], store, tmp_path / "user")
    assert (tmp_path / "user" / "iris.csv").read_text() == "mine"


def test_an_archive_that_escapes_is_refused(tmp_path, files):
    store = DataStore(tmp_path / "data")
    sha = hashlib.sha256((files.root / "evil.tar").read_bytes()).hexdigest()
    with pytest.raises(OrbitError, match="cannot be unpacked"):
        store.fetch(DataSet("evil", sha, files.url("evil.tar"), "tar"))
    assert not (tmp_path / "escaped.txt").exists()
    assert not store.unpacked(sha).exists()


def test_cli_add_writes_the_entry_round_trip_and_fetch_list_work(bare_orbit, tmp_path, files):
    nb = make_notebook(tmp_path / "proj" / "nb.ipynb", "print(1)")
    before = json.loads(nb.read_text())
    r = bare_orbit.run("data", "add", files.url("iris.csv"), "--to", str(nb))
    assert r.returncode == 0, r.stderr
    assert f"wrote data set iris.csv (sha256 {SHA[:12]}" in r.stdout
    after = json.loads(nb.read_text())
    assert after["metadata"]["orbit"]["data"] == [
        {"name": "iris.csv", "url": files.url("iris.csv"), "sha256": SHA}
    ]
    after["metadata"].pop("orbit")
    assert after == before  # nothing else changed
    # a local file, under another name; then the listing
    local = tmp_path / "measure.bin"
    local.write_bytes(b"\x00\x01")
    r = bare_orbit.run("data", "add", str(local), "--to", str(nb), "--name", "m.bin")
    assert r.returncode == 0, r.stderr
    r = bare_orbit.run("data", "list", str(nb), "--json")
    rows = json.loads(r.stdout)
    assert [(x["name"], x["stored"]) for x in rows] == [("iris.csv", True), ("m.bin", True)]
    # a fresh ORBIT_HOME fetches what has a URL, and says what cannot be fetched
    other = bare_orbit.__class__(tmp_path / "other-home", bare_orbit.user_home)
    r = other.run("data", "fetch", str(nb))
    assert r.returncode != 0
    assert "iris.csv: fetched and verified" in r.stdout
    assert "m.bin is not in the data store and has no URL" in r.stderr
    # without --to, nothing is written but the store
    text = nb.read_text()
    r = bare_orbit.run("data", "add", files.url("imgs.zip"), "--unpack", "zip")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unpack"] == "zip"
    assert "nothing written" in r.stderr
    assert nb.read_text() == text
    # a bad hash in the notebook is reported, with nothing stored
    bad = make_notebook(
        tmp_path / "proj" / "bad.ipynb",
        metadata={
            "orbit": {"data": [{"name": "x", "url": files.url("iris.csv"), "sha256": "1" * 64}]}
        },
    )
    r = other.run("data", "fetch", str(bad))
    assert r.returncode == 1
    assert "does not match its sha256" in r.stderr
    assert not (tmp_path / "other-home" / "data" / ("1" * 64)).exists()
