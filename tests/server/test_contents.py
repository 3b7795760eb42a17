"""The contents manager by real path, in process (the attacks through a real server are in
tests/security/test_contents.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from tornado import web

from jupyter_orbit.server.contents import OrbitContentsManager, OutsideRoot, real_path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "in").symlink_to("sub", target_is_directory=True)
    (root / "loop").symlink_to("loop")
    return root


def test_real_path_inside_outside_and_loops(root: Path):
    real = os.path.realpath(root)
    assert real_path(str(root / "in" / "a.txt"), real, "in/a.txt") == str(root / "sub" / "a.txt")
    assert real_path(str(root / "sub" / "new.txt"), real, "sub/new.txt")  # to be created
    for rel, why in (("out/secret", "outside"), ("out/new", "outside"), ("loop", "loop")):
        with pytest.raises(OutsideRoot, match=why) as caught:
            real_path(str(root / rel), real, rel)
        assert caught.value.status_code == 404 and isinstance(caught.value, PermissionError)
    assert real_path("/etc/passwd", "/", "etc/passwd") == "/etc/passwd"  # a root of /


def test_manager_refuses_and_lists_without_links_out(root: Path):
    cm = OrbitContentsManager(root_dir=str(root))

    async def go() -> None:
        listing = await cm.get("")
        assert {c["name"] for c in listing["content"]} == {"sub", "in"}
        assert (await cm.get("in/a.txt"))["content"] == "a"
        for call in (
            cm.get("out/secret"),
            cm.save({"type": "file", "format": "text", "content": "x"}, "out/new"),
            cm.rename_file("sub/a.txt", "out/a.txt"),
            cm.delete_file("out/secret"),
            cm.create_checkpoint("out/secret"),
            cm.get_kernel_path("out/x.ipynb"),
        ):
            with pytest.raises(web.HTTPError):
                await call

    asyncio.run(go())
    assert sorted(p.name for p in (root.parent / "outside").iterdir()) == ["secret"]


def test_saves_replace_the_real_file(root: Path):
    cm = OrbitContentsManager(root_dir=str(root))
    asyncio.run(cm.save({"type": "file", "format": "text", "content": "b"}, "in/a.txt"))
    assert (root / "in").is_symlink() and (root / "sub" / "a.txt").read_text() == "b"
    assert sorted(p.name for p in (root / "sub").iterdir()) == ["a.txt"]  # no temp left
