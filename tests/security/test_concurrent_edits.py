"""Read-modify-write races: two Orbit commands at once, or another program (an editor,
JupyterLab's autosave) saving a file while Orbit edits it.

Orbit holds a lock on each file from the read an edit is computed from to its write, so its own
commands take turns; a version another program saved meanwhile is refused, never overwritten.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit import locking
from jupyter_orbit.bazaar import edit
from jupyter_orbit.manifests.notebook_edit import orbit_metadata, update_notebook
from jupyter_orbit.paths import Paths
from jupyter_orbit.profiles import config
from jupyter_orbit.profiles.store import ProfileStore
from tests.conftest import make_notebook
from tests.support.indexes import IndexedOrbit, indexed
from tests.support.pypi_index import LocalIndex

ROUNDS = 10


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the edit locks live


@pytest.fixture
def race_index(tmp_path: Path):
    """A local index with one package per command (uv asks it before PyPI)."""
    with LocalIndex(tmp_path / "index") as idx:
        for n in range(2 * ROUNDS):
            idx.add(f"orbit-race-{n}", "1.0")
        yield idx


@pytest.mark.integration
def test_two_orbit_adds_on_one_requirements_txt_lose_nothing(tmp_path: Path, race_index):
    """The review's attack: two `orbit add` on the same requirements.txt at once, ten rounds.
    Before: one package was lost in every round and both commands exited 0. Now each round
    ends with both packages in the file, or with one command refused, saying why."""
    o: IndexedOrbit = indexed(tmp_path, race_index)
    project = tmp_path / "proj"
    reqs = project / "requirements.txt"
    # the notebook's stamp fixes the date its environment is resolved as of
    nb = make_notebook(project / "nb.ipynb", "1", metadata={"orbit": {"as_of": "2025-06-01"}})
    outcomes = []
    for n in range(ROUNDS):
        reqs.write_text("# the paper's packages\n")
        names = [f"orbit-race-{2 * n}", f"orbit-race-{2 * n + 1}"]
        add = [sys.executable, "-m", "jupyter_orbit", "add"]
        procs = [
            subprocess.Popen(
                [*add, name, "--to", str(nb), "--file", str(reqs)],
                env=o.env,
                cwd=o.user_home,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        text = reqs.read_text()
        for name, (code, _, err) in zip(names, results, strict=True):
            if code == 0:
                assert name in text, f"round {n}: {name} lost although `orbit add` exited 0"
            else:
                assert name not in text
                assert "changed while Orbit was editing it" in err or "editing" in err, err
        outcomes.append([code for code, *_ in results])
    # Orbit's own commands take turns (the lock), so neither should even be refused.
    assert all(codes == [0, 0] for codes in outcomes), outcomes


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "requirements.txt").write_text("orbit-a==1.0\n")
    return root


def test_a_file_saved_between_the_read_and_the_write_is_not_overwritten(tmp_path: Path):
    """An editor saves requirements.txt after `orbit add` read it: the write is refused and
    the editor's version stays."""
    root = _project(tmp_path)
    paths = Paths(tmp_path / "orbit-home")
    change = edit.plan(paths, root, ["orbit-b"])
    editor = b"orbit-a==1.0\norbit-from-the-editor\n"
    (root / "requirements.txt").write_bytes(editor)
    with pytest.raises(locking.FileChanged) as e:
        edit.apply(change)
    assert "requirements.txt changed while Orbit was editing it" in e.value.message
    assert (root / "requirements.txt").read_bytes() == editor


def test_a_refused_write_puts_back_the_files_already_written(tmp_path: Path):
    """A change of two files (the notebook and its PEP 723 twin …): the second refused, the
    first is put back, so the project is as it was."""
    root = _project(tmp_path)
    other = root / "dev-requirements.txt"
    other.write_text("orbit-dev\n")
    first = edit.FileChange(root / "requirements.txt", b"orbit-a==1.0\n", b"orbit-a==2.0\n")
    second = edit.FileChange(other, b"orbit-dev\n", b"orbit-dev==1\n")
    change = edit.plan(Paths(tmp_path / "orbit-home"), root, ["orbit-b"])
    change.files = [first, second]
    other.write_text("orbit-dev  # saved in an editor\n")
    with pytest.raises(locking.FileChanged):
        edit.apply(change)
    assert (root / "requirements.txt").read_bytes() == b"orbit-a==1.0\n"
    assert other.read_text() == "orbit-dev  # saved in an editor\n"


