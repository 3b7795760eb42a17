"""The stamp: written and cleared round-trip, in metadata.orbit and a juv-style PEP 723 block."""

import json
from pathlib import Path

import pytest

from jupyter_orbit.manifests.notebook_edit import update_notebook
from jupyter_orbit.manifests.stamp import set_stamp
from jupyter_orbit.resolve import resolve
from tests.conftest import make_notebook, snapshot
from tests.support.gitrepo import commit_all, init

STAMP = "2017-05-01T00:00:00Z"
BLOCK = '# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n#     "six",  # tiny\n# ]\n# ///\nimport six'
BLOCK_WITH_UV = '# /// script\n# dependencies = ["six"]\n#\n# [tool.uv]\n# prerelease = "allow"\n# ///\nimport six'


def stamp(nb: Path, value: str | None) -> bool:
    return update_notebook(nb, lambda data: set_stamp(data, nb, value))


def first_cell(nb: Path) -> str:
    return "".join(json.loads(nb.read_text())["cells"][0]["source"])


@pytest.mark.parametrize("cell", ["import six", BLOCK, BLOCK_WITH_UV])
def test_stamp_then_clear_round_trips(tmp_path: Path, cell: str):
    nb = make_notebook(tmp_path / "nb.ipynb", cell, "print(1)")
    original = nb.read_bytes()
    assert stamp(nb, STAMP)
    data = json.loads(nb.read_text())
    assert data["metadata"]["orbit"] == {"schema": 1, "as_of": STAMP}
    if "# ///" in cell:
        assert f'# exclude-newer = "{STAMP}"\n' in first_cell(nb)
        assert first_cell(nb).endswith("# ///\nimport six")
        assert "# tiny" in first_cell(nb) or cell != BLOCK  # comments survive
        res = resolve(nb, default_python="3.11")
        assert res.as_of_source == "metadata.orbit"
        assert not any("pep723" in i.reason for i in res.ignored)  # both say the same
    else:
        assert first_cell(nb) == cell
    removed = [ln for ln in original.decode().splitlines() if ln not in nb.read_text().splitlines()]
    assert all("source" in ln or "#" in ln for ln in removed)  # only the block's lines moved
    assert not stamp(nb, STAMP)  # the same stamp again: no write
    assert stamp(nb, None)
    assert nb.read_bytes() == original


def test_clearing_keeps_the_rest_of_metadata_orbit(tmp_path: Path):
    meta = {"orbit": {"schema": 1, "packages": {"pypi": ["six"]}, "as_of": STAMP}}
    nb = make_notebook(tmp_path / "nb.ipynb", "1", metadata=meta)
    assert stamp(nb, None)
    assert json.loads(nb.read_text())["metadata"]["orbit"] == {
        "schema": 1,
        "packages": {"pypi": ["six"]},
    }
    assert not stamp(nb, None)


# -- orbit stamp ---------------------------------------------------------------------------------


def test_orbit_stamp_a_date_and_clear_it(orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", BLOCK)
    original = nb.read_bytes()
    r = orbit.run("stamp", str(nb), "2017-05-01")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{nb}  stamped {STAMP}\n"
    assert f'exclude-newer = "{STAMP}"' in first_cell(nb)
    assert orbit.run("stamp", str(nb), "2017-05-01").stdout == f"{nb}  already {STAMP}\n"
    env = json.loads(orbit.run("env", str(nb), "--json").stdout)
    assert (env["as_of"], env["as_of_source"]) == (STAMP, "metadata.orbit")
    r = orbit.run("stamp", str(nb), "--clear")
    assert r.stdout == f"{nb}  cleared\n" and nb.read_bytes() == original
    assert orbit.run("stamp", str(nb), "--clear").stdout == f"{nb}  no stamp to clear\n"


def test_orbit_stamp_without_a_date_writes_the_detected_one(orbit, tmp_path: Path):
    repo = init(tmp_path / "repo")
    (repo / "requirements.txt").write_text("six\n")
    nb = make_notebook(repo / "nb.ipynb", "import six")
    commit_all(repo, "2021-06-01T12:00:00Z")
    r = orbit.run("stamp", str(nb))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        f"{nb}  stamped 2021-06-01 (git: nb.ipynb, requirements.txt last committed"
    )
    assert json.loads(nb.read_text())["metadata"]["orbit"]["as_of"] == "2021-06-01T00:00:00Z"
    # Now the stamp holds, though the notebook has uncommitted changes.
    env = json.loads(orbit.run("env", str(nb), "--json").stdout)
    assert (env["as_of"], env["as_of_source"]) == ("2021-06-01T00:00:00Z", "metadata.orbit")
    assert orbit.run("stamp", str(nb)).stdout == f"{nb}  already 2021-06-01T00:00:00Z\n"


