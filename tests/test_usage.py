"""The usage record: when a kernel last started in each environment, and for which notebooks."""

from pathlib import Path

from jupyter_orbit import usage
from jupyter_orbit.paths import Paths


def test_records_the_latest_notebooks_first_and_forgets(tmp_path: Path):
    paths = Paths(tmp_path / "home")
    assert usage.load(paths) == {}
    usage.record(paths, "local", "abc", tmp_path / "a.ipynb")
    usage.record(paths, "local", "abc", tmp_path / "b.ipynb")
    usage.record(paths, "local", "abc", tmp_path / "a.ipynb")
    usage.record(paths, "local", "abc")  # a warm kernel: no notebook
    usage.record(paths, "docker", "abc", tmp_path / "c.ipynb")
    data = usage.load(paths)
    assert data["local:abc"]["notebooks"] == [str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb")]
    assert data["local:abc"]["last_used"].endswith("+00:00")
    assert data["docker:abc"]["notebooks"] == [str(tmp_path / "c.ipynb")]
    usage.forget(paths, ["local:abc"])
    assert list(usage.load(paths)) == ["docker:abc"]
    assert not any(p.is_relative_to(tmp_path / "proj") for p in tmp_path.rglob("*"))


def test_a_damaged_record_reads_as_empty(tmp_path: Path):
    paths = Paths(tmp_path)
    (tmp_path / "usage.json").write_text("{not json")
    assert usage.load(paths) == {}
    usage.record(paths, "local", "x")
    assert "local:x" in usage.load(paths)
