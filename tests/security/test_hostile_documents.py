"""Hostile YAML, TOML and JSON in a project or a notebook: alias bombs, ten thousand levels of
nesting, 100 MB documents, FIFOs and devices, duplicate keys, NaN.

Each is refused with an ``InputError`` naming the file (never ``RecursionError``, a hang, or
memory spent on a document no project has), before anything is built.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_orbit.bazaar import edit
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.notebook import load_notebook
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, prepare
from tests.conftest import make_notebook

DEEP = 10_000


def resolve(tmp_path: Path, files: dict[str, str | bytes], notebook: bool = True):
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    for name, content in files.items():
        target = root / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    target = make_notebook(root / "nb.ipynb", "1") if notebook else root
    if "nb.ipynb" in files:
        target = root / "nb.ipynb"
    return prepare(target, Choices(), Paths(tmp_path / "home"), until="resolve")


def refused(tmp_path: Path, files: dict[str, str | bytes], *words: str) -> InputError:
    with pytest.raises(InputError) as e:
        resolve(tmp_path, files)
    text = str(e.value)
    for word in words:
        assert word in text, text
    return e.value


# -- ten thousand levels of nesting -----------------------------------------------------------

NESTED = {
    "requirements via pyproject.toml": (
        "pyproject.toml",
        '[project]\nname = "x"\ndependencies = []\nx = ' + "[" * DEEP + "]" * DEEP + "\n",
    ),
    "pyproject.toml inline tables": (
        "pyproject.toml",
        "[project]\nx = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
    ),
    "Pipfile": ("Pipfile", '[packages]\nsix = "*"\n[x]\ny = ' + "[" * DEEP + "]" * DEEP + "\n"),
    "environment.yml flow": (
        "environment.yml",
        "dependencies:\n  - " + "[" * DEEP + "]" * DEEP + "\n",
    ),
    "environment.yml block": (
        "environment.yml",
        "dependencies:\n  " + "- " * DEEP + "six\n",  # compact nested block sequences
    ),
}


@pytest.mark.parametrize("case", list(NESTED))
def test_ten_thousand_levels_are_refused(tmp_path: Path, case: str):
    name, text = NESTED[case]
    start = time.process_time()
    err = refused(tmp_path, {name: text}, name)
    assert "nested" in err.message or "malformed" in err.message, err.message
    assert time.process_time() - start < 60  # a sanity bound, not a measurement


def test_nesting_in_notebook_metadata_is_refused(tmp_path: Path):
    nb = tmp_path / "nb.ipynb"
    deep = "[" * DEEP + "]" * DEEP
    nb.write_text(
        f'{{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {{"x": {deep}}}}}'
    )
    with pytest.raises(InputError, match="nested more than"):
        load_notebook(nb)
    shallow = "[" * 100 + "]" * 100  # deeper than any real metadata, still parseable
    nb.write_text(
        f'{{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {{"x": {shallow}}}}}'
    )
    with pytest.raises(InputError, match=r"metadata of nb\.ipynb is nested more than 64"):
        load_notebook(nb)


def test_nesting_in_a_pep723_block_is_refused(tmp_path: Path):
    block = "# /// script\n# x = " + "[" * DEEP + "]" * DEEP + "\n# ///\n"
    nb = make_notebook(tmp_path / "nb.ipynb", block)
    with pytest.raises(InputError, match="nested"):
        prepare(nb, Choices(), Paths(tmp_path / "home"), until="resolve")


# -- alias bombs ------------------------------------------------------------------------------

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    "where",
    ["dependencies: *i\n", "dependencies:\n  - pip: *i\n", "channels: *i\ndependencies: []\n"],
)
def test_a_yaml_alias_bomb_is_not_expanded(tmp_path: Path, where: str):
    """Nine levels of nine aliases: 387 million strings if anything walked it expanded."""
    start = time.process_time()
    refused(tmp_path, {"environment.yml": LAUGHS + where}, "environment.yml")
    assert time.process_time() - start < 30


# -- sizes, FIFOs, devices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["requirements.txt", "pyproject.toml", "environment.yml", "Pipfile"]
)
def test_a_100_mb_project_file_is_refused_before_it_is_read(tmp_path: Path, name: str):
    root = tmp_path / "proj"
    root.mkdir()
    with (root / name).open("wb") as f:  # sparse: 100 MB that costs no disk
        f.truncate(100 * 2**20)
    refused(tmp_path, {}, name, "reads at most")


def _add_npm(tmp_path: Path, package_json: str | None = None) -> InputError:
    """`orbit add npm:…` reads the project's package.json (Orbit writes it, reads it to edit)."""
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    if package_json is not None:
        (root / "package.json").write_text(package_json)
    with pytest.raises(InputError) as e:
        edit.plan(Paths(tmp_path / "home"), root, ["npm:left-pad@1.3.0"])
    return e.value


