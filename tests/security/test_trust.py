"""Trusting a folder trusts what the user looked at: not a repository cloned into it later,
not another folder made at the same path after the trusted one was deleted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit.errors import TrustError
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, Consent, prepare
from jupyter_orbit.trust import TrustStore
from tests.conftest import make_notebook
from tests.support.gitrepo import commit_all, git, init


def _evil_repo(tmp_path: Path) -> Path:
    """A repository somewhere else, whose notebook declares a package."""
    origin = init(tmp_path / "elsewhere" / "evil")
    (origin / "requirements.txt").write_text("evil-package\n")
    make_notebook(origin / "nb.ipynb", "1")
    commit_all(origin, "2025-06-01T00:00:00Z")
    return origin


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """~/work, trusted, holding one repository at the time."""
    work = tmp_path / "work"
    mine = init(work / "mine")
    (mine / "requirements.txt").write_text("six\n")
    make_notebook(mine / "nb.ipynb", "1")
    commit_all(mine, "2025-06-01T00:00:00Z")
    return work


def test_a_repository_cloned_into_a_trusted_folder_later_is_not_trusted(tmp_path, work):
    store = TrustStore(tmp_path / "trust.json")
    assert store.trust(work, refresh=True)
    assert store.is_trusted(work / "mine")  # there when it was trusted
    (work / "notes").mkdir()
    assert store.is_trusted(work / "notes")  # a plain folder made since is part of it

    git(work, "clone", "--quiet", str(_evil_repo(tmp_path)), "evil")
    assert not store.is_trusted(work / "evil")
    assert "was not there when you trusted it" in store.why_not(work / "evil" / "sub")

    # `orbit up ~/work` again does not widen the trust; `orbit trust ~/work` (explicit) does
    assert store.trust(work) is False
    assert not store.is_trusted(work / "evil")
    assert store.trust(work, refresh=True)
    assert store.is_trusted(work / "evil")


def test_a_submodule_or_worktree_added_later_is_another_project(tmp_path, work):
    store = TrustStore(tmp_path / "trust.json")
    store.trust(work, refresh=True)
    git(work / "mine", "worktree", "add", "--quiet", str(work / "mine" / "wt"), "-b", "wt")
    assert not store.is_trusted(work / "mine" / "wt")  # a `.git` file, not a folder


def test_a_trusted_folder_replaced_at_the_same_path_is_not_trusted(tmp_path):
    store = TrustStore(tmp_path / "trust.json")
    proj = tmp_path / "proj"
    proj.mkdir()
    store.trust(proj)
    assert store.is_trusted(proj)
    shutil.rmtree(proj)
    (tmp_path / "other").mkdir()  # keeps the freed inode from being handed straight back
    proj.mkdir()
    assert not store.is_trusted(proj)
    assert "the folder there now is another one" in store.why_not(proj)


def test_consent_refuses_the_clone_saying_why(tmp_path, work):
    paths = Paths(tmp_path / "orbit-home")
    TrustStore(paths.trust_file).trust(work, refresh=True)
    git(work, "clone", "--quiet", str(_evil_repo(tmp_path)), "evil")
    mine = prepare(work / "mine" / "nb.ipynb", Choices(), paths, until="resolve").resolution
    Consent().check(paths, mine)  # the trusted project's own notebook: allowed
    evil = prepare(work / "evil" / "nb.ipynb", Choices(), paths, until="resolve").resolution
    with pytest.raises(TrustError) as e:
        Consent().check(paths, evil)
    assert "not installing what it declares (pypi:evil-package" in e.value.message
    assert "was not there when you trusted it" in e.value.message
    assert f"orbit trust {work / 'evil'}" in e.value.hint
    # even when the server is rooted at the trusted folder (its root is the project root)
    rooted = prepare(
        work / "evil" / "nb.ipynb", Choices(root=work), paths, until="resolve"
    ).resolution
    with pytest.raises(TrustError):
        Consent().check(paths, rooted)


@pytest.mark.integration
def test_orbit_run_of_a_cloned_notebook_installs_nothing(tmp_path, work):
    home = tmp_path / "orbit-home"
    env = {"ORBIT_HOME": str(home), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "jupyter_orbit"]
    r = subprocess.run([*run, "trust", str(work)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    git(work, "clone", "--quiet", str(_evil_repo(tmp_path)), "evil")
    r = subprocess.run(
        [*run, "run", str(work / "evil" / "nb.ipynb")],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert r.returncode == 2, r.stderr
    assert "was not there when you trusted it" in r.stderr
    assert not list((home / "envs" / "local").glob("[0-9a-f]*"))
