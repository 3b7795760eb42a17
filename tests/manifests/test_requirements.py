from __future__ import annotations

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.requirements import (
    HASH_NOTE,
    RequirementsTxt,
    logical_lines,
    normalize_index_option,
)
from jupyter_orbit.model import Level

READER = RequirementsTxt()

REALISTIC = """\
# Analysis environment -- keep pins loose, the lock has exact versions

numpy >= 1.26 , < 2      # the 2.x ABI is not tested yet
pandas[Performance,excel]==2.2.*
Scikit_Learn~=1.4
matplotlib ; python_version >= "3.10" and sys_platform != "win32"
requests[socks] @ https://example.org/requests-2.32.0-py3-none-any.whl ; python_version > "3.8"
   # an indented comment line
jupyterlab-git \\
    >=0.50 \\
    ; platform_system == "Linux"
"""


def texts(contribution, field="requirements"):
    return [r.text for r in getattr(contribution, field)]


def lines(contribution):
    return [r.origin.line for r in contribution.requirements]


@pytest.mark.parametrize(("crlf", "bom"), [(False, False), (True, False), (True, True)])
def test_realistic_file(write, tmp_path, crlf, bom):
    path = write("requirements.txt", REALISTIC, crlf=crlf, bom=bom)
    c = READER.read(path, root=tmp_path)
    assert texts(c) == [
        "numpy<2,>=1.26",
        "pandas[excel,performance]==2.2.*",
        "scikit-learn~=1.4",
        'matplotlib; python_version >= "3.10" and sys_platform != "win32"',
        "requests[socks] @ https://example.org/requests-2.32.0-py3-none-any.whl"
        ' ; python_version > "3.8"',
        'jupyterlab-git>=0.50; platform_system == "Linux"',
    ]
    # A continued requirement is reported at its first physical line.
    assert lines(c) == [3, 4, 5, 6, 7, 9]
    assert {r.origin.kind for r in c.requirements} == {"requirements.txt"}
    assert {r.origin.path for r in c.requirements} == {path}
    assert {r.origin.level for r in c.requirements} == {Level.PROJECT}
    assert c.declares == {"pypi"}
    assert c.notes == []
    assert c.provides() == ("packages.pypi",)


def test_level_is_passed_through(write, tmp_path):
    path = write("requirements.txt", "attrs\n")
    c = READER.read(path, root=tmp_path, level=Level.PEP723)
    assert c.level is Level.PEP723
    assert c.requirements[0].origin.level is Level.PEP723


def test_empty_file_declares_pypi(write, tmp_path):
    path = write("requirements.txt", "# nothing yet\n\n")
    c = READER.read(path, root=tmp_path)
    assert c.requirements == []
    assert c.declares == {"pypi"}
    assert c.provides() == ("packages.pypi",)


def test_logical_lines_join_and_strip():
    text = "a \\\nb\n# c \\\nd#not-a-comment\ne # comment\nf \\\n"
    assert list(logical_lines(text)) == [(1, "a b"), (4, "d#not-a-comment"), (5, "e"), (6, "f")]


def test_includes_are_read_relative_to_the_including_file(write, tmp_path):
    write("requirements.txt", "-r reqs/base.txt\nattrs\n")
    write("reqs/base.txt", "--requirement=more/extra.txt\nrich>=13\n")
    extra = write("reqs/more/extra.txt", "httpx\n")
    c = READER.read(tmp_path / "requirements.txt", root=tmp_path)
    assert texts(c) == ["httpx", "rich>=13", "attrs"]
    assert c.requirements[0].origin.path == tmp_path / "reqs" / "more" / "extra.txt"
    assert c.requirements[0].origin.line == 1
    assert extra.exists()


def test_constraints_go_to_constraints(write, tmp_path):
    write("requirements.txt", "pandas\n-c constraints.txt\n")
    write("constraints.txt", "numpy<2  # pinned for pandas\n-r more-constraints.txt\n")
    write("more-constraints.txt", "pytz==2024.1\n")
    c = READER.read(tmp_path / "requirements.txt", root=tmp_path)
    assert texts(c) == ["pandas"]
    assert texts(c, "constraints") == ["numpy<2", "pytz==2024.1"]
    assert c.constraints[1].origin.path == tmp_path / "more-constraints.txt"


def test_include_cycle_is_an_error(write, tmp_path, unchanged):
    path = write("requirements.txt", "attrs\n-r dev.txt\n")
    write("dev.txt", "\n-r requirements.txt\n")
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "cycle" in e.value.message
    assert "requirements.txt -> dev.txt -> requirements.txt" in e.value.message
    assert e.value.path == tmp_path / "dev.txt"
    assert e.value.line == 2
    assert "dev.txt:2" in str(e.value)
    assert e.value.hint