def test_orbit_stamp_a_folder_one_line_per_notebook(orbit, tmp_path: Path):
    root = tmp_path / "project"
    for rel in ("b.ipynb", "a/one.ipynb", "a/two.ipynb", ".ipynb_checkpoints/b-checkpoint.ipynb"):
        make_notebook(root / rel, "1")
    locked = make_notebook(
        root / "c.ipynb",
        '# /// script\n# dependencies = ["six"]\n# ///\n',
        metadata={"uv.lock": "version = 1\n"},
    )
    r = orbit.run("stamp", str(root), "now")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split("  ")[0] for ln in lines] == [
        "b.ipynb",
        "c.ipynb",
        "a/one.ipynb",
        "a/two.ipynb",
    ]
    assert all(ln.split("  ")[1].startswith("stamped ") for ln in lines)
    checkpoint = json.loads((root / ".ipynb_checkpoints/b-checkpoint.ipynb").read_text())
    assert "orbit" not in checkpoint["metadata"]

    assert orbit.run("stamp", str(root), "--clear").stdout.count("cleared") == 4
    r = orbit.run("stamp", str(locked))
    assert (
        r.stdout == f"{locked}  not stamped: no date: uv.lock in c.ipynb: every version is pinned\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2999-01-01"], "DATE 2999-01-01 is in the future"),
        (["5/1/2017"], "DATE is not a date"),
        (["2017-05-01", "--clear"], "give a DATE or --clear, not both"),
        ([], "broken.ipynb is not valid JSON"),
    ],
)
def test_orbit_stamp_refuses_bad_input_and_writes_nothing(orbit, tmp_path: Path, args, message):
    root = tmp_path / "project"
    make_notebook(root / "good.ipynb", "1")
    (root / "broken.ipynb").write_text('{"cells": [')
    before = snapshot(root)
    r = orbit.run("stamp", str(root), *args)
    assert r.returncode == 2
    assert message in r.stderr
    if not args:
        assert "1 of 2 notebooks cannot be stamped; nothing was written" in r.stderr
    assert snapshot(root) == before


def test_orbit_stamp_writes_the_remembered_date_and_clear_forgets_it(bare_orbit, tmp_path: Path):
    from jupyter_orbit.notebook_dates import NotebookDates
    from jupyter_orbit.paths import Paths

    nb = make_notebook(tmp_path / "nb.ipynb", "1")
    dates = NotebookDates(Paths(bare_orbit.home).notebook_dates_dir)
    dates.put(nb, STAMP, "now", "no stamp, lock or git history; today (UTC)")
    env = json.loads(bare_orbit.run("env", str(nb), "--json").stdout)
    assert (env["as_of"], env["as_of_source"]) == (STAMP, "remembered")
    r = bare_orbit.run("stamp", str(nb))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{nb}  stamped 2017-05-01 (remembered: remembered for nb.ipynb")
    r = bare_orbit.run("stamp", str(nb), "--clear")
    assert r.stdout == f"{nb}  cleared; forgot the date Orbit remembered for it\n"
    assert dates.get(nb) is None
    assert bare_orbit.run("stamp", str(nb), "--clear").stdout == f"{nb}  no stamp to clear\n"
