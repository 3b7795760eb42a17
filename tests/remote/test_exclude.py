"""What a sync leaves behind: Orbit's rules (secrets, version control, local environments),
then the project's .orbitignore, each with its reason."""

from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.remote.exclude import Rules, read_ignore_file


@pytest.mark.parametrize(
    ("path", "is_dir", "reason"),
    [
        (".git", True, "version control"),
        ("sub/.hg", True, "version control"),
        (".env", False, "secret"),
        (".env.local", False, "secret"),
        ("config/prod.env", False, "secret"),
        ("keys/id_ed25519", False, "secret"),
        ("keys/id_rsa.pub", False, "secret"),
        ("tls/server.pem", False, "secret"),
        ("tls/server.key", False, "secret"),
        (".ssh", True, "secret"),
        (".netrc", False, "secret"),
        (".venv", True, "local environment or cache"),
        ("web/node_modules", True, "local environment or cache"),
        ("pkg/__pycache__", True, "local environment or cache"),
        (".ipynb_checkpoints", True, "local environment or cache"),
    ],
)
def test_orbit_rules(path, is_dir, reason):
    assert Rules().reason(path, is_dir=is_dir) == reason


@pytest.mark.parametrize(
    "path", ["nb.ipynb", "data/x.csv", "environment.yml", "src/keyboard.py", "venv.md", "envoy.py"]
)
def test_ordinary_files_are_synced(path):
    assert Rules().reason(path) is None


def test_project_patterns_exclude_more_never_less():
    rules = Rules(["data/*.parquet", "!data/small.parquet", "scratch/", "!.env"])
    assert rules.reason("data/big.parquet") == ".orbitignore: data/*.parquet"
    assert rules.reason("data/small.parquet") is None
    assert rules.reason("scratch", is_dir=True) == ".orbitignore: scratch/"
    assert rules.reason(".env") == "secret"  # a project cannot un-exclude a secret


def test_orbitignore_is_read_from_the_project_root(tmp_path: Path):
    (tmp_path / ".orbitignore").write_text("# results stay here\n\nout/\n*.tmp\n")
    assert read_ignore_file(tmp_path) == ["out/", "*.tmp"]
    rules = Rules.for_project(tmp_path)
    assert rules.reason("a/b.tmp") == ".orbitignore: *.tmp"
    assert rules.reason("out", is_dir=True) == ".orbitignore: out/"


def test_a_huge_or_odd_orbitignore_is_refused(tmp_path: Path):
    (tmp_path / ".orbitignore").write_text("x\n" * 40000)
    with pytest.raises(InputError) as e:
        read_ignore_file(tmp_path)
    assert e.value.path == tmp_path / ".orbitignore"
    (tmp_path / ".orbitignore").unlink()
    (tmp_path / ".orbitignore").symlink_to("/etc/passwd")
    assert read_ignore_file(tmp_path) == []  # a link is not read
