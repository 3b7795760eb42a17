"""orbit publish --binder: repo2docker's files for the project's environment (golden files), read
back with Orbit's own readers to the same environment ids; nothing overwritten unasked."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress
from jupyter_orbit.publish.binder import write_binder
from jupyter_orbit.publish.project import collect
from tests.conftest import make_notebook, snapshot
from tests.support import gitrepo
from tests.support.golden import golden_in

golden = golden_in(Path(__file__).parent / "golden")
STAMP = {"orbit": {"as_of": "2025-06-01"}}


def publish_binder(tmp_path: Path, root: Path, dest: Path, **kw):
    paths = Paths(tmp_path / "orbit-home")
    project = collect(paths, root, until="resolve")
    from jupyter_orbit.prepare import Consent

    out = write_binder(paths, project, dest, consent=Consent(), progress=NullProgress(), **kw)
    return project, out


def binder_text(dest: Path) -> str:
    files = sorted((dest / "binder").iterdir())
    return "".join(f"== {p.name}\n{p.read_text()}" for p in files)


def test_a_pip_project_reads_back_to_the_same_environments(tmp_path: Path):
    root = tmp_path / "paper"
    root.mkdir()
    (root / "requirements.txt").write_text("numpy>=1.26\npandas==2.2.*\n")
    (root / "apt.txt").write_text("graphviz\n")
    make_notebook(root / "analysis.ipynb", "import pandas", metadata=STAMP)
    make_notebook(root / "plots" / "fig.ipynb", "import numpy", metadata=STAMP)
    (root / ".env").write_text("TOKEN=secret\n")
    dest = tmp_path / "repo"
    project, out = publish_binder(tmp_path, root, dest)
    golden("binder-pip.txt", binder_text(dest))
    assert (dest / "analysis.ipynb").read_bytes() == (root / "analysis.ipynb").read_bytes()
    assert not (dest / ".env").exists()
    assert "left out of the copy: .env" in out.notes
    # Orbit's readers, on the written repository: the same environment for every notebook.
    assert {k: v for k, v in out.env_ids.items() if k != "."} == project.notebooks
    assert not [n for n in out.notes if "read back as" in n]


def test_a_project_keeping_its_packages_in_environment_yml_gets_one(tmp_path: Path):
    root = tmp_path / "climate"
    root.mkdir()
    (root / "environment.yml").write_text(
        "name: climate\nchannels: [conda-forge]\ndependencies:\n"
        "  - python=3.11\n  - netcdf4\n  - pip\n  - pip:\n      - xarray>=2024.1\n"
    )
    make_notebook(root / "sst.ipynb", "import xarray", metadata=STAMP)
    project, out = publish_binder(tmp_path, root, tmp_path / "repo")
    golden("binder-conda.txt", binder_text(tmp_path / "repo"))
    assert out.env_ids["sst.ipynb"] == project.notebooks["sst.ipynb"]


def test_written_into_the_project_itself_and_never_over_other_files(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("six\n")
    make_notebook(root / "nb.ipynb", "import six", metadata=STAMP)
    project, out = publish_binder(tmp_path, root, root)
    assert sorted(Path(p).name for p in out.written) == ["requirements.txt", "runtime.txt"]
    assert out.env_ids["nb.ipynb"] == project.notebooks["nb.ipynb"]  # binder/ now wins, same id
    _, again = publish_binder(tmp_path, root, root)
    assert again.written == [] and len(again.unchanged) == 2
    mine = (root / "binder" / "requirements.txt").read_text() + "# my note\n"
    (root / "binder" / "requirements.txt").write_text(mine)
    before = snapshot(root)
    with pytest.raises(InputError, match="will not overwrite") as err:
        publish_binder(tmp_path, root, root)
    assert "--force" in err.value.hint and snapshot(root) == before
    _, forced = publish_binder(tmp_path, root, root, force=True)
    assert [Path(p).name for p in forced.written] == ["requirements.txt"]


def test_what_binder_cannot_reproduce_is_said(tmp_path: Path):
    root = gitrepo.init(tmp_path / "dated")
    (root / "requirements.txt").write_text("six\n")
    make_notebook(root / "own.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["idna"]}}})
    make_notebook(root / "plain.ipynb", "import six")  # no stamp: dated by git
    gitrepo.commit_all(root, "2024-03-01T12:00:00Z")
    _, out = publish_binder(tmp_path, root, tmp_path / "copy")
    notes = "\n".join(out.notes)
    assert "own.ipynb declares packages of its own in the notebook" in notes
    # The copy has no git history: its date is another, and the note says how to carry it.
    assert "plain.ipynb: read back as environment" in notes and "orbit stamp" in notes


def test_pin_writes_the_exact_versions_the_image_resolved(
    tmp_path: Path, docker_client, docker_base: str
):
    """--pin: the project's environment is built (its kernel image, as of a fixed date) and
    Binder gets its exact versions; Orbit says it reads those as another environment."""
    from jupyter_orbit.prepare import Consent

    root = tmp_path / "pinned"
    root.mkdir()
    (root / "requirements.txt").write_text("attrs\n")
    paths = Paths(tmp_path / "orbit-home")
    project = collect(paths, root, as_of="2025-06-01", until="resolve")
    out = write_binder(
        paths, project, tmp_path / "repo", pin=True, consent=Consent(yes=True),
        progress=NullProgress(),
    )  # fmt: skip
    pins = (tmp_path / "repo" / "binder" / "requirements.txt").read_text().splitlines()
    assert pins[0].endswith("resolved as of 2025-06-01T00:00:00Z")
    assert "attrs==25.3.0" in pins  # the newest attrs on 2025-06-01
    assert all("==" in line for line in pins[1:])
    assert any("reads the pinned binder/requirements.txt" in n for n in out.notes)
