"""orbit run against a package index that misbehaves on purpose: retried where a retry cures it,
told as what it is where not (the index and the package named, never a version conflict)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_notebook
from tests.support.indexes import IndexedOrbit, indexed
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration

CELL = "import orbit_flaky; print('flaky', orbit_flaky.__version__)"


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path) as idx:
        idx.add("orbit-flaky", "1.0")
        idx.add("orbit-flaky", "2.0")
        yield idx


@pytest.fixture
def orbit(tmp_path: Path, flaky: LocalIndex) -> IndexedOrbit:
    return indexed(tmp_path, flaky)  # the local index before PyPI (which serves ipykernel)


def notebook(tmp_path: Path) -> Path:
    meta = {"orbit": {"packages": {"pypi": ["orbit-flaky==2.0"]}}}
    return make_notebook(tmp_path / "proj" / "nb.ipynb", CELL, metadata=meta)


def run(orbit: IndexedOrbit, nb: Path, *args: str):
    return orbit.run("run", str(nb), "--yes", "--as-of", "2025-06-01", *args)


def fitted(orbit: IndexedOrbit, flaky: LocalIndex, nb: Path) -> int:
    """Fit the notebook to its date first (a dry run; the fit's answers are cached), so the
    requests counted next are the build's own; returns the count so far."""
    r = run(orbit, nb, "--dry-run")
    assert r.returncode == 0, r.stderr
    return flaky.page_requests("orbit-flaky")


def test_a_listing_that_drops_the_version_once_succeeds_after_a_retry(orbit, flaky, tmp_path):
    nb = notebook(tmp_path)
    base = fitted(orbit, flaky, nb)
    flaky.drop("orbit-flaky", "2.0", when=lambda n: n == base + 1)
    r = run(orbit, nb)
    assert r.returncode == 0, r.stderr
    assert "flaky 2.0" in r.stdout
    assert f"warning: {flaky.url} did not list orbit-flaky 2.0; trying again" in r.stderr
    assert flaky.page_requests("orbit-flaky") >= base + 2


def test_an_index_that_never_serves_the_version_is_named_with_the_package(orbit, flaky, tmp_path):
    nb = notebook(tmp_path)
    # listed when the build resolves, never after. (The fit's answers come from its cache in
    # this run, made by the dry run, so the build's resolve asks the index again:
    # ecosystems/pypi_answers.py trusts only what the index answered in this process.)
    base = fitted(orbit, flaky, nb)
    flaky.drop("orbit-flaky", "2.0", when=lambda n: n > base + 1)
    r = run(orbit, nb)
    assert r.returncode == 1
    error = r.stderr[r.stderr.index("error: ") :]
    assert f"the package index {flaky.url} answered inconsistently" in error
    assert "orbit-flaky 2.0" in error and "tried 3 times" in error
    assert "conflict" not in error and "loosen" not in error
    assert "--as-of now" not in error  # no date would help
    assert r.stderr.count("trying again") == 2
    assert not list((orbit.home / "envs" / "local").glob("*/orbit-env.json"))


def test_a_name_the_index_lacks_gets_a_did_you_mean_and_no_date_hint(orbit, flaky, tmp_path):
    from jupyter_orbit.ecosystems.pypi import PyPI
    from jupyter_orbit.ecosystems.pypi_names import NameIndex
    from jupyter_orbit.paths import Paths

    # what `orbit search` leaves in the cache: the local index's names
    assert NameIndex(PyPI(Paths(orbit.home)).cache, flaky.url).refresh() == 1
    meta = {"orbit": {"packages": {"pypi": ["orbit-flaki"]}}}
    nb = make_notebook(tmp_path / "proj" / "typo.ipynb", "1", metadata=meta)
    r = run(orbit, nb)
    assert r.returncode == 1
    assert "no package named orbit-flaki on" in r.stderr and flaky.url in r.stderr
    assert "did you mean orbit-flaky?" in r.stderr  # from the cached names
    assert "--as-of" not in r.stderr.split("error: ")[-1]
