"""The bundle file format: manifest, reproducible bytes, verified extraction, layering."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.archive import Entry
from jupyter_orbit.bundle.store import BundleStore, Layers
from jupyter_orbit.errors import InputError


def _files(root: Path) -> list[Entry]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"wheel bytes " * 100)
    (root / "left-pad-1.3.0.tgz").write_bytes(b"npm tarball")
    (root / "jq_1.6_amd64.deb").write_bytes(os.urandom(3000))
    (root / "data.csv").write_text("a,b\n1,2\n")
    digest = hashlib.sha256((root / "data.csv").read_bytes()).hexdigest()
    return [
        Entry(root / "six-1.17.0-py2.py3-none-any.whl", "wheel", needed_by=("nb:a.ipynb",)),
        Entry(root / "left-pad-1.3.0.tgz", "npm", needed_by=("nb:b.ipynb",)),
        Entry(root / "jq_1.6_amd64.deb", "deb"),
        Entry(root / "data.csv", "dataset", name=digest, meta={"name": "tiny"}),
    ]


def test_manifest_lists_every_member_with_hash_size_kind_and_users(tmp_path):
    entries = _files(tmp_path / "in")
    out = tmp_path / "b.orbit-bundle.tar.gz"
    manifest = archive.write_bundle(out, entries, name="demo", created="2025-06-01")
    assert [m.path for m in manifest.members] == sorted(e.path for e in entries)
    wheel = manifest.of_kind("wheel")[0]
    assert wheel.path == "wheels/six-1.17.0-py2.py3-none-any.whl"
    assert wheel.size == 1200
    assert wheel.sha256 == hashlib.sha256(b"wheel bytes " * 100).hexdigest()
    assert wheel.needed_by == ("nb:a.ipynb",)
    assert archive.verify(out) == manifest
    data = json.loads(manifest.to_json())
    assert data["format"] == archive.FORMAT and data["created"] == "2025-06-01"
    assert data["members"][0]["path"] == "apt/jq_1.6_amd64.deb"


def test_same_inputs_give_the_same_bytes(tmp_path):
    entries = _files(tmp_path / "in")
    one = tmp_path / "one.tar.gz"
    archive.write_bundle(one, entries, name="demo")
    # the same files, touched later, listed in another order, written under another name
    time.sleep(1.1)
    for e in entries:
        e.file.touch()
        e.file.chmod(0o600)
    two = tmp_path / "elsewhere" / "two.tar.gz"
    archive.write_bundle(two, reversed(entries), name="demo")
    assert one.read_bytes() == two.read_bytes()
    # and different inputs give different bytes
    entries[1].file.write_bytes(b"another tarball")
    archive.write_bundle(two, entries, name="demo")
    assert one.read_bytes() != two.read_bytes()


def test_extract_verifies_and_installs_read_only(tmp_path):
    out = tmp_path / "b.tar.gz"
    manifest = archive.write_bundle(out, _files(tmp_path / "in"), name="demo")
    dest = tmp_path / "installed"
    assert archive.extract(out, dest) == manifest
    assert archive.read_installed(dest) == manifest
    whl = dest / "wheels" / "six-1.17.0-py2.py3-none-any.whl"
    assert whl.read_bytes() == b"wheel bytes " * 100
    assert whl.stat().st_mode & 0o777 == 0o444
    archive.check_installed(dest, manifest, hashes=True)
    whl.chmod(0o644)
    whl.write_bytes(b"changed after install")
    with pytest.raises(InputError, match="changed after it was installed"):
        archive.check_installed(dest, manifest)


def test_a_failed_write_leaves_no_file(tmp_path):
    entries = _files(tmp_path / "in")
    out = tmp_path / "b.tar.gz"
    archive.write_bundle(out, entries)
    before = out.read_bytes()
    entries.append(Entry(tmp_path / "in" / "missing.whl", "wheel"))
    with pytest.raises(FileNotFoundError):
        archive.write_bundle(out, entries)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_two_files_may_not_claim_one_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.whl").write_bytes(b"1")
    (tmp_path / "b" / "x.whl").write_bytes(b"2")
    with pytest.raises(InputError, match="two different files"):
        archive.write_bundle(
            tmp_path / "o.tar.gz",
            [Entry(tmp_path / "a" / "x.whl", "wheel"), Entry(tmp_path / "b" / "x.whl", "wheel")],
        )
    # the same file for two users is one member needed by both
    m = archive.plan_manifest(
        [
            Entry(tmp_path / "a" / "x.whl", "wheel", needed_by=("one",)),
            Entry(tmp_path / "a" / "x.whl", "wheel", needed_by=("two",)),
        ]
    )
    assert [(x.path, x.needed_by) for x in m.members] == [("wheels/x.whl", ("one", "two"))]


def test_pack_folder_is_reproducible_and_skips_links(tmp_path):
    src = tmp_path / "tool"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "index.js").write_text("module.exports = 1\n")
    (src / "run").write_text("#!/bin/sh\n")
    (src / "run").chmod(0o755)
    (src / "link").symlink_to("run")
    one, two = tmp_path / "one.tar", tmp_path / "two.tar"
    assert archive.pack_folder(src, one) == ["link"]
    (src / "run").touch()
    archive.pack_folder(src, two)
    assert one.read_bytes() == two.read_bytes()
    dest = tmp_path / "unpacked"
    archive.unpack_folder(one, dest)
    assert (dest / "lib" / "index.js").read_text() == "module.exports = 1\n"
    assert os.access(dest / "run", os.X_OK)
    assert not (dest / "link").exists()


def _bundle(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = tmp_path / f"src-{name}"
    folder.mkdir()
    entries = []
    for fname, data in files.items():
        (folder / fname).write_bytes(data)
        entries.append(Entry(folder / fname, "wheel"))
    out = tmp_path / f"{name}.tar.gz"
    archive.write_bundle(out, entries, name=name)
    return out


def test_store_layers_bundles_and_refuses_clashes(tmp_path):
    store = BundleStore(tmp_path / "bundles")
    a = store.install(_bundle(tmp_path, "a", {"six-1.whl": b"six", "idna-3.whl": b"idna"}))
    b = store.install(_bundle(tmp_path, "b", {"six-1.whl": b"six", "numpy-2.whl": b"np"}))
    assert [x.id for x in store.installed()] == [a.id, b.id]
    layers = store.layers()
    assert layers.names("wheel") == ["idna-3.whl", "numpy-2.whl", "six-1.whl"]
    assert {f.member.name: f.bundle.id for f in layers.files("wheel")}["numpy-2.whl"] == b.id
    # installing again is a no-op that moves it to the top
    assert store.install(tmp_path / "a.tar.gz").id == a.id
    assert [x.id for x in store.installed()] == [b.id, a.id]
    # a third bundle whose six differs is refused, and leaves nothing behind
    clash = _bundle(tmp_path, "c", {"six-1.whl": b"not six"})
    with pytest.raises(InputError, match=r"both carry wheels/six-1\.whl"):
        store.install(clash)
    assert sorted(p.name for p in store.root.iterdir() if not p.name.startswith(".")) == sorted(
        [a.id, b.id, "layers.json"]
    )
    assert store.get("a").id == a.id
    store.remove(a.id)
    assert [x.id for x in store.installed()] == [b.id]
    assert not (store.root / a.id).exists()
    with pytest.raises(InputError, match="not an installed bundle"):
        store.get("a")
    assert Layers([]).files("wheel") == []
