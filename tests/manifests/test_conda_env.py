from __future__ import annotations

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.conda_env import CONDA_NOTE, EnvironmentYml, parse_match_spec
from jupyter_orbit.model import Origin

READER = EnvironmentYml()

REALISTIC = """\
# Binder environment for the workshop
name: workshop
channels:
  - conda-forge
  - defaults
dependencies:
  - python=3.11
  - numpy=1.26          # fuzzy pin
  - pandas==2.2.1
  - scipy>=1.11,<2
  - scikit-learn 1.4.*
  - matplotlib-base 3.8*
  - conda-forge::pytorch=2.1=py311_0
  - xarray[version='>=2024.1', build=pyhd8ed1ab_0]
  - importlib_metadata
  - r-base
  - nodejs>=18
  - libgcc-ng
  - librosa
  - pip
  - pip:
    - requests>=2.31  # http
    - -r requirements-pip.txt
    - --extra-index-url https://extra.example/simple
    - "rich[jupyter]"
"""


def test_realistic_environment(write, tmp_path):
    path = write("environment.yml", REALISTIC)
    included = write("requirements-pip.txt", "# pip-only\nhttpx\n")
    c = READER.read(path, root=tmp_path)
    assert c.kind == "environment.yml"
    assert c.python == "3.11"
    assert [r.text for r in c.requirements] == [
        "numpy==1.26.*",
        "pandas==2.2.1",
        "scipy<2,>=1.11",
        "scikit-learn==1.4.*",
        "matplotlib==3.8.*",
        "torch==2.1.*",
        "xarray>=2024.1",
        "importlib-metadata",
        "librosa",
        "requests>=2.31",
        "httpx",
        "rich[jupyter]",
    ]
    assert {r.ecosystem for r in c.requirements} == {"pypi"}
    assert [r.origin.line for r in c.requirements] == [8, 9, 10, 11, 12, 13, 14, 15, 19, 22, 2, 25]
    assert c.requirements[10].origin.path == included
    assert {r.origin.path for r in c.requirements[:10]} == {path}
    assert c.index_options == ["--extra-index-url https://extra.example/simple"]
    assert c.declares == {"pypi"}
    assert c.notes == [
        "conda channels are not used yet: conda-forge, defaults",
        CONDA_NOTE,
        "skipped conda packages with no PyPI equivalent: r-base, nodejs, libgcc-ng, pip",
    ]
    assert c.provides() == ("python", "packages.pypi")


@pytest.mark.parametrize(
    ("spec", "name", "terms"),
    [
        ("numpy", "numpy", []),
        ("numpy=1.26", "numpy", ["==1.26.*"]),
        ("numpy==1.26.4", "numpy", ["==1.26.4"]),
        ("numpy>=1.2,<2", "numpy", [">=1.2", "<2"]),
        ("numpy 1.26.*", "numpy", ["==1.26.*"]),
        ("numpy 1.8*", "numpy", ["==1.8.*"]),
        ("numpy 1.8", "numpy", ["==1.8"]),
        ("numpy >=1.8", "numpy", [">=1.8"]),
        ("numpy >= 1.8", "numpy", [">=1.8"]),
        ("numpy 1.26.4 py311h_0", "numpy", ["==1.26.4"]),
        ("numpy=1.26=py311_0", "numpy", ["==1.26.*"]),
        ("numpy==1.26.4=py311_0", "numpy", ["==1.26.4"]),
        ("numpy=1.26.*", "numpy", ["==1.26.*"]),
        ("numpy=*", "numpy", []),
        ("numpy!=1.2*", "numpy", ["!=1.2.*"]),
        ("numpy>=1.2*", "numpy", [">=1.2"]),
        ("conda-forge::numpy", "numpy", []),
        ("conda-forge/linux-64::numpy>=1.2", "numpy", [">=1.2"]),
        ("numpy[version='>=1.2']", "numpy", [">=1.2"]),
        ('numpy[build=py311_0, version=">=1.2,<2"]', "numpy", [">=1.2", "<2"]),
        ("numpy[version=1.2.*]", "numpy", ["==1.2.*"]),
        ("python_abi=3.11=*_cp311", "python_abi", ["==3.11.*"]),
    ],
)
def test_parse_match_spec(spec, name, terms):
    assert parse_match_spec(spec, Origin("environment.yml")) == (name, terms)


@pytest.mark.parametrize("spec", ["numpy=1.1|1.2", "numpy >=1.1|<0.9"])
def test_or_specs_are_refused(write, tmp_path, spec, unchanged):
    path = write("environment.yml", f"dependencies:\n  - attrs\n  - {spec}\n")
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "'|'" in e.value.message
    assert "single range" in e.value.hint
    assert (e.value.path, e.value.line) == (path, 3)


