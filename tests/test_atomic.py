"""Files and folders written so a reader sees the old or the complete new content."""

import stat

import pytest

from jupyter_orbit import atomic


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path):
    f = tmp_path / "state.json"
    atomic.write_json(f, {"a": 1}, mode=0o600)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    atomic.write_json(f, {"a": 2})
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and '"a": 2' in f.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("old")

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic.write_json(f, {"x": Boom()})
    assert f.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_writing_streams_into_a_temp_file_that_replaces_the_old_one(tmp_path):
    f = tmp_path / "nb.ipynb"
    f.write_text("old")
    f.chmod(0o640)
    with atomic.writing(f) as out:
        out.write("new ")
        assert f.read_text() == "old"  # nothing visible before the block completes
        out.write("content")
    assert f.read_text() == "new content" and stat.S_IMODE(f.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError), atomic.writing(f, text=False) as out:
        out.write(b"torn")
        raise RuntimeError("the writer failed")
    assert f.read_text() == "new content"
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]
