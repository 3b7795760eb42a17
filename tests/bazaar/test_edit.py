"""orbit add / remove through the real CLI against a local index: the right file is chosen,
only the package's line changes, and every bad input leaves every file byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_notebook, snapshot
from tests.support.indexes import IndexedOrbit

pytestmark = pytest.mark.integration

REQS = "# pinned for the paper\r\norbit-bz-beta==1.0   # keep\r\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "requirements.txt").write_bytes(REQS.encode())
    make_notebook(root / "nb.ipynb", "print(1)")
    return root


def test_add_edits_requirements_txt_line_by_line(orbit_idx: IndexedOrbit, project: Path):
    r = orbit_idx.run("add", "orbit-bz-alpha>=1", "--to", str(project))
    assert r.returncode == 0, r.stderr
    assert "added orbit-bz-alpha>=1 (pypi) in" in r.stdout and "requirements.txt" in r.stdout
    assert "orbit-bz-alpha==1.0" in r.stdout  # what it resolves to
    assert (project / "requirements.txt").read_bytes() == (REQS + "orbit-bz-alpha>=1\r\n").encode()
    env = json.loads(orbit_idx.run("env", str(project / "nb.ipynb"), "--json").stdout)
    assert "orbit-bz-alpha>=1" in [q["requirement"] for q in env["requirements"]]

    r = orbit_idx.run("remove", "orbit-bz-beta", "--to", str(project))
    assert r.returncode == 0, r.stderr
    assert (project / "requirements.txt").read_bytes() == (
        b"# pinned for the paper\r\norbit-bz-alpha>=1\r\n"
    )


def test_pyproject_wins_then_environment_pip_list(orbit_idx: IndexedOrbit, tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("orbit-bz-beta\n")
    pyproject = "[project]\nname = 'x'\ndependencies = [\n  'orbit-bz-beta',  # b\n]\n"
    (root / "pyproject.toml").write_text(pyproject)
    assert orbit_idx.run("add", "orbit-bz-tools", "--to", str(root)).returncode == 0
    assert (root / "pyproject.toml").read_text() == pyproject.replace(
        "  # b\n]", "  # b\n  'orbit-bz-tools',\n]"
    )
    assert (root / "requirements.txt").read_text() == "orbit-bz-beta\n"

    conda = tmp_path / "c"
    conda.mkdir()
    yml = "name: c\ndependencies:\n  - python=3.11\n  - pip:\n    - orbit-bz-beta  # b\n"
    (conda / "environment.yml").write_text(yml)
    r = orbit_idx.run("add", "orbit-bz-tools", "--to", str(conda))
    assert r.returncode == 0, r.stderr
    assert (conda / "environment.yml").read_text() == yml + "    - orbit-bz-tools\n"


def test_notebook_target_seeds_from_project_and_syncs_pep723(
    orbit_idx: IndexedOrbit, project: Path
):
    block = '# /// script\n# dependencies = [\n#   "orbit-bz-beta==1.0",  # keep\n# ]\n# ///'
    nb = make_notebook(project / "juv.ipynb", block, "print(2)")
    r = orbit_idx.run("add", "orbit-bz-alpha", "--to", str(nb))
    assert r.returncode == 0, r.stderr
    data = json.loads(nb.read_text())
    assert data["metadata"]["orbit"]["packages"]["pypi"] == ["orbit-bz-beta==1.0", "orbit-bz-alpha"]
    cell = "".join(data["cells"][0]["source"])
    assert '#   "orbit-bz-beta==1.0",  # keep\n' in cell and '"orbit-bz-alpha"' in cell
    assert (project / "requirements.txt").read_bytes() == REQS.encode()  # project untouched


def test_a_notebook_that_reads_project_files_gets_the_package_there(
    orbit_idx: IndexedOrbit, project: Path
):
    plain = project / "nb.ipynb"
    before = plain.read_bytes()
    r = orbit_idx.run("add", "orbit-bz-tools", "--to", str(plain))
    assert r.returncode == 0, r.stderr
    assert plain.read_bytes() == before  # the requirements.txt it reads still applies
    assert (project / "requirements.txt").read_bytes() == (REQS + "orbit-bz-tools\r\n").encode()
    assert "nb.ipynb reads its pypi packages from requirements.txt" in r.stderr
    assert "--to-notebook" in r.stderr
    env = json.loads(orbit_idx.run("env", str(plain), "--json").stdout)
    assert not env["ignored"] and "orbit-bz-tools" in json.dumps(env["spec"])

    # asked for: the notebook lists packages of its own, copied from the project, and says so
    r = orbit_idx.run("add", "orbit-bz-alpha", "--to", str(plain), "--to-notebook")
    assert r.returncode == 0, r.stderr
    pkgs = json.loads(plain.read_text())["metadata"]["orbit"]["packages"]["pypi"]
    assert pkgs == ["orbit-bz-beta==1.0", "orbit-bz-tools", "orbit-bz-alpha"]
    assert "copied from requirements.txt" in r.stderr and "no longer reads them" in r.stderr


def test_a_project_file_orbit_cannot_write_is_named_and_nothing_changes(
    orbit_idx: IndexedOrbit, tmp_path: Path
):
    root = tmp_path / "pipenv"
    (root / ".git").mkdir(parents=True)
    (root / "Pipfile").write_text('[packages]\norbit-bz-beta = "==1.0"\n')
    nb = make_notebook(root / "nb.ipynb", "1")
    before = snapshot(root)
    r = orbit_idx.run("add", "orbit-bz-alpha", "--to", str(nb))
    assert r.returncode == 2, r.stderr
    assert "nb.ipynb reads its pypi packages from Pipfile" in r.stderr
    assert "--to-notebook" in r.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["orbit-bz-nonexistent"], "no package named 'orbit-bz-nonexistent'", 2),
        (["orbit-bz-alpha>>1"], "not a valid requirement", 2),
        (["orbit-bz-alpha>5"], "cannot install", 2),
        (["orbit-bz-gamma"], "cannot install", 2),  # needs beta<2; the project pins 2.0
        (["orbit-bz-alpha", "--in", "cargo"], "unknown ecosystem 'cargo'", 2),
        (["pypi:orbit-bz-alpha", "npm:lodash"], "several ecosystems", 2),
        (["orbit-bz-alpha", "--file", "environment.yml"], "several ecosystems", 2),
        (["orbit-bz-alpha", "--file", "notes.md"], "does not know which packages", 2),
        (["orbit-bz-alpha", "orbit-bz-alpha==1.0"], "named twice", 2),
    ],
)
def test_bad_input_changes_nothing(orbit_idx: IndexedOrbit, project, args, message, code):
    (project / "environment.yml").write_text("dependencies:\n  - pip:\n    - orbit-bz-beta==2.0\n")
    (project / "notes.md").write_text("# notes\n")
    before = snapshot(project)
    r = orbit_idx.run("add", *args, "--to", str(project / "nb.ipynb"))
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert "hint:" in r.stderr
    assert snapshot(project) == before


def test_remove_of_missing_name_and_dry_run_change_nothing(orbit_idx: IndexedOrbit, project):
    before = snapshot(project)
    r = orbit_idx.run("remove", "orbit-bz-alpha", "--to", str(project))
    assert r.returncode == 2 and "orbit-bz-alpha is not listed in requirements.txt" in r.stderr
    r = orbit_idx.run("add", "orbit-bz-alpha", "--to", str(project), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "+orbit-bz-alpha\n" in r.stdout and "would have added" in r.stderr
    assert snapshot(project) == before


def test_apt_and_npm_files(orbit_idx: IndexedOrbit, tmp_path: Path):
    """apt.txt and package.json are created when missing; names are checked against the apt
    cache and the npm registry (skipped where this machine cannot reach them)."""
    import shutil

    root = tmp_path / "sys"
    root.mkdir()
    if shutil.which("apt-cache") and list(Path("/var/lib/apt/lists").glob("*Packages*")):
        r = orbit_idx.run("add", "apt:graphviz", "--to", str(root))
        assert r.returncode == 0, r.stderr
        assert (root / "apt.txt").read_text() == "graphviz\n"
        before = snapshot(root)
        r = orbit_idx.run("add", "apt:orbit-no-such-debian-package", "--to", str(root))
        assert r.returncode == 2 and "no Debian package named" in r.stderr
        assert snapshot(root) == before
    else:
        print("skipped apt: no apt lists on this machine (run apt-get update)")
    r = orbit_idx.run("add", "npm:lodash@^4", "--to", str(root))
    if r.returncode != 0 and "did not answer" in r.stderr:
        pytest.skip(f"npm registry unreachable: {r.stderr}")
    assert r.returncode == 0, r.stderr
    assert json.loads((root / "package.json").read_text())["dependencies"] == {"lodash": "^4"}
    before = snapshot(root)
    r = orbit_idx.run("add", "npm:orbit-no-such-npm-package-xyz", "--to", str(root))
    assert r.returncode == 2 and "no package named" in r.stderr, r.stderr
    r = orbit_idx.run("add", "npm:lodash@^99", "--to", str(root))
    assert r.returncode == 2 and "no published version" in r.stderr, r.stderr
    assert snapshot(root) == before
