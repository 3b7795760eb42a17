"""JupyterLab's checkpoints live in the profile: opening a notebook adds nothing to the project."""

import asyncio
import stat
from pathlib import Path

import nbformat
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.contents.manager import ContentsManager

from jupyter_orbit.server.checkpoints import ProfileCheckpoints, keep_in_profile
from tests.conftest import make_notebook, snapshot


def test_checkpoints_are_kept_in_the_profile_and_revert_as_before(tmp_path: Path):
    root = tmp_path / "project"
    make_notebook(root / "a" / "nb.ipynb", "print(1)")
    make_notebook(root / "b" / "nb.ipynb", "print(2)")  # the same name in another folder
    before = snapshot(root)
    cm = AsyncLargeFileManager(root_dir=str(root))
    assert keep_in_profile(cm, tmp_path / "profile" / "checkpoints")
    assert isinstance(cm.checkpoints, ProfileCheckpoints)

    async def go() -> None:
        # what JupyterLab does when it opens each notebook
        for path in ("a/nb.ipynb", "b/nb.ipynb"):
            assert await cm.list_checkpoints(path) == []
            made = await cm.create_checkpoint(path)
            assert [c["id"] for c in await cm.list_checkpoints(path)] == [made["id"]]
        assert snapshot(root) == before  # nothing in the project, no .ipynb_checkpoints
        # the user's own save, then "Revert to checkpoint": the opened content comes back
        model = await cm.get("a/nb.ipynb")
        model["content"].cells[0].source = "print('changed')"
        await cm.save({"type": "notebook", "content": model["content"]}, "a/nb.ipynb")
        await cm.restore_checkpoint("checkpoint", "a/nb.ipynb")
        assert nbformat.read(root / "a" / "nb.ipynb", 4).cells[0].source == "print(1)"
        assert nbformat.read(root / "b" / "nb.ipynb", 4).cells[0].source == "print(2)"
        await cm.rename("a/nb.ipynb", "a/renamed.ipynb")
        assert len(await cm.list_checkpoints("a/renamed.ipynb")) == 1

    asyncio.run(go())
    kept = sorted((tmp_path / "profile" / "checkpoints").rglob("*.ipynb"))
    assert sorted(p.name for p in kept) == ["nb-checkpoint.ipynb", "renamed-checkpoint.ipynb"]
    assert len({p.parent for p in kept}) == 2  # one folder per project folder
    assert all(stat.S_IMODE(p.parent.stat().st_mode) == 0o700 for p in kept)
    assert not list(root.rglob(".ipynb_checkpoints"))


def test_a_checkpoints_class_of_the_users_own_is_left_alone(tmp_path: Path):
    cm = ContentsManager()  # its checkpoints are not jupyter_server's file checkpoints
    assert not keep_in_profile(cm, tmp_path)
