"""Precedence: notebook metadata > PEP 723 > nearest project files > profile default."""

from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Level
from jupyter_orbit.resolve import resolve
from tests.conftest import make_notebook

PEP723 = '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["rich"]\n# ///\n'


def pypi(res) -> list[str]:
    return [r.text for r in res.spec.declared("pypi")]


def ignored(res) -> dict[str, str]:
    return {i.path.name: i.reason for i in res.ignored}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements.txt").write_text("# data tools\nnumpy>=1.26  # fast arrays\npandas\n")
    (tmp_path / "runtime.txt").write_text("python-3.10\n")
    (tmp_path / "apt.txt").write_text("graphviz\n")
    return tmp_path


def test_project_files_and_default(project: Path):
    nb = make_notebook(project / "nb" / "a.ipynb", "1")
    res = resolve(nb, default_python="3.11")
    assert pypi(res) == ["numpy>=1.26", "pandas"]
    assert res.spec.python == "3.10"  # runtime.txt beats the profile default
    assert [r.text for r in res.spec.packages("apt")] == ["graphviz"]
    assert res.project_root == project and res.project_dir == project
    req = next(r for r in res.spec.requirements if r.name == "numpy")
    assert (
        str(req.origin) == f"{project / 'requirements.txt'}:2" and req.origin.level is Level.PROJECT
    )
    assert "ipykernel" in [r.name for r in res.spec.packages("pypi")]  # the recipe's own


def test_pep723_beats_project_and_reports_what_it_overrides(project: Path):
    nb = make_notebook(project / "a.ipynb", PEP723 + "import rich")
    res = resolve(nb, default_python="3.11")
    assert pypi(res) == ["rich"]
    assert res.spec.python == ">=3.10"
    assert "packages.pypi" in ignored(res)["requirements.txt"]
    assert "python" in ignored(res)["runtime.txt"]
    assert [r.text for r in res.spec.packages("apt")] == ["graphviz"]  # not overridden
    kinds = {s.kind: s.level for s in res.sources}
    assert kinds["pep723"] is Level.PEP723 and kinds["apt.txt"] is Level.PROJECT


def test_metadata_beats_pep723(project: Path):
    meta = {"orbit": {"schema": 1, "python": "3.12", "packages": {"pypi": ["six==1.16.0"]}}}
    nb = make_notebook(project / "a.ipynb", PEP723, metadata=meta)
    res = resolve(nb, default_python="3.11")
    assert pypi(res) == ["six==1.16.0"]
    assert res.spec.python == "3.12"
    [entry] = [i for i in res.ignored if i.path == nb]
    assert entry.reason.startswith("pep723:")
    assert "packages.pypi from metadata.orbit" in entry.reason and "python from" in entry.reason


def test_command_line_python_wins(project: Path):
    meta = {"orbit": {"python": "3.12"}}
    nb = make_notebook(project / "a.ipynb", "1", metadata=meta)
    assert resolve(nb, python="3.13", default_python="3.11").spec.python == "3.13"


def test_binder_folder_wins_over_root_files(project: Path):
    (project / "binder").mkdir()
    (project / "binder" / "requirements.txt").write_text("scipy\n")
    nb = make_notebook(project / "notebooks" / "a.ipynb", "1")
    res = resolve(nb, default_python="3.11")
    assert pypi(res) == ["scipy"]
    assert res.project_dir == project / "binder"
    assert "binder/ folder takes precedence" in ignored(res)["requirements.txt"]
    assert res.spec.python == "3.11"  # root runtime.txt ignored too


def test_both_binder_folders_is_an_error(project: Path):
    (project / "binder").mkdir()
    (project / ".binder").mkdir()
    nb = make_notebook(project / "a.ipynb", "1")
    with pytest.raises(InputError, match=r"both binder/ and \.binder/"):
        resolve(nb, default_python="3.11")


def test_nearest_folder_wins(project: Path):
    (project / "sub").mkdir()
    (project / "sub" / "requirements.txt").write_text("six\n")
    nb = make_notebook(project / "sub" / "a.ipynb", "1")
    res = resolve(nb, default_python="3.11")
    assert pypi(res) == ["six"]
    assert "nearer folder" in ignored(res)["requirements.txt"]
    assert "nearer folder" in ignored(res)["apt.txt"]


def test_environment_yml_beats_requirements(project: Path):
    (project / "environment.yml").write_text(
        "name: demo\nchannels: [conda-forge]\ndependencies:\n  - python=3.9\n  - matplotlib-base\n"
        "  - pip:\n    - six\n"
    )
    nb = make_notebook(project / "a.ipynb", "1")
    res = resolve(nb, default_python="3.11")
    assert sorted(pypi(res)) == ["matplotlib", "six"]
    assert res.spec.python == "3.9"
    assert "packages.pypi" in ignored(res)["requirements.txt"]
    assert any("PyPI" in n for n in res.notes)


def test_pyproject_and_requirements_are_read_together(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["idna>=3"]\n'
    )
    res = resolve(tmp_path, default_python="3.11")
    assert sorted(pypi(res)) == ["idna>=3", "six"]


