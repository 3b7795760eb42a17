"""An old notebook runs as of its own date: real uv, real kernels, a real server, a real git.

The package the notebook uses comes in two versions from a local index with upload dates (2020
and 2023); only the old one has the function the notebook calls. The kernel's own packages come
from PyPI, fitted to the date (docs/as-of.md).
"""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jupyter_orbit import pythons
from tests.conftest import Orbit, make_notebook, snapshot
from tests.support.gitrepo import commit_all, git, init
from tests.support.kernelws import KernelWS
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration

OLD_API = "def shout(s):\n    return s.upper() + '!'\n\n__version__ = '1.0'\n"
NEW_API = "def yell(s):\n    return s.upper() + '!'\n\n__version__ = '2.0'\n"
CODE = "import orbit_asof_demo\nprint(orbit_asof_demo.__version__, orbit_asof_demo.shout('still runs'))"
COMMITTED = "2021-06-01T12:00:00Z"
AS_OF = "2021-06-01T00:00:00Z"


@pytest.fixture
def index(tmp_path: Path, monkeypatch) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path) as idx:
        idx.add(
            "orbit-asof-demo",
            "1.0",
            {"orbit_asof_demo/__init__.py": OLD_API},
            uploaded="2020-01-01T00:00:00Z",
        )
        idx.add(
            "orbit-asof-demo",
            "2.0",
            {"orbit_asof_demo/__init__.py": NEW_API},
            uploaded="2023-01-01T00:00:00Z",
        )
        # As of 2021 only a wheel for CPython 3.6; today's version runs anywhere.
        idx.add(
            "orbit-asof-old",
            "1.0",
            uploaded="2020-01-01T00:00:00Z",
            tag="cp36-cp36m-manylinux1_x86_64",
        )
        idx.add("orbit-asof-old", "2.0", uploaded="2023-01-01T00:00:00Z")
        # uv prefers an extra index for the names it has; everything else still comes from PyPI.
        monkeypatch.setenv("UV_EXTRA_INDEX_URL", idx.url)
        yield idx


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A Binder-style repository last committed in 2021 with an unpinned requirement."""
    r = init(tmp_path / "old-repo")
    (r / "requirements.txt").write_text("orbit-asof-demo\n")
    make_notebook(r / "analysis.ipynb", CODE)
    commit_all(r, COMMITTED)
    return r


def env_json(orbit: Orbit, nb: Path, *args: str) -> dict:
    r = orbit.run("env", str(nb), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pins(orbit: Orbit, env_id: str) -> dict[str, str]:
    lock = orbit.home / "envs" / "local" / env_id / "orbit" / "requirements.lock.txt"
    return dict(
        ln.split("==")
        for ln in lock.read_text().splitlines()
        if "==" in ln and not ln.startswith(" ")
    )


def test_old_repository_runs_as_of_its_last_commit(orbit: Orbit, index: LocalIndex, repo: Path):
    nb = repo / "analysis.ipynb"
    before = snapshot(repo)
    dated = env_json(orbit, nb)
    assert (dated["as_of"], dated["as_of_source"]) == (AS_OF, "git")

    r = orbit.run("run", str(nb), "--yes")  # no flags about dates
    assert r.returncode == 0, r.stderr
    assert "1.0 STILL RUNS!" in r.stdout
    assert "as-of 2021-06-01 (git: analysis.ipynb, requirements.txt last committed" in r.stderr
    assert snapshot(repo) == before  # running never writes the stamp; only the server does
    assert git(repo, "status", "--porcelain") == ""

    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    latest = env_json(orbit, nb, "--as-of", "now")
    assert (latest["as_of"], latest["as_of_source"]) == (today, "command line")
    assert latest["env_id"] != dated["env_id"]  # the date is part of the hash

    r = orbit.run("run", str(nb), "--yes", "--as-of", "now")
    assert r.returncode == 1
    assert "AttributeError" in r.stderr and "shout" in r.stderr

    old, new = pins(orbit, dated["env_id"]), pins(orbit, latest["env_id"])
    assert (old["orbit-asof-demo"], new["orbit-asof-demo"]) == ("1.0", "2.0")
    # The kernel's own packages are of the notebook's time, on a Python of its time.
    assert dated["spec"]["python"] == "3.9" and latest["spec"]["python"] != "3.9"
    assert old["ipykernel"] == "5.5.5" and new["ipykernel"] != "5.5.5"
    assert env_json(orbit, nb)["built"] is True  # the git date still finds the first one


def test_a_pin_newer_than_the_date_is_told_with_its_source(
    orbit: Orbit, index: LocalIndex, repo: Path
):
    (repo / "requirements.txt").write_text("orbit-asof-demo==2.0\n")
    commit_all(repo, COMMITTED)
    before = snapshot(repo)
    r = orbit.run("run", str(repo / "analysis.ipynb"), "--yes")
    assert r.returncode == 1
    assert (
        "orbit-asof-demo 2.0 was published on 2023-01-01, after the as-of date 2021-06-01"
        in r.stderr
    )
    assert "the date is from git: analysis.ipynb, requirements.txt last committed" in r.stderr
    assert "--as-of now" in r.stderr and "orbit stamp analysis.ipynb DATE" in r.stderr
    assert snapshot(repo) == before
    assert not list((orbit.home / "envs" / "local").glob("*/orbit-env.json"))

    ok = orbit.run("run", str(repo / "analysis.ipynb"), "--yes", "--as-of", "now")
    assert ok.returncode == 1 and "AttributeError" in ok.stderr  # built; 2.0 lacks shout()


def test_a_date_before_the_index_had_the_package(orbit: Orbit, index: LocalIndex, repo: Path):
    r = orbit.run("env", str(repo / "analysis.ipynb"), "--dry-run", "--as-of", "2019-01-01")
    assert r.returncode == 0, r.stderr  # env reports the problem, it does not fail
    assert (
        "no version of orbit-asof-demo that fits had been published by the as-of date 2019-01-01"
        in r.stdout
    )
    assert "the date is from command line: --as-of 2019-01-01" in r.stdout


def test_no_wheel_for_todays_python_as_of_the_date_chooses_a_python_that_has_one(
    orbit: Orbit, index: LocalIndex, repo: Path
):
    """As of 2021 the package has a wheel for CPython 3.6 only: with no Python declared, the
    notebook gets 3.6 (from pyenv here); with today's declared, the error offers 3.6 and
    today's versions, both of which work."""
    if "3.6" not in pythons.by_minor(pythons.discover()):
        pytest.skip("needs Python 3.6 on this machine (e.g. under pyenv)")
    (repo / "requirements.txt").write_text("orbit-asof-old\n")
    make_notebook(
        repo / "analysis.ipynb", "import orbit_asof_old, sys\nprint(sys.version_info[:2])"
    )
    commit_all(repo, COMMITTED)
    nb = repo / "analysis.ipynb"
    fitted = env_json(orbit, nb)
    assert (fitted["spec"]["python"], fitted["spec"]["wheels_only"]) == ("3.6", True)
    assert "3.9, 3.8, 3.7 would not install them" in fitted["python_detail"]
    r = orbit.run("run", str(nb), "--yes")
    assert r.returncode == 0, r.stderr
    assert "(3, 6)" in r.stdout

    r = orbit.run("run", str(nb), "--yes", "--python", "3.11")
    assert r.returncode == 1
    err = " ".join(r.stderr.split("error:")[-1].split())
    assert (
        "orbit-asof-old 1.0, the newest as of 2021-06-01, has no wheel for this Python (cp3" in err
    )
    assert "the date is from git: analysis.ipynb, requirements.txt last committed" in err
    assert "--as-of now" in err and "`--python 3.6`" in err and "--python 3.9" not in err
    ok = json.loads(orbit.run("env", str(nb), "--json", "--dry-run", "--as-of", "now").stdout)
    assert "orbit-asof-old==2.0" in ok["pins"]


