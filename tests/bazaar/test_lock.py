"""orbit lock: the full resolution in the notebook; a lock written on one ORBIT_HOME rebuilds
the same versions on a fresh one (even after newer versions are published); --locked refuses
a stale lock instead of re-resolving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_notebook
from tests.support.indexes import IndexedOrbit, indexed
from tests.support.pypi_index import LocalIndex

pytestmark = pytest.mark.integration

CODE = "import orbit_bz_beta; print(orbit_bz_beta.__version__)"


def test_lock_reproduces_on_a_fresh_home(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        index.add("orbit-bz-beta", "1.0")
        project = tmp_path / "mail"
        (project / ".git").mkdir(parents=True)
        (project / "requirements.txt").write_text("orbit-bz-beta  # unpinned\n")
        nb = make_notebook(project / "nb.ipynb", CODE)
        alice = indexed(tmp_path / "alice", index)

        r = alice.run("lock", str(nb), "--json")
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert "orbit-bz-beta==1.0" in result["pins"]
        orbit_meta = json.loads(nb.read_text())["metadata"]["orbit"]
        # self-contained: the packages moved into the notebook, the Python version is fixed
        assert orbit_meta["packages"]["pypi"] == ["orbit-bz-beta"]
        assert orbit_meta["python"] == result["python"]
        lock = orbit_meta["lock"]
        assert lock["format"] == "requirements"
        assert lock["text"].startswith("# orbit lock 1; inputs sha256:")
        assert "orbit-bz-beta==1.0" in lock["text"] and "--hash=sha256:" in lock["text"]

        index.add("orbit-bz-beta", "2.0")  # published after the lock
        # the colleague: another ORBIT_HOME, only the notebook (the project file is gone)
        (project / "requirements.txt").unlink()
        bob: IndexedOrbit = indexed(tmp_path / "bob", index)
        r = bob.run("run", str(nb), "--yes", "--locked")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "1.0\n"
        env = json.loads(bob.run("env", str(nb), "--json").stdout)
        assert env["env_id"] == result["env_id"]
        installed = Path(env["location"], "orbit", "requirements.lock.txt").read_text()
        assert installed == lock["text"]  # installed from the lock itself, not re-resolved

        # without the lock, the same notebook resolves to the newest version
        data = json.loads(nb.read_text())
        del data["metadata"]["orbit"]["lock"]
        unlocked = nb.with_name("unlocked.ipynb")
        unlocked.write_text(json.dumps(data))
        r = bob.run("run", str(unlocked), "--yes")
        assert r.returncode == 0 and r.stdout == "2.0\n", r.stderr


def test_locked_refuses_a_stale_lock(tmp_path: Path):
    with LocalIndex(tmp_path) as index:
        index.add("orbit-bz-beta", "1.0")
        index.add("orbit-bz-alpha", "1.0")
        nb = make_notebook(
            tmp_path / "p" / "nb.ipynb",
            CODE,
            metadata={"orbit": {"packages": {"pypi": ["orbit-bz-beta"]}}},
        )
        o = indexed(tmp_path / "o", index)
        r = o.run("run", str(nb), "--locked", "--yes")
        assert r.returncode == 2 and "has no lock" in r.stderr

        assert o.run("lock", str(nb)).returncode == 0
        data = json.loads(nb.read_text())
        data["metadata"]["orbit"]["packages"]["pypi"].append("orbit-bz-alpha")  # by hand
        nb.write_text(json.dumps(data))
        before = nb.read_bytes()
        r = o.run("run", str(nb), "--locked", "--yes")
        assert r.returncode == 2, r.stderr
        assert "stale" in r.stderr and "orbit lock" in r.stderr
        assert nb.read_bytes() == before
        # without --locked the stale lock's versions are kept where they fit, the rest resolved
        r = o.run("run", str(nb), "--yes")
        assert r.returncode == 0 and r.stdout == "1.0\n", r.stderr


def test_add_to_a_locked_notebook_renews_its_lock(orbit_idx: IndexedOrbit, tmp_path: Path):
    nb = make_notebook(
        tmp_path / "p" / "nb.ipynb",
        CODE,
        metadata={"orbit": {"packages": {"pypi": ["orbit-bz-beta<2"]}}},
    )
    assert orbit_idx.run("lock", str(nb)).returncode == 0
    r = orbit_idx.run("add", "orbit-bz-alpha", "--to", str(nb))
    assert r.returncode == 0, r.stderr
    assert "renewed the notebook's lock" in r.stderr
    text = json.loads(nb.read_text())["metadata"]["orbit"]["lock"]["text"]
    assert "orbit-bz-alpha==1.0" in text and "orbit-bz-beta==1.0" in text
    r = orbit_idx.run("run", str(nb), "--locked", "--yes")
    assert r.returncode == 0 and r.stdout == "1.0\n", r.stderr