def test_self_include_is_a_cycle(write, tmp_path):
    path = write("requirements.txt", "-r ./requirements.txt\n")
    with pytest.raises(InputError, match="cycle"):
        READER.read(path, root=tmp_path)


def test_a_file_included_twice_is_not_a_cycle(write, tmp_path):
    path = write("requirements.txt", "-r a.txt\n-r b.txt\n")
    write("a.txt", "-r common.txt\n")
    write("b.txt", "-r common.txt\n")
    write("common.txt", "attrs\n")
    assert texts(READER.read(path, root=tmp_path)) == ["attrs", "attrs"]


@pytest.mark.parametrize("line", ["-r ../outside.txt", "-c ../outside.txt", "-e ..", "../pkg"])
def test_paths_must_stay_inside_the_root(write, tmp_path, line, unchanged):
    root = tmp_path / "project"
    write("outside.txt", "attrs\n")
    write("pkg/setup.py", "")
    path = write("project/requirements.txt", f"numpy\n{line}\n")
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=root)
    assert "outside the project" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


def test_missing_include_is_an_error(write, tmp_path):
    path = write("requirements.txt", "\n\n-r missing.txt\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "not found" in e.value.message
    assert "missing.txt" in e.value.message
    assert (e.value.path, e.value.line) == (path, 3)


def test_local_paths_and_editables(write, tmp_path):
    write("pkgs/My_Tool/pyproject.toml", "[project]\nname = 'my-tool'\n")
    write("dist/fancy_lib-1.0-py3-none-any.whl", "")
    write("dist/other-2.0.tar.gz", "")
    path = write(
        "requirements.txt",
        "-e ./pkgs/My_Tool\n.\n./pkgs/My_Tool[Test]\ndist/fancy_lib-1.0-py3-none-any.whl\n"
        "./dist/other-2.0.tar.gz\n--editable=pkgs/My_Tool\n",
    )
    c = READER.read(path, root=tmp_path)
    tool = tmp_path / "pkgs" / "My_Tool"
    assert texts(c) == [
        f"-e {tool}",
        str(tmp_path),
        f"{tool}[test]",
        str(tmp_path / "dist" / "fancy_lib-1.0-py3-none-any.whl"),
        str(tmp_path / "dist" / "other-2.0.tar.gz"),
        f"-e {tool}",
    ]
    assert [r.name for r in c.requirements] == [
        "my-tool",
        tmp_path.name.lower().replace("_", "-"),
        "my-tool",
        "fancy-lib",
        "other",
        "my-tool",
    ]
    assert {r.ecosystem for r in c.requirements} == {"pypi"}


def test_missing_local_path_is_an_error(write, tmp_path):
    path = write("requirements.txt", "attrs\n-e ./not-here\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "does not exist" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


def test_editable_in_constraints_is_an_error(write, tmp_path):
    write("pkg/setup.py", "")
    write("requirements.txt", "-c c.txt\n")
    c_txt = write("c.txt", "-e ./pkg\n")
    with pytest.raises(InputError) as e:
        READER.read(tmp_path / "requirements.txt", root=tmp_path)
    assert "constraints" in e.value.message
    assert (e.value.path, e.value.line) == (c_txt, 1)


def test_hashes_are_dropped_with_one_note(write, tmp_path):
    path = write(
        "requirements.txt",
        "attrs==23.2.0 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n"
        "idna==3.7 --hash sha256:ccc\n",
    )
    c = READER.read(path, root=tmp_path)
    assert texts(c) == ["attrs==23.2.0", "idna==3.7"]
    assert lines(c) == [1, 4]
    assert c.notes == [HASH_NOTE]


def test_source_changing_options_are_normalised(write, tmp_path):
    write("wheels/README", "")
    path = write(
        "requirements.txt",
        "-i https://mirror.example/simple\n"
        "--extra-index-url=https://extra.example/simple\n"
        "-f https://download.example/wheels/\n"
        "--find-links ./wheels\n"
        "--trusted-host mirror.example\n"
        "--no-index\n"
        "--pre\n"
        "--index-url https://mirror.example/simple\n"
        "attrs\n",
    )
    c = READER.read(path, root=tmp_path)
    assert c.index_options == [
        "--index-url https://mirror.example/simple",
        "--extra-index-url https://extra.example/simple",
        "--find-links https://download.example/wheels/",
        f"--find-links {tmp_path / 'wheels'}",
        "--trusted-host mirror.example",
        "--no-index",
        "--prerelease allow",
    ]
    assert texts(c) == ["attrs"]


def test_binary_options_are_dropped_with_a_note(write, tmp_path):
    path = write("requirements.txt", "--prefer-binary\n--only-binary :all:\nattrs\n")
    c = READER.read(path, root=tmp_path)
    assert texts(c) == ["attrs"]
    assert len(c.notes) == 2
    assert all("ignored pip options" in n for n in c.notes)


def test_direct_url_requirements(write, tmp_path):
    path = write(
        "requirements.txt",
        "git+https://github.com/org/Tool_Kit.git@v1.2#egg=Tool_Kit\n"
        "git+https://github.com/org/mono@main#egg=sub_pkg&subdirectory=python\n"
        "https://files.example/pkgs/nice_lib-0.3-py3-none-any.whl\n"
        "https://files.example/other-1.0.tar.gz ; sys_platform == 'linux'\n"
        "-e git+https://github.com/org/dev.git#egg=dev-thing\n"
        "plain @ git+https://github.com/org/plain@abc123\n",
    )
    c = READER.read(path, root=tmp_path)
    assert texts(c) == [
        "tool-kit @ git+https://github.com/org/Tool_Kit.git@v1.2",
        "sub-pkg @ git+https://github.com/org/mono@main#subdirectory=python",
        "nice-lib @ https://files.example/pkgs/nice_lib-0.3-py3-none-any.whl",
        'other @ https://files.example/other-1.0.tar.gz ; sys_platform == "linux"',
        "dev-thing @ git+https://github.com/org/dev.git",
        "plain @ git+https://github.com/org/plain@abc123",
    ]
    assert any("editable URL" in n for n in c.notes)


def test_url_without_a_name_is_an_error(write, tmp_path):
    path = write("requirements.txt", "git+https://github.com/org/tool.git\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "cannot tell the package name" in e.value.message
    assert "#egg=" in e.value.hint
    assert (e.value.path, e.value.line) == (path, 1)


@pytest.mark.parametrize(
    ("text", "option", "line"),
    [
        ("attrs\n--use-feature=fast-deps\n", "--use-feature", 2),
        ("attrs\n\n--index-urls https://x\n", "--index-urls", 3),
        ("numpy --config-settings=a=b\n", "--config-settings", 1),
        ("--requirement\n", "expected one argument", 1),
    ],
)
def test_unknown_options_are_errors(write, tmp_path, text, option, line, unchanged):
    path = write("requirements.txt", text)
    with unchanged(tmp_path), pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert option in e.value.message
    assert (e.value.path, e.value.line) == (path, line)
    assert f"requirements.txt:{line}" in str(e.value)
    assert "-r/--requirement" in e.value.hint


def test_invalid_requirement_names_file_and_line(write, tmp_path):
    path = write("requirements.txt", "attrs\nnumpy >== 1.2\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "numpy >== 1.2" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)
    assert "PEP 508" in e.value.hint


def test_unclosed_quote_is_an_error(write, tmp_path):
    path = write("requirements.txt", "--index-url 'https://x\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert e.value.line == 1


def test_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"attrs\ncaf\xe9\n")
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "UTF-8" in e.value.message
    assert (e.value.path, e.value.line) == (path, 2)


def test_environment_variables_are_not_expanded(write, tmp_path):
    path = write("requirements.txt", "--extra-index-url https://${TOKEN}@private.example/simple\n")
    c = READER.read(path, root=tmp_path)
    assert c.index_options == ["--extra-index-url https://${TOKEN}@private.example/simple"]
    assert any("not expanded" in n for n in c.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--index-url https://x/simple", "--index-url https://x/simple"),
        ("-i https://x/simple", "--index-url https://x/simple"),
        ("--extra-index-url=https://y", "--extra-index-url https://y"),
        ("--no-index", "--no-index"),
        ("--prerelease allow", "--prerelease allow"),
        ("--pre", "--prerelease allow"),
    ],
)
def test_normalize_index_option(tmp_path, text, expected):
    assert normalize_index_option(text, path=tmp_path / "x.ipynb") == expected


@pytest.mark.parametrize("text", ["--use-feature x", "-r other.txt", "--index-url", "attrs", ""])
def test_normalize_index_option_refuses_others(tmp_path, text):
    with pytest.raises(InputError, match="not a single index option"):
        normalize_index_option(text, path=tmp_path / "x.ipynb")


def test_url_constraints_are_allowed(write, tmp_path):
    write("requirements.txt", "-c constraints.txt\nattrs\n")
    write("constraints.txt", "https://files.example/attrs-23.2.0-py3-none-any.whl\n")
    c = READER.read(tmp_path / "requirements.txt", root=tmp_path)
    assert texts(c, "constraints") == [
        "attrs @ https://files.example/attrs-23.2.0-py3-none-any.whl"
    ]


def test_local_path_with_marker_is_refused(write, tmp_path):
    write("pkg/setup.py", "")
    path = write("requirements.txt", './pkg ; sys_platform == "linux"\n')
    with pytest.raises(InputError) as e:
        READER.read(path, root=tmp_path)
    assert "markers" in e.value.message
    assert (e.value.path, e.value.line) == (path, 1)
