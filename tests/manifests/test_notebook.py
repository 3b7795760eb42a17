from __future__ import annotations

import json

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.notebook import (
    NotebookMetadata,
    Pep723Block,
    load_notebook,
    notebook_kernel,
    read_metadata,
    read_pep723,
)
from jupyter_orbit.model import Level, Lock

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

SCRIPT = """\
# /// script
# requires-python = ">=3.12"
# dependencies = [
#     "numpy>=1.26",
#     "Polars",
# ]
#
# [tool.uv]
# exclude-newer = "2024-06-01T00:00:00Z"
# ///
"""

UV_LOCK = 'version = 1\nrequires-python = ">=3.12"\n\n[manifest]\nrequirements = []\n'


def notebook(cells=(), **metadata):
    """A minimal nbformat 4 notebook; cells are (cell_type, source) pairs."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": KERNELSPEC, **metadata},
        "cells": [
            {"cell_type": t, "id": f"c{i}", "metadata": {}, "source": s}
            | ({"outputs": [], "execution_count": None} if t == "code" else {})
            for i, (t, s) in enumerate(cells)
        ],
    }


@pytest.fixture
def save(tmp_path):
    def _save(nb, name="analysis.ipynb"):
        path = tmp_path / name
        path.write_text(json.dumps(nb, indent=1))
        return path

    return _save


# --- load_notebook -------------------------------------------------------------------------


def test_load_notebook(save):
    nb = notebook([("code", "1 + 1")])
    assert load_notebook(save(nb)) == nb


def test_invalid_json_reports_line_and_column(tmp_path, unchanged):
    path = tmp_path / "broken.ipynb"
    path.write_text('{\n "cells": [],\n "nbformat": 4,,\n}\n')
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        load_notebook(path)
    assert "not valid JSON" in e.value.message
    assert "line 3, column 16" in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)
    assert "broken.ipynb:3" in str(e.value)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"cells": []},
        {"nbformat": 4},
        {"cells": {}, "nbformat": 4},
        {"cells": [], "nbformat": "4"},
    ],
)
def test_not_a_notebook(tmp_path, data):
    path = tmp_path / "data.ipynb"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as e:
        load_notebook(path)
    assert "not a Jupyter notebook" in e.value.message
    assert "data.ipynb" in e.value.message
    assert e.value.path == path


def test_old_nbformat(save):
    path = save({"nbformat": 3, "cells": [], "worksheets": []})
    with pytest.raises(InputError) as e:
        load_notebook(path)
    assert "version 3" in e.value.message
    assert "nbconvert" in e.value.hint


# --- notebook_kernel -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "kernel"),
    [
        ({"kernelspec": {"name": "ir", "language": "R"}}, "ir"),
        ({"kernelspec": {"display_name": "Bash", "language": "bash"}}, "bash"),
        ({"language_info": {"name": "python"}}, "python"),
        ({"kernelspec": "nonsense"}, None),
        ({}, None),
    ],
)
def test_notebook_kernel(metadata, kernel):
    assert notebook_kernel({"metadata": metadata, "cells": [], "nbformat": 4}) == kernel


# --- metadata.orbit ------------------------------------------------------------------------


def test_full_metadata(tmp_path):
    path = tmp_path / "a.ipynb"
    orbit = {
        "schema": 1,
        "kernel": "python",
        "python": "3.12",
        "packages": {
            "pypi": ["numpy>=1.26", "Pandas[Excel]==2.2.*"],
            "apt": ["graphviz", "Curl"],
            "npm": ["lodash@^4", "@jupyterlab/apputils@4.2.0"],
            "conda": ["conda-forge::gdal=3.8", "r-base=4.1|4.2"],
        },
        "index_options": ["-i https://mirror.example/simple", "--extra-index-url=https://x/simple"],
        "as_of": "2024-06-01",
        "engine": "docker",
        "lock": {"format": "requirements", "text": "numpy==1.26.4\n"},
    }
    c = read_metadata(notebook(orbit=orbit), path)
    assert c.kind == "metadata.orbit"
    assert c.level is Level.NOTEBOOK
    assert (c.kernel, c.python, c.as_of, c.engine) == ("python", "3.12", "2024-06-01", "docker")
    assert [(r.ecosystem, r.name, r.text) for r in c.requirements] == [
        ("pypi", "numpy", "numpy>=1.26"),
        ("pypi", "pandas", "pandas[excel]==2.2.*"),
        ("apt", "graphviz", "graphviz"),
        ("apt", "curl", "curl"),
        ("npm", "lodash", "lodash@^4"),
        ("npm", "@jupyterlab/apputils", "@jupyterlab/apputils@4.2.0"),
        ("conda", "gdal", "conda-forge::gdal=3.8"),
        ("conda", "r-base", "r-base=4.1|4.2"),
    ]
    assert {(r.origin.kind, r.origin.path, r.origin.level) for r in c.requirements} == {
        ("metadata.orbit", path, Level.NOTEBOOK)
    }
    assert c.index_options == [
        "--index-url https://mirror.example/simple",
        "--extra-index-url https://x/simple",
    ]
    assert c.lock == Lock("requirements", "numpy==1.26.4\n")
    assert c.provides() == (
        "kernel",
        "python",
        "packages.apt",
        "packages.conda",
        "packages.npm",
        "packages.pypi",
        "lock",
        "as_of",
        "engine",
    )


def test_empty_package_list_still_declares(tmp_path):
    c = read_metadata(notebook(orbit={"packages": {"pypi": []}}), tmp_path / "a.ipynb")
    assert c.provides() == ("packages.pypi",)


def test_no_metadata_contributes_nothing(tmp_path):
    nb = notebook([("code", "import numpy")])
    assert read_metadata(nb, tmp_path / "a.ipynb").provides() == ()
    assert read_pep723(nb, tmp_path / "a.ipynb").provides() == ()
    assert read_metadata({"cells": [], "nbformat": 4}, tmp_path / "a.ipynb").provides() == ()


def test_newer_schema(tmp_path):
    with pytest.raises(InputError) as e:
        read_metadata(notebook(orbit={"schema": 2}), tmp_path / "a.ipynb")
    assert "newer Orbit" in e.value.message
    assert e.value.hint == "upgrade jupyter-orbit"
    assert e.value.path == tmp_path / "a.ipynb"


@pytest.mark.parametrize(
    ("orbit", "key"),
    [
        ([], "metadata.orbit must be an object"),
        ({"schema": "1"}, "metadata.orbit.schema"),
        ({"schema": 0}, "metadata.orbit.schema"),
        ({"kernel": 3}, "metadata.orbit.kernel"),
        ({"engine": ""}, "metadata.orbit.engine"),
        ({"python": 3.11}, "metadata.orbit.python"),
        ({"python": "latest"}, "metadata.orbit.python"),
        ({"packages": ["numpy"]}, "metadata.orbit.packages"),
        ({"packages": {"pypi": "numpy"}}, "metadata.orbit.packages.pypi"),
        ({"packages": {"pypi": ["a", "b", 3]}}, "metadata.orbit.packages.pypi[2]"),
        ({"packages": {"npm": ["Not Valid"]}}, "metadata.orbit.packages.npm[0]"),
        ({"packages": {"conda": ["=1.2"]}}, "metadata.orbit.packages.conda[0]"),
        ({"index_options": "--no-index"}, "metadata.orbit.index_options"),
        ({"index_options": [None]}, "metadata.orbit.index_options[0]"),
        ({"as_of": "last tuesday"}, "metadata.orbit.as_of"),
        ({"lock": "uv.lock"}, "metadata.orbit.lock"),
        ({"lock": {"format": "uv.lock"}}, "metadata.orbit.lock.text"),
        ({"lock": {"text": "x"}}, "metadata.orbit.lock.format"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, orbit, key):
    with pytest.raises(InputError) as e:
        read_metadata(notebook(orbit=orbit), tmp_path / "a.ipynb")
    assert key in e.value.message
    assert e.value.path == tmp_path / "a.ipynb"
    assert e.value.hint


def test_unknown_ecosystem_lists_the_valid_ones(tmp_path):
    with pytest.raises(InputError) as e:
        read_metadata(notebook(orbit={"packages": {"cran": ["dplyr"]}}), tmp_path / "a.ipynb")
    assert "'cran'" in e.value.message
    assert e.value.hint == "use one of: apt, compose, conda, npm, pypi"


@pytest.mark.parametrize(
    ("orbit", "words"),
    [
        ({"packages": {"pypi": ["numpy >>= 1"]}}, "not a valid requirement"),
        ({"packages": {"apt": ["Bad_Name"]}}, "not a Debian package name"),
        ({"index_options": ["--use-feature x"]}, "not a single index option"),
        ({"lock": {"format": "poetry.lock", "text": ""}}, "unknown lock format"),
    ],
)
def test_invalid_values(tmp_path, orbit, words):
    with pytest.raises(InputError) as e:
        read_metadata(notebook(orbit=orbit), tmp_path / "a.ipynb")
    assert words in e.value.message
    assert e.value.path == tmp_path / "a.ipynb"


def test_unknown_keys_are_noted(tmp_path):
    c = read_metadata(notebook(orbit={"pakages": {}, "python": "3.11"}), tmp_path / "a.ipynb")
    assert c.python == "3.11"
    assert "pakages" in c.notes[0]


# --- PEP 723 -------------------------------------------------------------------------------


@pytest.mark.parametrize("as_list", [False, True])
def test_pep723_block(tmp_path, as_list):
    source = SCRIPT + "\nimport numpy as np\n"
    if as_list:
        source = source.splitlines(keepends=True)
    nb = notebook([("markdown", "# Title"), ("code", source)], **{"uv.lock": UV_LOCK})
    path = tmp_path / "juv.ipynb"
    c = read_pep723(nb, path)
    assert c.kind == "pep723"
    assert c.level is Level.PEP723
    assert [r.text for r in c.requirements] == ["numpy>=1.26", "polars"]
    assert {(r.origin.path, r.origin.level) for r in c.requirements} == {(path, Level.PEP723)}
    assert c.python == ">=3.12"
    assert c.as_of == "2024-06-01T00:00:00Z"
    assert c.lock == Lock("uv.lock", UV_LOCK)
    assert c.provides() == ("python", "packages.pypi", "lock", "as_of")


def test_pep723_only_in_first_code_cell(tmp_path):
    nb = notebook([("code", "import os\n"), ("code", SCRIPT)])
    assert read_pep723(nb, tmp_path / "a.ipynb").provides() == ()


def test_pep723_other_block_types_are_ignored(tmp_path):
    nb = notebook([("code", "# /// pyproject\n# x = 1\n# ///\n")])
    assert read_pep723(nb, tmp_path / "a.ipynb").provides() == ()


def test_uv_lock_without_block_is_noted(tmp_path):
    c = read_pep723(notebook([("code", "1")], **{"uv.lock": UV_LOCK}), tmp_path / "a.ipynb")
    assert c.lock is None
    assert "uv.lock ignored" in c.notes[0]


def test_two_script_blocks(tmp_path):
    nb = notebook([("markdown", "x"), ("code", SCRIPT + "\n" + SCRIPT)])
    with pytest.raises(InputError) as e:
        read_pep723(nb, tmp_path / "a.ipynb")
    assert "more than one PEP 723 script block" in e.value.message
    assert "cell 2" in e.value.message
    assert e.value.path == tmp_path / "a.ipynb"


def test_malformed_toml_points_at_the_cell(tmp_path):
    source = (
        "import os\n# /// script\n# dependencies = [\n#   'numpy'\n# requires-python = 1\n# ///\n"
    )
    nb = notebook([("markdown", "intro"), ("code", source)])
    with pytest.raises(InputError) as e:
        read_pep723(nb, tmp_path / "a.ipynb")
    assert "malformed TOML" in e.value.message
    assert "cell 2" in e.value.message
    assert "a.ipynb" in e.value.message
    assert "of the cell" in e.value.hint
    assert e.value.path == tmp_path / "a.ipynb"


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('dependencies = "numpy"', "dependencies"),
        ('requires-python = "new"', "requires-python"),
        ('[tool.uv]\nexclude-newer = "soon"', "exclude-newer"),
        ("[tool.uv]\nextra-index-url = 3", "extra-index-url"),
        ("[[tool.uv.index]]\nname = 'x'", "tool.uv.index"),
        ('dependencies = ["ok", "not ok!"]', "not a valid requirement"),
    ],
)
def test_bad_block_values(tmp_path, toml, words):
    block = "# /// script\n" + "".join(f"# {line}\n" for line in toml.splitlines()) + "# ///\n"
    with pytest.raises(InputError) as e:
        read_pep723(notebook([("code", block)]), tmp_path / "a.ipynb")
    assert words in e.value.message
    assert e.value.path == tmp_path / "a.ipynb"


def test_uv_index_settings(tmp_path):
    toml = [
        "dependencies = []",
        "[tool.uv]",
        'index-url = "https://mirror.example/simple"',
        'extra-index-url = ["https://extra.example/simple"]',
        'prerelease = "allow"',
        'sources = { x = { git = "https://example.org/x" } }',
        "[[tool.uv.index]]",
        'url = "https://more.example/simple"',
        "[[tool.uv.index]]",
        'url = "https://explicit.example/simple"',
        "explicit = true",
    ]
    block = "# /// script\n" + "".join(f"# {line}\n" for line in toml) + "# ///\n"
    c = read_pep723(notebook([("code", block)]), tmp_path / "a.ipynb")
    assert c.index_options == [
        "--index-url https://mirror.example/simple",
        "--extra-index-url https://extra.example/simple",
        "--extra-index-url https://more.example/simple",
        "--prerelease allow",
    ]
    assert c.provides() == ("packages.pypi",)
    assert any("explicit uv index" in n for n in c.notes)
    assert any("ignored [tool.uv] settings" in n and "sources" in n for n in c.notes)


# --- Manifest wrappers ---------------------------------------------------------------------


def test_manifest_wrappers_read_from_a_path(save, tmp_path, unchanged):
    nb = notebook([("code", SCRIPT)], orbit={"kernel": "python", "python": "3.11"})
    path = save(nb)
    with unchanged(tmp_path):
        meta = NotebookMetadata().read(path, root=tmp_path)
        block = Pep723Block().read(path, root=tmp_path)
    assert (meta.level, meta.kernel, meta.python) == (Level.NOTEBOOK, "python", "3.11")
    assert (block.level, block.python) == (Level.PEP723, ">=3.12")
    again = NotebookMetadata().read(path, root=tmp_path, level=Level.COMMAND_LINE)
    assert again.level is Level.COMMAND_LINE


def test_wrappers_report_bad_files(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text("not json")
    for reader in (NotebookMetadata(), Pep723Block()):
        with pytest.raises(InputError) as e:
            reader.read(path, root=tmp_path)
        assert e.value.path == path