@pytest.mark.parametrize(
    "spec", ["numpy[version", "numpy[version=]", ">=1.2", "a b c d", "numpy - x", "numpy=1.0.x"]
)
def test_unreadable_specs(write, tmp_path, spec):
    path = write("environment.yml", f"dependencies:\n  - '{spec}'\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "conda spec" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


@pytest.mark.parametrize(
    ("spec", "python"),
    [
        ("python=3.10", "3.10"),
        ("python 3.10.*", "3.10"),
        ("python==3.10.4", "3.10"),  # major.minor, as repo2docker takes it
        ("python>=3.9", ">=3.9"),
        ("python>=3.9,<3.13", ">=3.9,<3.13"),
        ("conda-forge::python=3.12=h_cpython", "3.12"),
    ],
)
def test_python_is_not_a_requirement(write, tmp_path, spec, python):
    path = write("environment.yaml", f"dependencies:\n  - {spec}\n  - attrs\n")
    c = READER.read(path, root=tmp_path)
    assert c.python == python
    assert [r.text for r in c.requirements] == ["attrs"]


def test_bare_python_sets_nothing(write, tmp_path):
    c = READER.read(write("environment.yml", "dependencies: [python, attrs]\n"), root=tmp_path)
    assert c.python is None
    assert [r.text for r in c.requirements] == ["attrs"]


def test_exported_environment_skips_system_packages(write, tmp_path):
    text = (
        "name: base\nprefix: /opt/conda\ndependencies:\n"
        "  - _libgcc_mutex=0.1=conda_forge\n  - ca-certificates=2024.2.2=hbcca054_0\n"
        "  - ld_impl_linux-64=2.40=h41732ed_0\n  - openssl=3.2.1=hd590300_1\n"
        "  - tzdata=2024a=h0c530f3_0\n  - attrs=23.2.0=pyh71513ae_0\n"
    )
    c = READER.read(write("environment.yml", text), root=tmp_path)
    assert [r.text for r in c.requirements] == ["attrs==23.2.0.*"]
    assert "_libgcc_mutex" in c.notes[-1]


def test_only_skipped_packages_still_declares(write, tmp_path):
    c = READER.read(write("environment.yml", "dependencies:\n  - nodejs\n"), root=tmp_path)
    assert c.requirements == []
    assert c.provides() == ("packages.pypi",)
    assert CONDA_NOTE not in c.notes


@pytest.mark.parametrize("text", ["", "# only a comment\n", "name: empty\n"])
def test_nothing_declared(write, tmp_path, text):
    c = READER.read(write("environment.yml", text), root=tmp_path)
    assert c.provides() == ()


def test_empty_dependencies_declares(write, tmp_path):
    c = READER.read(write("environment.yml", "dependencies:\n"), root=tmp_path)
    assert c.provides() == ("packages.pypi",)


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("- numpy\n- pandas\n", "not a mapping", 1),
        ("dependencies: numpy\n", "not a list", 1),
        ("name: x\ndependencies:\n  numpy: 1\n", "not a list", 2),
        ("dependencies:\n  - numpy\n  - 3.11\n", "neither a package nor a pip list", 3),
        ("dependencies:\n  - conda: [x]\n", "neither a package nor a pip list", 2),
        ("dependencies:\n  - pip: requests\n", "'pip:' entry", 2),
        ("dependencies:\n  - pip:\n    - [nested]\n", "'pip:' entry", 2),
        ("channels: conda-forge\n", "'channels'", 1),
    ],
)
def test_structure_errors(write, tmp_path, text, words, line, unchanged):
    path = write("environment.yml", text)
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert words in e.value.message
    assert (e.value.path, e.value.line) == (path, line)
    assert e.value.hint


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("dependencies:\n  - numpy\n - pandas\n", 3),
        ("dependencies: [numpy\n", 2),
        ("name: a\nname: b\n", 2),
        ("dependencies:\n\t- numpy\n", 2),
    ],
)
def test_malformed_yaml(write, tmp_path, text, line):
    path = write("environment.yml", text)
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "malformed YAML" in e.value.message
    assert e.value.line == line
    assert e.value.hint == f"fix the YAML syntax at line {line}"


def test_pip_section_errors_point_at_the_environment_file(write, tmp_path):
    path = write(
        "environment.yml",
        "dependencies:\n  - numpy\n  - pip:\n    - attrs\n    - --use-feature=fast-deps\n",
    )
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "--use-feature" in e.value.message
    assert (e.value.path, e.value.line) == (path, 5)


def test_pip_include_must_stay_inside_root(write, tmp_path):
    write("secret.txt", "attrs\n")
    path = write("project/environment.yml", "dependencies:\n  - pip:\n    - -r ../secret.txt\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path / "project")
    assert "outside the project" in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)


def test_crlf_and_bom(write, tmp_path):
    path = write("environment.yml", "dependencies:\n  - numpy=1.26\n", crlf=True, bom=True)
    c = READER.read(path, root=tmp_path)
    assert [(r.text, r.origin.line) for r in c.requirements] == [("numpy==1.26.*", 2)]


def test_variables_are_noted(write, tmp_path):
    c = READER.read(
        write("environment.yml", "variables:\n  A: b\ndependencies: [attrs]\n"), root=tmp_path
    )
    assert any("variables" in n for n in c.notes)
