"""uv's link mode: files of each environment's own unless the user chose otherwise."""

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
