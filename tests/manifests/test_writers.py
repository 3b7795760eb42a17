"""Round-trip edits of every native file: only the lines of the packages added or removed
change; comments, order, quoting, indentation, BOMs and line endings of the rest stay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests import apt, conda_env, package_json, pyproject, requirements
from jupyter_orbit.manifests.notebook_edit import edit_packages, update_notebook
from jupyter_orbit.model import Requirement
from tests.conftest import make_notebook


def pypi(name: str, text: str | None = None) -> Requirement:
    return Requirement("pypi", name, text or name)


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines only in ``before`` and lines only in ``after`` (endings kept)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    return [x for x in a if x not in b], [x for x in b if x not in a]


REQUIREMENTS = """\ufeff# Analysis dependencies
--index-url https://pypi.org/simple   # the default, said out loud

numpy>=1.26  # arrays
Pandas [excel] == 2.2.*   # frames
\tscipy \\
    >=1.11
-r extra.txt
six --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000

"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_requirements_txt_round_trip(newline):
    text = REQUIREMENTS.replace("\n", newline)
    path = Path("requirements.txt")
    out = requirements.edit_text(
        text,
        path=path,
        add=[pypi("pandas", "pandas==2.3.*"), pypi("rich", "rich>=13")],
        remove=["scipy"],
    )
    gone, new = changed_lines(text, out)
    assert gone == [
        f"Pandas [excel] == 2.2.*   # frames{newline}",
        f"\tscipy \\{newline}",
        f"    >=1.11{newline}",
    ]
    # the replaced line keeps its trailing comment; the new one goes after the last content
    assert new == [f"pandas==2.3.*   # frames{newline}", f"rich>=13{newline}"]
    assert out.startswith("\ufeff# Analysis") and out.endswith(f"rich>=13{newline}{newline}")
    assert out.count("\r\n") == (out.count("\n") if newline == "\r\n" else 0)


def test_requirements_without_final_newline_and_missing_names():
    out = requirements.edit_text("numpy", path=Path("r.txt"), add=[pypi("six")])
    assert out == "numpy\nsix\n"
    with pytest.raises(InputError, match=r"nope is not listed in r\.txt"):
        requirements.edit_text("numpy\n", path=Path("r.txt"), remove=["nope"])


PYPROJECT = """[build-system]
requires = ["hatchling"]

[project]
name = 'demo'   # a literal string
dependencies = [
\t'numpy>=1.26',  # arrays
\t'pandas',
]
requires-python = ">=3.11"

[tool.ruff]
line-length = 100
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_pyproject_round_trip_keeps_quotes_tabs_comments(newline):
    text = PYPROJECT.replace("\n", newline)
    out = pyproject.edit_text(
        text,
        path=Path("pyproject.toml"),
        add=[pypi("numpy", "numpy>=2"), pypi("rich")],
        remove=["pandas"],
    )
    gone, new = changed_lines(text, out)
    assert gone == [f"\t'numpy>=1.26',  # arrays{newline}", f"\t'pandas',{newline}"]
    assert new == [f"\t'numpy>=2',  # arrays{newline}", f"\t'rich',{newline}"]


def test_pyproject_refuses_dynamic_and_missing_table():
    with pytest.raises(InputError, match="dynamic"):
        pyproject.edit_text(
            '[project]\nname = "x"\ndynamic = ["dependencies"]\n',
            path=Path("pyproject.toml"),
            add=[pypi("six")],
        )
    with pytest.raises(InputError, match=r"no \[project\] table"):
        pyproject.edit_text("[tool.x]\n", path=Path("pyproject.toml"), add=[pypi("six")])
    with pytest.raises(InputError, match="malformed TOML"):
        pyproject.edit_text("[project\n", path=Path("pyproject.toml"), add=[pypi("six")])


ENVIRONMENT = """name: analysis   # conda env
channels:
    - conda-forge
dependencies:
    -   python=3.11
    -   "numpy>=1.26"     # quoted on purpose
    -   pip
    -   pip:
          - requests==2.31   # http
          - 'six'
variables:
    A: 1
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_environment_yml_pip_list(newline):
    text = ENVIRONMENT.replace("\n", newline)
    out = conda_env.edit_text(
        text,
        path=Path("environment.yml"),
        section="pip",
        add=[pypi("six", "six==1.16"), pypi("httpx", "httpx>=0.27")],
        remove=["requests"],
    )
    gone, new = changed_lines(text, out)
    assert gone == [f"          - requests==2.31   # http{newline}", f"          - 'six'{newline}"]
    assert new == [f"          - 'six==1.16'{newline}", f"          - httpx>=0.27{newline}"]


