"""compose.yaml edited in place: a service added in the file's own style, comments and order
kept, and removed again to the very same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_orbit.ecosystems.compose import Compose
from jupyter_orbit.ecosystems.compose_yaml import load
from jupyter_orbit.errors import InputError
from jupyter_orbit.manifests.compose import ComposeFile, edit_text, render
from jupyter_orbit.manifests.formats import manifest_for

P = Path("/p/compose.yaml")
PG = {"image": "postgres:15", "ports": ["127.0.0.1::5432"], "volumes": ["pg-data:/data"]}

FILES = {
    "comments and a seq at the key's column": """\
# The project's services
services:
  # a cache
  cache:
    image: redis:7   # pinned
    ports:
    - "127.0.0.1:6380:6379"

# data
volumes:
  other: {}
""",
    "four spaces, indented sequences, a trailing comment": """\
version: "3.9"
services:
    web:
        image: example/web:1
        depends_on:
            - cache
    cache:
        image: redis:7
        # more options later
x-notes: kept as it is
""",
    "crlf": "services:\r\n  a:\r\n    image: a\r\n",
    "only the key": "services:\n",
}


@pytest.mark.parametrize("name", list(FILES))
def test_add_then_remove_gives_back_the_same_bytes(name: str):
    text = FILES[name]
    added = edit_text(text, path=P, add=[("pg", PG, ["pg-data"])])
    doc = load(P, added)
    assert doc["services"]["pg"]["image"] == "postgres:15"
    assert list(doc["services"])[-1] == "pg"  # after the others
    assert "pg-data" in doc["volumes"]
    for line in text.splitlines():
        assert line in added  # nothing of the file went away
    assert edit_text(added, path=P, remove=["pg"]) == text


@pytest.mark.parametrize("text", ["# nothing here yet\nname: demo\n", ""])
def test_a_file_without_services_gets_them_and_keeps_the_key(text: str):
    added = edit_text(text, path=P, add=[("pg", PG, ["pg-data"])])
    assert added.startswith(text) and load(P, added)["services"]["pg"] == PG
    assert edit_text(added, path=P, remove=["pg"]) == text + "services:\n"


def test_the_new_service_follows_the_files_indentation():
    text = FILES["four spaces, indented sequences, a trailing comment"]
    added = edit_text(text, path=P, add=[("pg", PG, ["pg-data"])])
    assert "    pg:\n        image: postgres:15\n        ports:\n            - " in added
    assert added.index("# more options later") < added.index("    pg:")
    assert added.index("    pg:") < added.index("x-notes")
    text = FILES["comments and a seq at the key's column"]
    added = edit_text(text, path=P, add=[("pg", PG, ["pg-data"])])
    assert '    ports:\n    - "127.0.0.1::5432"' in added
    assert added.index("  pg:") < added.index("# data")  # the comment stays with what follows


def test_adding_a_service_again_replaces_it_in_place():
    text = "services:\n  pg:\n    image: postgres:14\n  after:\n    image: a\n"
    changed = edit_text(text, path=P, add=[("pg", {"image": "postgres:15"}, [])])
    assert changed == "services:\n  pg:\n    image: postgres:15\n  after:\n    image: a\n"


def test_a_volume_another_service_still_mounts_stays():
    text = (
        "services:\n  a:\n    image: a\n    volumes:\n      - shared:/x\n"
        "  b:\n    image: b\n    volumes:\n      - shared:/y\n      - own:/z\n"
        "volumes:\n  shared:\n  own:\n"
    )
    out = edit_text(text, path=P, remove=["b"])
    assert out == (
        "services:\n  a:\n    image: a\n    volumes:\n      - shared:/x\nvolumes:\n  shared:\n"
    )


def test_removing_what_is_not_there_names_it():
    with pytest.raises(InputError, match="nope is not listed in the services"):
        edit_text("services:\n  a:\n    image: a\n", path=P, remove=["nope"])


def test_flow_style_services_are_not_rewritten():
    with pytest.raises(InputError, match="flow style"):
        edit_text("services: {a: {image: a}}\n", path=P, add=[("pg", PG, [])])


def test_strings_yaml_would_misread_are_quoted():
    definition = {
        "image": "postgres:15",
        "environment": {"A": "yes", "B": "0123", "C": "22:22", "D": "a b", "E": "-x", "F": ""},
        "ports": ["127.0.0.1::5432"],
    }
    out = edit_text("services:\n", path=P, add=[("s", definition, [])])
    assert load(P, out)["services"]["s"]["environment"] == definition["environment"]
    assert 'A: "yes"' in out and 'C: "22:22"' in out and "image: postgres:15" in out


def test_the_format_is_found_by_name_and_holds_services_only():
    for name in ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"):
        assert isinstance(manifest_for(name), ComposeFile)
    fmt = ComposeFile()
    assert not fmt.project_source  # never read as a kernel's packages
    with pytest.raises(InputError, match="cannot be written"):
        fmt.edit(P, "services:\n", "pypi", add=[])


def test_orbit_add_writes_the_catalogs_service(tmp_path: Path):
    fmt = ComposeFile()
    text = fmt.edit(P, fmt.new_text, "compose", add=[Compose.parse("redis")])
    doc = load(P, text)
    assert doc["services"]["redis"]["volumes"] == ["redis-data:/data"]
    assert "redis-data" in doc["volumes"]
    assert fmt.edit(P, text, "compose", remove=["redis"]) == fmt.new_text


def test_export_renders_a_file_compose_reads_back():
    services = {"pg": {"volumes": ["pg-data:/data"], "image": "postgres:15"}}
    text = render(services, ["pg-data"])
    assert text.startswith("services:\n  pg:\n    image: postgres:15\n")  # image first
    doc = load(P, text)
    assert doc["services"]["pg"] == services["pg"]
    assert list(doc["volumes"]) == ["pg-data"]