def test_the_server_remembers_the_date_and_writes_nothing(
    orbit: Orbit, index: LocalIndex, repo: Path
):
    nb = repo / "analysis.ipynb"
    before = snapshot(repo)
    dated = env_json(orbit, nb)
    server = orbit.server(repo)  # `orbit up PATH` trusts PATH
    session = server.new_session("analysis.ipynb")

    async def run() -> str:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=600)
            reply = await k.execute(CODE)
            assert reply.status == "ok", reply.error
            return reply.stdout

    assert asyncio.run(run()).strip() == "1.0 STILL RUNS!"
    # Opening, building and running wrote nothing in the project: not a byte, not in .git.
    assert snapshot(repo) == before
    assert git(repo, "status", "--porcelain") == ""
    remembered = list((orbit.home / "notebook-dates").glob("*.json"))
    assert len(remembered) == 1 and json.loads(remembered[0].read_text())["as_of"] == AS_OF

    # An edit makes the notebook uncommitted; it keeps its date, from Orbit's memory.
    edited = json.loads(nb.read_text())
    edited["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x\n"}]
    saved = server.put(
        "/api/contents/analysis.ipynb",
        json={"type": "notebook", "format": "json", "content": edited},
    )
    assert saved.status_code == 200, saved.text
    on_disk = json.loads(nb.read_text())
    assert on_disk["metadata"] == edited["metadata"]  # a save is saved as sent: no stamp added
    assert "orbit" not in on_disk["metadata"]
    after = env_json(orbit, nb)
    assert (after["as_of"], after["as_of_source"]) == (AS_OF, "remembered")
    assert "remembered for analysis.ipynb since" in after["as_of_detail"]
    assert after["env_id"] == dated["env_id"]

    # Writing the date into the notebook is the user's explicit command, and it says so.
    r = orbit.run("stamp", str(nb))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{nb}  stamped 2021-06-01 (remembered: ")
    assert json.loads(nb.read_text())["metadata"]["orbit"]["as_of"] == AS_OF
    r = orbit.run("stamp", str(nb), "--clear")
    assert r.stdout.strip() == f"{nb}  cleared; forgot the date Orbit remembered for it"
    assert not list((orbit.home / "notebook-dates").glob("*.json"))
    assert env_json(orbit, nb)["as_of_source"] == "now"  # uncommitted, nothing remembered