def test_environment_yml_conda_list_and_new_pip_list():
    text = "dependencies:\n- numpy  # n\n- pandas\nchannels: [conda-forge]\n"
    out = conda_env.edit_text(
        text,
        path=Path("environment.yml"),
        section="conda",
        add=[Requirement("conda", "scipy", "scipy>=1.11")],
        remove=["pandas"],
    )
    assert out == "dependencies:\n- numpy  # n\n- scipy>=1.11\nchannels: [conda-forge]\n"
    out = conda_env.edit_text(text, path=Path("environment.yml"), section="pip", add=[pypi("rich")])
    assert out.startswith("dependencies:\n- numpy  # n\n- pandas\n- pip\n- pip:\n")
    assert "rich" in out and out.endswith("channels: [conda-forge]\n")


def test_environment_yml_unusual_layouts_are_refused():
    with pytest.raises(InputError, match="block list"):
        conda_env.edit_text(
            "dependencies: [numpy, pandas]\n",
            path=Path("environment.yml"),
            section="conda",
            add=[Requirement("conda", "six", "six")],
        )
    with pytest.raises(InputError, match="malformed YAML"):
        conda_env.edit_text("dependencies: [\n", path=Path("environment.yml"), add=[])


APT = "# system libraries\r\ngraphviz   # for dot\r\n\tffmpeg libsndfile1\r\n"


def test_apt_txt_round_trip():
    out = apt.edit_text(
        APT,
        path=Path("apt.txt"),
        add=[Requirement("apt", "ffmpeg", "ffmpeg=7:5.1"), Requirement("apt", "jq", "jq")],
        remove=["libsndfile1"],
    )
    assert out == "# system libraries\r\ngraphviz   # for dot\r\n\tffmpeg=7:5.1\r\njq\r\n"
    out = apt.edit_text(APT, path=Path("apt.txt"), remove=["graphviz"])
    assert out == "# system libraries\r\n\tffmpeg libsndfile1\r\n"


PACKAGE_JSON = """{
    "name": "demo",
    "version": "1.0.0",
    "scripts": {"build": "tsc"},
    "dependencies": {
        "d3": "^7.8.5",
        "lodash": "^4.17.21"
    },
    "devDependencies": {
        "typescript": "~5.4"
    }
}
"""


def test_package_json_is_written_as_npm_writes_it():
    canonical = json.dumps(json.loads(PACKAGE_JSON), indent=4) + "\n"  # npm's own layout
    out = package_json.edit_text(
        canonical,
        path=Path("package.json"),
        add=[
            Requirement("npm", "chart.js", "chart.js@^4"),
            Requirement("npm", "typescript", "typescript@~5.5"),
        ],
        remove=["lodash"],
    )
    gone, new = changed_lines(canonical, out)
    # JSON has no trailing commas: "d3" changes only by the comma it no longer needs
    assert sorted(gone) == [
        '        "d3": "^7.8.5",\n',
        '        "lodash": "^4.17.21"\n',
        '        "typescript": "~5.4"\n',
    ]
    assert sorted(new) == [
        '        "chart.js": "^4",\n',
        '        "d3": "^7.8.5"\n',
        '        "typescript": "~5.5"\n',
    ]
    data = json.loads(out)
    assert list(data["dependencies"]) == ["chart.js", "d3"]  # npm keeps them sorted


def test_notebook_metadata_and_pep723_block_stay_in_sync(tmp_path):
    block = (
        '# /// script\n# dependencies = [\n#     "numpy>=2",  # arrays\n# ]\n# ///\nimport numpy'
    )
    nb = make_notebook(tmp_path / "nb.ipynb", block, "print(1)")
    before = nb.read_text()

    def change(data):
        edit_packages(data, nb, "pypi", add=[pypi("rich", "rich>=13")], seed=["numpy>=2"])

    assert update_notebook(nb, change)
    data = json.loads(nb.read_text())
    assert data["metadata"]["orbit"]["packages"]["pypi"] == ["numpy>=2", "rich>=13"]
    cell = "".join(data["cells"][0]["source"])
    assert '"rich>=13"' in cell and "# arrays" in cell and cell.endswith("# ///\nimport numpy")
    gone, _ = changed_lines(before, nb.read_text())
    assert all("numpy" in g or "]" in g or "metadata" in g for g in gone), gone