def test_unread_repo2docker_files_are_reported(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "postBuild").write_text("#!/bin/sh\n")
    res = resolve(tmp_path, default_python="3.11")
    assert "postBuild" in ignored(res)


def test_folder_without_anything_uses_profile_default(tmp_path: Path):
    res = resolve(tmp_path, default_python="3.11")
    assert pypi(res) == [] and res.spec.python == "3.11"
    assert [s.kind for s in res.sources] == ["profile default"]


def test_missing_path(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        resolve(tmp_path / "nope.ipynb", default_python="3.11")


def test_same_packages_same_environment(tmp_path: Path):
    a = make_notebook(
        tmp_path / "a" / "x.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["Six"]}}}
    )
    b = make_notebook(
        tmp_path / "b" / "y.ipynb", "2", metadata={"orbit": {"packages": {"pypi": ["six"]}}}
    )
    assert (
        resolve(a, default_python="3.11").spec.env_id
        == resolve(b, default_python="3.11").spec.env_id
    )


def test_index_options_are_source_changing(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("--index-url https://mirror.example/simple\nsix\n")
    res = resolve(tmp_path, default_python="3.11")
    assert res.source_changing == ("--index-url https://mirror.example/simple",)
    (tmp_path / "requirements.txt").write_text("--pre\nsix\n")
    assert resolve(tmp_path, default_python="3.11").source_changing == ()


# -- repo2docker's rules for the Python (docs/binder-rules.md) ---------------------------------


def _python(tmp_path: Path, files: dict[str, str], folder: str = "") -> tuple[str | None, str]:
    (tmp_path / ".git").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / folder / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / name).write_text(text)
    res = resolve(make_notebook(tmp_path / "nb.ipynb", "1"), default_python="3.11")
    return res.spec.python, " ".join(res.notes)


PYPROJECT = '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.11"\ndependencies = []\n'
PIPFILE = '[packages]\nsix = "*"\n\n[requires]\npython_full_version = "3.6.15"\n'


def test_runtime_txt_beats_requires_python(tmp_path: Path):
    python, notes = _python(
        tmp_path,
        {"pyproject.toml": PYPROJECT, "runtime.txt": "python-3.10\n", "requirements.txt": "six\n"},
    )
    assert python == "3.10"
    assert "pyproject.toml: its Python (>=3.11) is not used: runtime.txt beats requires-python" in (
        notes
    )


def test_requires_python_counts_without_runtime_txt(tmp_path: Path):
    assert _python(tmp_path, {"pyproject.toml": PYPROJECT})[0] == ">=3.11"


def test_requires_python_is_not_read_in_a_binder_folder(tmp_path: Path):
    python, notes = _python(tmp_path, {"pyproject.toml": PYPROJECT}, folder="binder")
    assert python == "3.11"  # the profile's default, to be fitted
    assert "only from a pyproject.toml outside binder/" in notes


def test_pipfile_full_version_means_major_minor(tmp_path: Path):
    assert _python(tmp_path, {"Pipfile": PIPFILE})[0] == "3.6"


def test_pipfile_lock_python_comes_first(tmp_path: Path):
    lock = '{"_meta": {"requires": {"python_version": "3.7"}}, "default": {}, "develop": {}}'
    assert _python(tmp_path, {"Pipfile": PIPFILE, "Pipfile.lock": lock})[0] == "3.7"


@pytest.mark.parametrize(
    ("other", "text", "python"),
    [
        ("Pipfile", PIPFILE, "3.6"),
        ("environment.yml", "dependencies:\n  - python=3.8\n  - six\n", "3.8"),
        ("environment.yml", "dependencies:\n  - six\n", "3.11"),  # the default: fitted later
    ],
)
def test_runtime_txt_is_ignored_beside_pipfile_and_environment_yml(
    tmp_path: Path, other, text, python
):
    got, notes = _python(tmp_path, {other: text, "runtime.txt": "python-3.10.4\n"})
    assert got == python
    assert f"runtime.txt: its Python (3.10) is not used: repo2docker builds {other}" in notes


def test_runtime_txt_keeps_major_minor_and_r_dates_are_told(tmp_path: Path):
    python, notes = _python(tmp_path, {"runtime.txt": "python-3.10.4\n"})
    assert (python, "python-3.10.4 means Python 3.10" in notes) == ("3.10", True)
    python, notes = _python(tmp_path, {"runtime.txt": "r-4.1-2021-10-22\n"})
    assert python == "3.11" and "R 4.1 with CRAN's packages as of 2021-10-22" in notes


def test_post_build_and_start_are_reported_as_not_run(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "binder").mkdir()
    for name in ("postBuild", "start", "requirements.txt"):
        (tmp_path / "binder" / name).write_text("six\n" if name.endswith("txt") else "#!/bin/sh\n")
    res = resolve(make_notebook(tmp_path / "nb.ipynb", "1"), default_python="3.11")
    assert "build scripts are not run" in ignored(res)["postBuild"]
    assert "start scripts are not run" in ignored(res)["start"]
