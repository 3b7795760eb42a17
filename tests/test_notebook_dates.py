"""The as-of dates Orbit remembers per notebook: its own state, keyed by the real path."""

import json
import stat
from pathlib import Path

from jupyter_orbit.notebook_dates import NotebookDates
from jupyter_orbit.paths import Paths
from tests.conftest import make_notebook

DATE = "2021-06-01T00:00:00Z"


def test_put_get_forget_by_real_path(tmp_path: Path):
    dates = NotebookDates(Paths(tmp_path / "home").notebook_dates_dir)
    nb = make_notebook(tmp_path / "work" / "nb.ipynb", "1")
    before = nb.read_bytes()
    assert dates.get(nb) is None and not dates.forget(nb)
    assert dates.put(nb, DATE, "git", "nb.ipynb last committed …")
    assert not dates.put(nb, DATE, "git", "again")  # the same date: nothing written
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "work")
    found = dates.get(link / "nb.ipynb")  # the same notebook through a symlink
    assert found is not None and (found.as_of, found.source) == (DATE, "git")
    assert found.notebook == str(nb.resolve())
    stored = dates.file(nb)
    assert stored.parent == tmp_path / "home" / "notebook-dates"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["as_of"] == DATE
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # no temp file left
    assert nb.read_bytes() == before  # the notebook itself is never touched
    assert dates.forget(nb) and dates.get(nb) is None


def test_damaged_or_foreign_records_are_ignored(tmp_path: Path):
    dates = NotebookDates(tmp_path / "dates")
    nb = make_notebook(tmp_path / "nb.ipynb", "1")
    other = make_notebook(tmp_path / "other.ipynb", "1")
    dates.put(nb, DATE, "now", "")
    dates.file(other).write_text(dates.file(nb).read_text())  # names another notebook
    assert dates.get(other) is None
    for bad in ("{", "[]", '{"as_of": 1}', json.dumps({"notebook": str(nb), "as_of": "x"})):
        dates.file(nb).write_text(bad)
        assert dates.get(nb) is None
