"""A bundle file is hostile until every hash matched: tampering, traversal, links, devices,
oversized or unlisted members are refused before anything from it is used."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.archive import Entry
from jupyter_orbit.bundle.store import BundleStore
from jupyter_orbit.errors import InputError


def _manifest(members: list[tuple[str, bytes]], kind: str = "wheel") -> bytes:
    return json.dumps(
        {
            "format": archive.FORMAT,
            "version": 1,
            "name": "evil",
            "members": [
                {
                    "path": p,
                    "kind": kind,
                    "sha256": hashlib.sha256(d).hexdigest(),
                    "size": len(d),
                }
                for p, d in members
            ],
        }
    ).encode()


def _raw(path: Path, items: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for item in items:
            if isinstance(item, tarfile.TarInfo):
                tar.addfile(item)
            else:
                name, data = item
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _refused(path: Path, match: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=match):
        archive.verify(path)
    dest = tmp_path / "dest"
    with pytest.raises(InputError, match=match):
        archive.extract(path, dest)
    assert not dest.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []


def test_tampered_member_is_refused_and_nothing_is_installed(tmp_path):
    (tmp_path / "in").mkdir()
    whl = tmp_path / "in" / "six-1.17.0-py3-none-any.whl"
    whl.write_bytes(b"A" * 5000)
    good = tmp_path / "good.tar.gz"
    archive.write_bundle(good, [Entry(whl, "wheel")])
    # same size, one byte changed: rebuild the tar with the old manifest
    manifest = archive.verify(good)
    bad = _raw(
        tmp_path / "bad.tar.gz",
        [
            (archive.MANIFEST, manifest.to_json()),
            ("wheels/six-1.17.0-py3-none-any.whl", b"A" * 4999 + b"B"),
        ],
    )
    _refused(bad, "does not match its sha256", tmp_path)
    store = BundleStore(tmp_path / "bundles")
    with pytest.raises(InputError, match="does not match its sha256"):
        store.install(bad)
    assert store.installed() == []
    assert [p.name for p in store.root.iterdir() if p.name != ".lock"] == []


def test_gzip_corruption_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    whl = tmp_path / "in" / "x.whl"
    whl.write_bytes(bytes(range(256)) * 50)
    good = tmp_path / "good.tar.gz"
    archive.write_bundle(good, [Entry(whl, "wheel")])
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    _refused(bad, "bundle refused", tmp_path)


@pytest.mark.parametrize(
    "name",
    ["../evil.whl", "/etc/evil.whl", "wheels/../../evil.whl", "wheels/sub/evil.whl", "evil.whl"],
)
def test_path_traversal_in_the_manifest_is_refused(tmp_path, name):
    bad = _raw(
        tmp_path / "bad.tar.gz", [(archive.MANIFEST, _manifest([(name, b"x")])), (name, b"x")]
    )
    _refused(bad, "unsafe|unknown", tmp_path)


def test_kind_must_match_its_folder(tmp_path):
    bad = _raw(
        tmp_path / "bad.tar.gz",
        [
            (archive.MANIFEST, _manifest([("wheels/x.whl", b"x")], kind="deb")),
            ("wheels/x.whl", b"x"),
        ],
    )
    _refused(bad, "does not match its folder", tmp_path)


@pytest.mark.parametrize("kind", ["sym", "hard", "dev", "dir", "fifo"])
def test_links_devices_and_folders_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("wheels/x.whl")
    info.type = {
        "sym": tarfile.SYMTYPE,
        "hard": tarfile.LNKTYPE,
        "dev": tarfile.CHRTYPE,
        "dir": tarfile.DIRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[kind]
    info.linkname = "/etc/passwd"
    bad = _raw(
        tmp_path / "bad.tar.gz", [(archive.MANIFEST, _manifest([("wheels/x.whl", b"")])), info]
    )
    _refused(bad, "link|not a regular file", tmp_path)


def test_unlisted_duplicate_missing_and_misplaced_members_are_refused(tmp_path):
    m = _manifest([("wheels/a.whl", b"a")])
    cases = {
        "unlisted": [(archive.MANIFEST, m), ("wheels/a.whl", b"a"), ("wheels/b.whl", b"b")],
        "twice": [(archive.MANIFEST, m), ("wheels/a.whl", b"a"), ("wheels/a.whl", b"a")],
        "missing": [(archive.MANIFEST, m)],
        "manifest later": [("wheels/a.whl", b"a"), (archive.MANIFEST, m)],
        "no manifest": [("wheels/a.whl", b"a")],
    }
    matches = {
        "unlisted": "not in the manifest",
        "twice": "listed twice",
        "missing": "missing",
        "manifest later": "first member",
        "no manifest": "first member",
    }
    for case, items in cases.items():
        bad = _raw(tmp_path / f"{case}.tar.gz", items)
        _refused(bad, matches[case], tmp_path)


def test_oversized_members_are_refused_before_they_are_read(tmp_path):
    big = b"x" * 10_000
    bad = _raw(
        tmp_path / "big.tar.gz",
        [(archive.MANIFEST, _manifest([("wheels/a.whl", big)])), ("wheels/a.whl", big)],
    )
    with pytest.raises(InputError, match="larger than the limit"):
        archive.verify(bad, max_member=1000)
    # a member larger than its manifest says
    lying = _raw(
        tmp_path / "lying.tar.gz",
        [(archive.MANIFEST, _manifest([("wheels/a.whl", b"x")])), ("wheels/a.whl", big)],
    )
    _refused(lying, "the manifest says", tmp_path)


def test_a_folder_tool_with_links_or_traversal_is_refused(tmp_path):
    link = tarfile.TarInfo("bin/node")
    link.type = tarfile.SYMTYPE
    link.linkname = "/usr/bin/node"
    for i, items in enumerate([[("../escape.js", b"x")], [link], [("a//b.js", b"x")]]):
        tar = tmp_path / f"tool{i}.tar"
        with tarfile.open(tar, "w") as t:
            for item in items:
                if isinstance(item, tarfile.TarInfo):
                    t.addfile(item)
                else:
                    info = tarfile.TarInfo(item[0])
                    info.size = len(item[1])
                    t.addfile(info, io.BytesIO(item[1]))
        with pytest.raises(InputError, match="not a plain file"):
            archive.unpack_folder(tar, tmp_path / f"out{i}")
        assert not (tmp_path / f"out{i}").exists()
        assert not (tmp_path / "escape.js").exists()
