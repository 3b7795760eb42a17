"""The contents API and /files through symlinks that leave the server's root.

A project may hold links anywhere (a clone, an unpacked archive): ``sshlink -> ~/.ssh``,
a file link to the private key, a relative ``../home/.ssh``, a checkpoints folder that is a link.
Nothing the server serves or writes may have its real path outside the root: reads, writes,
renames, copies, deletes and checkpoints are refused, the user's bytes stay as they were, and
symlink loops answer at once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Orbit, make_notebook, snapshot
from tests.security.conftest import Raw, Secrets

pytestmark = pytest.mark.integration

REFUSED = (403, 404)


@pytest.fixture
def project(orbit: Orbit, user_secrets: Secrets, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    make_notebook(root / "nb.ipynb", "print('hello')")
    (root / "notes.txt").write_text("my notes\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("inside the root\n")
    ssh = user_secrets.folder
    (root / "sshlink").symlink_to(ssh, target_is_directory=True)  # absolute
    (root / "rellink").symlink_to(os.path.relpath(ssh, root), target_is_directory=True)
    (root / "keyfile").symlink_to(ssh / "id_rsa")
    (root / "inside").symlink_to("sub", target_is_directory=True)  # stays in the root: fine
    # a folder that holds a link out, for copies
    (root / "bundle").mkdir()
    (root / "bundle" / "readme.txt").write_text("bundle\n")
    (root / "bundle" / "keys").symlink_to(ssh, target_is_directory=True)
    # loops
    (root / "loop").symlink_to("loop")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    (root / "spiral").mkdir()
    (root / "spiral" / "again").symlink_to("..", target_is_directory=True)
    return root


@pytest.fixture
def raw(orbit: Orbit, project: Path) -> Raw:
    return Raw(orbit.server(project))


def _leaks(r, secrets: Secrets) -> bool:
    return secrets.key in r.text or "canary" in r.text


def test_reads_through_links_out_are_refused(raw: Raw, user_secrets: Secrets):
    for path in (
        "/api/contents/sshlink/id_rsa",
        "/api/contents/sshlink/id_rsa?type=file&format=text",
        "/api/contents/rellink/id_rsa",
        "/api/contents/keyfile",
        "/api/contents/keyfile?content=0",
        "/api/contents/sshlink",
        "/api/contents/bundle/keys/id_rsa",
        "/files/sshlink/id_rsa",
        "/files/rellink/id_rsa",
        "/files/keyfile",
        "/files/bundle/keys/id_rsa",
        "/nbconvert/script/sshlink/id_rsa",
        "/api/contents/sshlink/id_rsa/checkpoints",
    ):
        r = raw.request("GET", path)
        assert r.status_code in REFUSED, (path, r.status_code)
        assert not _leaks(r, user_secrets), path

    # the root still lists (without the links out), and links inside the root still work
    listing = raw.request("GET", "/api/contents")
    assert listing.status_code == 200
    names = {c["name"] for c in listing.json()["content"]}
    assert {"nb.ipynb", "notes.txt", "sub", "inside"} <= names
    assert not names & {"sshlink", "rellink", "keyfile"}
    assert not _leaks(listing, user_secrets)
    inner = raw.request("GET", "/api/contents/inside/inner.txt")
    assert inner.status_code == 200 and inner.json()["content"] == "inside the root\n"
    assert raw.request("GET", "/files/inside/inner.txt").text == "inside the root\n"
    assert raw.request("GET", "/api/contents/bundle").status_code == 200


def test_writes_through_links_out_are_refused(raw: Raw, user_secrets: Secrets, project: Path):
    before = user_secrets.snapshot()
    text = {"type": "file", "format": "text", "content": "ssh-ed25519 AAAA-attacker evil\n"}
    for path in (
        "/api/contents/sshlink/authorized_keys",
        "/api/contents/sshlink/new_key",
        "/api/contents/rellink/authorized_keys",
        "/api/contents/keyfile",
        "/api/contents/bundle/keys/authorized_keys",
    ):
        r = raw.request("PUT", path, json=text)
        assert r.status_code in REFUSED, (path, r.status_code)
    # a new folder or notebook through the link
    r = raw.request("PUT", "/api/contents/sshlink/newdir", json={"type": "directory"})
    assert r.status_code in REFUSED
    r = raw.request("POST", "/api/contents/sshlink", json={"type": "notebook"})
    assert r.status_code in REFUSED
    # a chunked upload through the link
    r = raw.request(
        "PUT",
        "/api/contents/sshlink/upload.bin",
        json={"type": "file", "format": "base64", "content": "QUJD", "chunk": 1},
    )
    assert r.status_code in REFUSED
    assert user_secrets.snapshot() == before
    # writing inside the root still works, through an in-root link too
    ok = raw.request("PUT", "/api/contents/inside/new.txt", json={**text, "content": "fine\n"})
    assert ok.status_code in (200, 201), ok.text
    assert (project / "sub" / "new.txt").read_text() == "fine\n"


def test_renames_copies_and_deletes_across_the_root_are_refused(
    raw: Raw, user_secrets: Secrets, project: Path
):
    before = user_secrets.snapshot()
    # move a project file out through the link, or the secret in
    for old, new in (
        ("notes.txt", "sshlink/authorized_keys2"),
        ("notes.txt", "rellink/stolen.txt"),
        ("sshlink/id_rsa", "stolen_key.txt"),
        ("keyfile", "stolen_key.txt"),
        ("sub", "sshlink/sub"),
    ):
        r = raw.request("PATCH", f"/api/contents/{old}", json={"path": new})
        assert r.status_code in REFUSED, (old, new, r.status_code)
    # copy the secret in, or a file out
    for folder, source in (
        ("", "sshlink/id_rsa"),
        ("", "keyfile"),
        ("sshlink", "notes.txt"),
        ("", "bundle"),  # a folder holding a link out would bring the keys in
    ):
        r = raw.request("POST", f"/api/contents/{folder}", json={"copy_from": source})
        assert r.status_code in REFUSED, (folder, source, r.status_code)
    # delete through the link (the file, and the link's whole target folder)
    for path in ("sshlink/id_rsa", "keyfile", "rellink/authorized_keys", "sshlink"):
        r = raw.request("DELETE", f"/api/contents/{path}")
        assert r.status_code in REFUSED, (path, r.status_code)
    assert user_secrets.snapshot() == before
    assert not (project / "stolen_key.txt").exists()
    assert (project / "notes.txt").read_text() == "my notes\n"
    assert not list(project.glob("bundle-Copy*"))
    listing = json.dumps(raw.request("GET", "/api/contents").json())
    assert user_secrets.key not in listing


def test_checkpoints_stay_inside_the_root(
    orbit: Orbit, user_secrets: Secrets, project: Path, tmp_path: Path
):
    # an old checkpoint the attacker would delete or restore from
    planted = user_secrets.folder / ".ipynb_checkpoints" / "id_rsa-checkpoint"
    planted.parent.mkdir()
    planted.write_text("old key\n")
    # a project whose checkpoints folder is itself a link out
    other = tmp_path / "linked-checkpoints"
    make_notebook(other / "nb.ipynb", "1")
    (other / ".ipynb_checkpoints").symlink_to(user_secrets.folder, target_is_directory=True)
    before = user_secrets.snapshot()
    raw = Raw(orbit.server(project))
    for method, path in (
        ("POST", "/api/contents/sshlink/id_rsa/checkpoints"),
        ("POST", "/api/contents/keyfile/checkpoints"),
        ("POST", "/api/contents/sshlink/id_rsa/checkpoints/checkpoint"),
        ("DELETE", "/api/contents/sshlink/id_rsa/checkpoints/checkpoint"),
    ):
        r = raw.request(method, path)
        assert r.status_code in REFUSED, (method, path, r.status_code)
    orbit.down_all()

    raw = Raw(orbit.server(other))
    r = raw.request("POST", "/api/contents/nb.ipynb/checkpoints")
    assert r.status_code in REFUSED, r.status_code
    assert raw.request("GET", "/api/contents/nb.ipynb/checkpoints").status_code in (200, *REFUSED)
    r = raw.request("DELETE", "/api/contents/nb.ipynb/checkpoints/checkpoint")
    assert r.status_code in REFUSED
    assert user_secrets.snapshot() == before
    assert not (user_secrets.folder / "nb-checkpoint.ipynb").exists()


def test_sessions_do_not_start_kernels_outside_the_root(raw: Raw, user_secrets: Secrets):
    (user_secrets.folder / "x.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    before = user_secrets.snapshot()
    r = raw.request(
        "POST",
        "/api/sessions",
        json={"path": "sshlink/x.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    # jupyter_server's sessions API answers every failure to create one with a 500
    assert r.status_code >= 400 and "outside the server's root folder" in r.text, r.text
    assert raw.request("GET", "/api/kernels").json() == []
    assert user_secrets.snapshot() == before


def test_symlink_loops_answer_at_once(raw: Raw, project: Path):
    before = snapshot(project / "sub")
    for method, path, body in (
        ("GET", "/api/contents/loop", None),
        ("GET", "/api/contents/ping", None),
        ("GET", "/api/contents/loop/x/y", None),
        ("GET", "/files/loop", None),
        ("GET", "/files/ping/x", None),
        ("PUT", "/api/contents/loop", {"type": "file", "format": "text", "content": "x"}),
        ("PUT", "/api/contents/pong/x", {"type": "file", "format": "text", "content": "x"}),
        ("DELETE", "/api/contents/ping/x", None),
        ("PATCH", "/api/contents/loop", {"path": "renamed"}),
        ("GET", "/api/contents/spiral/" + "again/" * 60 + "nb.ipynb", None),
    ):
        r = raw.request(method, path, json=body)  # a hang fails through the client's bound
        assert r.status_code in (*REFUSED, 400), (method, path, r.status_code)
    # listings that hold loops still list
    assert raw.request("GET", "/api/contents").status_code == 200
    assert raw.request("GET", "/api/contents/spiral").status_code == 200
    # copying a folder that holds a loop copies no endless tree
    r = raw.request("POST", "/api/contents/", json={"copy_from": "spiral"})
    assert r.status_code in (*REFUSED, 400, 201)
    assert sum(1 for _ in project.rglob("*")) < 100
    assert snapshot(project / "sub") == before
