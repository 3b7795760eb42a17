"""Reading compose files as Docker Compose reads them: which file, ${VARIABLES} from the
environment and .env, profiles left out, errors at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.ecosystems.compose_yaml import find_file, interpolate, read
from jupyter_orbit.errors import InputError


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_composes_own_order_of_file_names(tmp_path: Path):
    write(tmp_path, "services: {}\n", "docker-compose.yml")
    assert find_file(tmp_path, tmp_path) == tmp_path / "docker-compose.yml"
    write(tmp_path, "services: {}\n", "compose.yaml")
    assert find_file(tmp_path, tmp_path) == tmp_path / "compose.yaml"
    write(tmp_path / "binder", "services: {}\n")
    (tmp_path / "compose.yaml").unlink()
    (tmp_path / "docker-compose.yml").unlink()
    assert find_file(tmp_path, tmp_path) == tmp_path / "binder" / "compose.yaml"


def test_no_higher_than_the_project_root(tmp_path: Path):
    write(tmp_path, "services: {}\n")
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    assert find_file(root / "sub", root) is None


def test_variables_as_compose_fills_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORBIT_TEST_TAG", "15")
    monkeypatch.delenv("ORBIT_TEST_UNSET", raising=False)
    (tmp_path / ".env").write_text(
        "# comment\nORBIT_TEST_PASSWORD='from dotenv'\nexport ORBIT_TEST_TAG=99\nEMPTY=\n"
    )
    path = write(
        tmp_path,
        "services:\n"
        "  db:\n"
        "    image: postgres:${ORBIT_TEST_TAG}\n"  # the environment wins over .env
        "    environment:\n"
        "      PASSWORD: $ORBIT_TEST_PASSWORD\n"
        "      DEFAULTED: ${ORBIT_TEST_UNSET:-fallback}\n"
        "      EMPTY_DASH: ${EMPTY-kept empty}\n"
        "      EMPTY_COLON: ${EMPTY:-replaced}\n"
        "      ALTERNATIVE: ${ORBIT_TEST_TAG:+set}\n"
        "      DOLLARS: $$HOME costs $$5\n",
    )
    group = read(path, root=tmp_path, ecosystem="compose")
    [db] = group.services
    d = db.definition
    assert d["image"] == "postgres:15"
    assert d["environment"] == {
        "PASSWORD": "from dotenv",
        "DEFAULTED": "fallback",
        "EMPTY_DASH": "",
        "EMPTY_COLON": "replaced",
        "ALTERNATIVE": "set",
        "DOLLARS": "$HOME costs $5",
    }


def test_a_required_variable_that_is_missing_is_named(tmp_path: Path):
    with pytest.raises(InputError) as e:
        interpolate(
            "${ORBIT_TEST_MISSING:?set the password}", {}, where="services.db.x", path=tmp_path
        )
    assert "ORBIT_TEST_MISSING is required (set the password)" in e.value.message
    with pytest.raises(InputError, match="not a variable Compose can fill"):
        interpolate("${bad name}", {}, where="k", path=tmp_path)


def test_services_with_profiles_are_left_out_as_compose_leaves_them(tmp_path: Path):
    path = write(
        tmp_path,
        "services:\n  db:\n    image: postgres:15\n"
        "  adminer:\n    image: adminer\n    profiles: [tools]\n",
    )
    group = read(path, root=tmp_path, ecosystem="compose")
    assert [s.name for s in group.services] == ["db"]
    assert group.notes == [
        "services.adminer has profiles: not started (as Compose leaves it out by default)"
    ]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("services:\n  db:\n    image: [unclosed\n", "not valid YAML", 4),
        ("services:\n  db: postgres\n", "services.db is not a mapping", 2),
        ("services:\n  'bad name':\n    image: a\n", "is not a service name", 2),
        ("services: [a, b]\n", "not a mapping of service names", 1),
        ("- a list\n", "not a compose file", None),
    ],
)
def test_bad_files_are_refused_at_their_line(
    tmp_path: Path, text: str, message: str, line: int | None
):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read(path, root=tmp_path, ecosystem="compose")
    assert message in e.value.message
    assert e.value.path == path and e.value.line == line


def test_yes_and_numbers_stay_what_yaml_says(tmp_path: Path):
    path = write(
        tmp_path,
        "services:\n  s:\n    image: a\n    init: true\n    shm_size: 64\n    user: '1000'\n",
    )
    [s] = read(path, root=tmp_path, ecosystem="compose").services
    assert s.definition == {"image": "a", "init": True, "shm_size": 64, "user": "1000"}