def test_hostile_package_json(tmp_path: Path):
    deep = '{"dependencies": {}, "x": ' + "[" * DEEP + "]" * DEEP + "}"
    assert "nested" in _add_npm(tmp_path, deep).message
    dup = '{"dependencies": {"left-pad": "1.3.0", "left-pad": "file:/etc"}}'
    assert "package.json.dependencies.left-pad is given twice" in _add_npm(tmp_path, dup).message
    (tmp_path / "proj" / "package.json").unlink()
    with (tmp_path / "proj" / "package.json").open("wb") as f:
        f.truncate(100 * 2**20)
    assert "reads at most" in _add_npm(tmp_path).message


def test_an_oversized_notebook_is_refused_before_it_is_read(tmp_path: Path):
    nb = tmp_path / "nb.ipynb"
    with nb.open("wb") as f:
        f.truncate(300 * 2**20)
    with pytest.raises(InputError, match="reads at most"):
        load_notebook(nb)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-random"])
def test_special_files_as_project_files_are_never_read(tmp_path: Path, kind: str):
    """A FIFO (a read would wait for a writer forever) or a device (a read never ends) named
    like a project file: resolving passes it by; naming it to `orbit add --file` is refused."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    target = root / "requirements.txt"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero" if kind == "dev-zero" else "/dev/urandom")
    nb = make_notebook(root / "nb.ipynb", "1")
    res = prepare(nb, Choices(), Paths(tmp_path / "home"), until="resolve").resolution
    assert not res.spec.declared()
    # refused unread: as a FIFO, or (the link followed) as a device no format names
    with pytest.raises(InputError, match=r"not a regular file|does not know which packages"):
        edit.plan(Paths(tmp_path / "home"), root, ["six"], file=target)


@pytest.mark.integration
def test_a_real_100_mb_notebook_reads_in_bounded_memory(tmp_path: Path):
    """A notebook with 100 MB of output is a real thing: it is read (its environment
    resolved) in a process whose address space is capped at 2 GiB."""
    nb = make_notebook(tmp_path / "big.ipynb", "1", metadata={"orbit": {"as_of": "2025-06-01"}})
    data = json.loads(nb.read_text())
    data["cells"][0]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x" * (100 * 2**20)}
    ]
    nb.write_text(json.dumps(data))

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    env = {**os.environ, "ORBIT_HOME": str(tmp_path / "home")}
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", "env", str(nb), "--json"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["as_of"].startswith("2025-06-01")


# -- duplicate keys and NaN --------------------------------------------------------------------


def _nb_text(metadata: str) -> str:
    return f'{{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {metadata}}}'


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ('{"orbit": {"packages": {"pypi": ["six"]}}, "orbit": {}}', "metadata.orbit"),
        (
            '{"orbit": {"packages": {"pypi": ["six"], "pypi": ["evil"]}}}',
            "metadata.orbit.packages.pypi",
        ),
        ('{"orbit": {"as_of": "2025-06-01", "as_of": "2020-01-01"}}', "metadata.orbit.as_of"),
        ('{"kernelspec": {"name": "python3", "name": "bash"}}', "metadata.kernelspec.name"),
    ],
)
def test_duplicate_keys_in_notebook_metadata_are_refused_by_name(
    tmp_path: Path, metadata: str, key: str
):
    """Before: the last value silently won (so a reviewer reading the first saw another
    environment than the one built)."""
    nb = tmp_path / "nb.ipynb"
    nb.write_text(_nb_text(metadata))
    with pytest.raises(InputError) as e:
        load_notebook(nb)
    assert f"key {key} is given twice" in e.value.message


def test_duplicates_outside_the_metadata_do_not_block_a_notebook(tmp_path: Path):
    nb = tmp_path / "nb.ipynb"
    cell = '{"cell_type": "markdown", "metadata": {}, "source": "", "source": "x"}'
    nb.write_text(f'{{"cells": [{cell}], "nbformat": 4, "nbformat_minor": 5, "metadata": {{}}}}')
    assert load_notebook(nb)["cells"][0]["source"] == "x"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_notebook_metadata_is_refused(tmp_path: Path, constant: str):
    nb = tmp_path / "nb.ipynb"
    nb.write_text(_nb_text(f'{{"orbit": {{"schema": {constant}}}}}'))
    with pytest.raises(InputError, match=f"metadata.orbit.schema is {constant}"):
        load_notebook(nb)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        (
            "environment.yml",
            "dependencies:\n  - six\ndependencies:\n  - evil\n",
            ("environment.yml", "duplicate"),
        ),
        ("pyproject.toml", '[project]\nname = "a"\nname = "b"\n', ("pyproject.toml",)),
        ("Pipfile", '[packages]\nsix = "*"\nsix = "==1"\n', ("Pipfile",)),
    ],
)
def test_duplicate_keys_in_project_files_are_refused(tmp_path: Path, name, text, words):
    refused(tmp_path, {name: text}, *words)
