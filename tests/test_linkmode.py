"""uv's link mode: files of each environment's own unless the user chose otherwise."""

import os
import stat

from jupyter_orbit import linkmode


def test_orbit_asks_for_clone_or_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("UV_LINK_MODE", raising=False)
    chosen = linkmode.mode(tmp_path / "env")
    assert chosen in ("clone", "copy")
    assert linkmode.args(tmp_path / "env") == ["--link-mode", chosen]
    assert not linkmode.shares_files()


def test_the_users_uv_setting_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_LINK_MODE", "hardlink")
    assert linkmode.mode(tmp_path / "env") is None and linkmode.args(tmp_path / "env") == []
    assert linkmode.shares_files()


def test_a_build_that_owns_its_files_later_may_link_them_now(tmp_path, monkeypatch):
    monkeypatch.delenv("UV_LINK_MODE", raising=False)
    now = linkmode.mode(tmp_path / "env")
    later = linkmode.mode(tmp_path / "env", own_later=True)
    assert (now, later) in (("clone", "clone"), ("copy", "hardlink"))
    assert linkmode.args(tmp_path / "env", own_later=True) == ["--link-mode", later]


def test_own_files_copies_what_is_linked_and_leaves_bytecode_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("UV_LINK_MODE", raising=False)
    cache, env = tmp_path / "cache", tmp_path / "env" / "lib" / "site-packages"
    cache.mkdir()
    (env / "pkg" / "__pycache__").mkdir(parents=True)
    (cache / "mod.py").write_text("x = 1\n")
    (cache / "mod.py").chmod(0o640)
    (cache / "mod.pyc").write_bytes(b"bytecode")
    os.link(cache / "mod.py", env / "pkg" / "mod.py")
    os.link(cache / "mod.pyc", env / "pkg" / "__pycache__" / "mod.cpython-311.pyc")
    (env / "pkg" / "alone.py").write_text("y = 2\n")
    (env / "pkg" / "link.py").symlink_to("mod.py")
    with (env / "pkg" / "mod.py").open() as reading:  # a kernel that has it open meanwhile
        assert linkmode.own_files(tmp_path / "env") == 1
        assert reading.read() == "x = 1\n"
    mine = env / "pkg" / "mod.py"
    assert mine.read_text() == "x = 1\n" and mine.stat().st_nlink == 1
    assert stat.S_IMODE(mine.stat().st_mode) == 0o640
    assert (cache / "mod.py").stat().st_nlink == 1
    with mine.open("a") as f:  # an edit in place stays in the environment
        f.write("patched\n")
    assert (cache / "mod.py").read_text() == "x = 1\n"
    assert (env / "pkg" / "__pycache__" / "mod.cpython-311.pyc").stat().st_nlink == 2
    assert (env / "pkg" / "link.py").is_symlink()
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == ["lib"]  # nothing left


def test_own_files_leaves_links_the_user_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_LINK_MODE", "hardlink")
    (tmp_path / "a").write_text("1")
    os.link(tmp_path / "a", tmp_path / "b")
    assert linkmode.own_files(tmp_path) == 0 and (tmp_path / "b").stat().st_nlink == 2