def test_jupyterlab_saving_the_notebook_during_an_update_wins(tmp_path: Path):
    """The server stamps a notebook (or `orbit lock` writes its lock) while JupyterLab saves
    it: Orbit's write is refused, JupyterLab's save stays."""
    nb = make_notebook(tmp_path / "nb.ipynb", "print(1)")
    saved = {}

    def change(data: dict) -> None:
        orbit_metadata(data)["as_of"] = "2025-06-01"
        # JupyterLab's autosave lands between Orbit's read and its write
        other = json.loads(nb.read_text())
        other["cells"][0]["source"] = "print('edited in JupyterLab')"
        nb.write_text(json.dumps(other, indent=1))
        saved["bytes"] = nb.read_bytes()

    with pytest.raises(locking.FileChanged):
        update_notebook(nb, change)
    assert nb.read_bytes() == saved["bytes"]


def test_update_refuses_a_notebook_saved_since_an_earlier_read(tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "print(1)")
    seen = nb.read_bytes()
    make_notebook(nb, "print(2)")  # saved meanwhile
    after = nb.read_bytes()
    with pytest.raises(locking.FileChanged):
        update_notebook(nb, lambda d: orbit_metadata(d), expect=seen)
    assert nb.read_bytes() == after


def test_a_hand_edit_of_profile_toml_is_not_overwritten(tmp_path: Path):
    """`orbit ext add` reads the settings, builds for minutes, then saves: a hand edit made
    meanwhile is refused, not silently replaced by the old values."""
    store = ProfileStore(Paths(tmp_path / "orbit-home"))
    settings = store.settings("default", create=True)
    path = store.profile("default").settings_file
    hand = path.read_text() + "# a note made by hand\n"
    path.write_text(hand)
    with pytest.raises(locking.FileChanged):
        store.save("default", settings)
    assert path.read_text() == hand
    fresh = ProfileStore(store.paths)  # a new read sees the edit, and saves keep it
    fresh.save("default", fresh.settings("default"))
    assert "# a note made by hand" in path.read_text()


def test_config_set_refuses_a_server_config_saved_meanwhile(tmp_path: Path, monkeypatch):
    """`orbit config set` checks the value in the server environment (seconds); an editor
    saving the config file then is not overwritten. The check itself is the seam replaced."""
    paths = Paths(tmp_path / "orbit-home")
    prof = ProfileStore(paths).profile("default")
    prof.server_config.parent.mkdir(parents=True, exist_ok=True)
    prof.server_config.write_text('{"ServerApp": {"quit_button": false}}\n')
    edited = '{"ServerApp": {"quit_button": false, "autoreload": false}}\n'

    def check_many(paths, prof, settings, items, **kw):
        prof.server_config.write_text(edited)  # the editor saves while the check runs
        return {k: int(v) for k, v in items.items()}

    monkeypatch.setattr(config, "check_many", check_many)
    with pytest.raises(locking.FileChanged):
        config.set_value(paths, "default", "ServerApp.shutdown_no_activity_timeout", "60")
    assert prof.server_config.read_text() == edited


def test_orbit_commands_on_one_file_take_turns(tmp_path: Path):
    """While one command holds a file's lock, another waits (here: gives up after its
    timeout, with a message naming the file)."""
    target = tmp_path / "requirements.txt"
    target.write_text("x\n")
    code = (
        "import sys; from pathlib import Path; from jupyter_orbit import locking\n"
        "try:\n"
        "    with locking.locked(Path(sys.argv[1]), timeout=0.5): print('got it')\n"
        "except locking.Busy as e: print('busy:', e.message)\n"
    )
    with locking.locked(target):
        r = subprocess.run(
            [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60
        )
    assert "busy: another Orbit command has been editing requirements.txt" in r.stdout
    r = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60
    )
    assert "got it" in r.stdout
