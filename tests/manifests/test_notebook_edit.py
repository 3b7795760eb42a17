import json
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.notebook_edit import edit_pep723, orbit_metadata, update_notebook
from tests.conftest import make_notebook

BLOCK = '# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n#     "numpy>=2",  # arrays\n# ]\n# ///\nimport numpy'


def test_only_the_changed_lines_change(tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", BLOCK, "print(1)")
    before = nb.read_text().splitlines()

    def change(data):
        orbit_metadata(data)["as_of"] = "2024-01-01T00:00:00Z"
        edit_pep723(data, nb, lambda doc: doc["dependencies"].append("pandas"))

    assert update_notebook(nb, change)
    after = nb.read_text().splitlines()
    added = [ln for ln in after if ln not in before]
    removed = [ln for ln in before if ln not in after]
    assert removed == ['    "#     \\"numpy>=2\\",  # arrays\\n",'] or removed == []
    assert any("as_of" in ln for ln in added) and any("pandas" in ln for ln in added)
    assert "# arrays" in nb.read_text()  # the comment in the block survived
    src = "".join(json.loads(nb.read_text())["cells"][0]["source"])
    assert src.endswith("# ///\nimport numpy")


def test_no_change_no_write(tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "1")
    stat = nb.stat()
    assert update_notebook(nb, lambda data: None) is False
    assert nb.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize("indent,newline", [(2, "\n"), (4, "\r\n"), (None, "\n")])
def test_foreign_styles_are_kept(tmp_path: Path, indent, newline):
    data = {"cells": [], "metadata": {"z": "é", "a": 1}, "nbformat": 4, "nbformat_minor": 5}
    text = json.dumps(data, indent=indent, ensure_ascii=False).replace("\n", newline) + newline
    f = tmp_path / "nb.ipynb"
    f.write_bytes(text.encode())
    assert update_notebook(f, lambda d: orbit_metadata(d).update(kernel="python"))
    new = f.read_bytes().decode()
    assert ("\r\n" in new) == (newline == "\r\n")
    out = json.loads(new)
    assert list(out["metadata"]) == ["z", "a", "orbit"]  # unsorted keys stay unsorted
    assert "é" in new


def test_broken_block_is_refused_and_file_kept(tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "# /// script\n# dependencies = [\n# ///")
    before = nb.read_bytes()
    with pytest.raises(InputError, match="PEP 723"):
        update_notebook(nb, lambda d: edit_pep723(d, nb, lambda doc: None))
    assert nb.read_bytes() == before
