"""Read-modify-write under a lock (the races themselves: tests/security)."""

import pytest

from jupyter_orbit import locking


@pytest.fixture(autouse=True)
def _locks(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_replace_writes_only_over_what_was_read(tmp_path):
    f = tmp_path / "requirements.txt"
    f.write_text("a\n")
    locking.replace(f, b"a\n", b"a\nb\n")
    assert f.read_text() == "a\nb\n"
    with pytest.raises(locking.FileChanged, match="changed while Orbit was editing it"):
        locking.replace(f, b"a\n", b"c\n")
    assert f.read_text() == "a\nb\n"
    new = tmp_path / "new.txt"
    locking.replace(new, None, b"x\n")  # None: the file must still be absent
    with pytest.raises(locking.FileChanged):
        locking.replace(new, None, b"y\n")


def test_locks_are_reentrant_and_live_outside_the_project(tmp_path):
    f = tmp_path / "proj" / "requirements.txt"
    f.parent.mkdir()
    with locking.locked(f, f), locking.locked(f, timeout=0.1):
        pass
    assert list(f.parent.iterdir()) == []  # no lock file beside the user's file
    assert list(locking.lock_dir().iterdir())
