"""The compose ecosystem: services as typed, the catalog and local images in a search, the
services a kernel runs beside (notebook over compose file), and the variables a kernel gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit.ecosystems import get_ecosystem
from jupyter_orbit.ecosystems.base import Service
from jupyter_orbit.ecosystems.compose import Compose, split_requirement
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import EnvSpec, Level, Origin
from jupyter_orbit.paths import Paths

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def compose(tmp_path: Path) -> Compose:
    eco = get_ecosystem("compose", Paths(tmp_path / "home"), NO_ENGINE)
    assert isinstance(eco, Compose)
    return eco


@pytest.mark.parametrize(
    ("typed", "name", "image"),
    [
        ("postgres", "postgres", "postgres:15"),
        ("PostgreSQL", "postgres", "postgres:15"),  # an alias, any case
        ("pg", "postgres", "postgres:15"),
        ("postgres:16", "postgres", "postgres:16"),  # the catalog's service, another tag
        ("db=postgres", "db", "postgres:15"),
        ("cache=redis:7.2", "cache", "redis:7.2"),
        ("ghcr.io/org/tool:1.2", "tool", "ghcr.io/org/tool:1.2"),
        ("localhost:5000/team/app", "app", "localhost:5000/team/app"),
    ],
)
def test_a_service_as_typed(typed: str, name: str, image: str):
    req = Compose.parse(typed)
    assert (req.ecosystem, req.name) == ("compose", name)
    assert split_requirement(req.text) == (name, image)
    assert Compose.key(typed) == name


@pytest.mark.parametrize("typed", ["Postgres:15 ", "has space", "db=", "-x", "a=b=c", "x=UPPER"])
def test_what_is_not_a_service_is_refused_saying_what_is(typed: str):
    with pytest.raises(InputError) as e:
        Compose.parse(typed)
    assert "orbit search --in compose" in (e.value.hint or "") or "service" in e.value.message


def test_a_notebooks_package_list_cannot_hold_services():
    origin = Origin("metadata.orbit", Path("/p/nb.ipynb"), None, Level.NOTEBOOK)
    with pytest.raises(InputError) as e:
        Compose.parse_declared("postgres", origin)
    assert "metadata.orbit.services" in e.value.message


def test_search_finds_the_catalog_exact_name_first_and_says_when_no_engine_answers(
    compose: Compose,
):
    found = compose.search("postgres")
    assert found.hits[0].name == "postgres" and found.hits[0].tier == 0
    summary = found.hits[0].summary
    assert "image postgres:15" in summary and "port 5432" in summary
    assert "named volume" in summary and "health check" in summary
    assert any("only Orbit's catalog" in n for n in found.notes)
    assert [h.name for h in compose.search("mysql").hits] == ["mariadb"]  # by alias
    assert compose.search("no-such-service-anywhere").hits == []


def test_adding_a_catalog_service_writes_its_image_port_volume_and_health_check(
    compose: Compose,
):
    definition, volumes = compose.definition(Compose.parse("postgres"))
    assert definition["image"] == "postgres:15"
    assert definition["ports"] == ["127.0.0.1::5432"]  # loopback only, a port the engine picks
    assert definition["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert volumes == ["postgres-data"]
    env = definition["environment"]
    assert env["POSTGRES_USER"] == "orbit" and len(env["POSTGRES_PASSWORD"]) >= 20
    assert definition["healthcheck"]["test"] == [
        "CMD-SHELL",
        "pg_isready -q -h 127.0.0.1 -U orbit -d orbit",
    ]
    again, _ = compose.definition(Compose.parse("postgres"))
    assert again["environment"]["POSTGRES_PASSWORD"] != env["POSTGRES_PASSWORD"]  # never shared
    for key in ("privileged", "network_mode", "pid", "cap_add", "devices"):
        assert key not in definition


def test_an_image_that_is_neither_in_the_catalog_nor_here_cannot_be_checked_without_an_engine(
    compose: Compose,
):
    _, notes = compose.check_spec(EnvSpec(), [Compose.parse("ghcr.io/org/tool:1")])
    assert notes == ["ghcr.io/org/tool:1 could not be checked (no container engine answers)"]
    _, notes = compose.check_spec(EnvSpec(), [Compose.parse("postgres")])
    assert "built from Debian packages (postgresql-15)" in notes[0]


def svc(name: str, **definition) -> Service:
    return Service.of("compose", name, definition)


def test_a_kernel_gets_what_the_catalog_says_its_clients_read(compose: Compose):
    pg = svc(
        "db",
        image="postgres:15",
        environment={"POSTGRES_USER": "ann", "POSTGRES_PASSWORD": "p@ss:/w", "POSTGRES_DB": "x"},
    )
    got = compose.kernel_variables(pg, "127.0.0.1", {5432: 49153})
    assert got["DB_HOST"] == "127.0.0.1" and got["DB_PORT"] == "49153"
    assert got["PGHOST"] == "127.0.0.1" and got["PGPORT"] == "49153"
    assert got["PGPASSWORD"] == "p@ss:/w"  # as it is; escaped only inside the URL
    assert got["DATABASE_URL"] == "postgresql://ann:p%40ss%3A%2Fw@127.0.0.1:49153/x"


def test_what_the_image_assumes_fills_what_the_service_leaves_out(compose: Compose):
    pg = svc("postgres", image="docker.io/library/postgres:16", environment=["POSTGRES_PASSWORD=s"])
    got = compose.kernel_variables(pg, "postgres", {5432: 5432})
    assert got["PGUSER"] == "postgres" and got["PGDATABASE"] == "postgres"
    assert got["DATABASE_URL"] == "postgresql://postgres:s@postgres:5432/postgres"


def test_any_service_gets_its_host_and_ports(compose: Compose):
    web = svc("my-api", image="example/api:1")
    assert compose.kernel_variables(web, "127.0.0.1", {8080: 40000, 9090: 40001}) == {
        "MY_API_HOST": "127.0.0.1",
        "MY_API_PORT": "40000",
        "MY_API_PORT_8080": "40000",
        "MY_API_PORT_9090": "40001",
    }
    assert compose.kernel_variables(web, "127.0.0.1", {}) == {}  # unreachable: nothing


def test_stand_ins_only_for_the_major_version_debian_has(compose: Compose):
    for image, built in [
        ("postgres:15", True),
        ("postgres:15.7", True),
        ("postgres:16", False),  # PostgreSQL 16 would not read 15's data, nor the reverse
        ("postgres", False),
        ("redis:7", True),
        ("redis:7.2", False),
        ("mongo:7", False),  # not in Debian
    ]:
        stand_in = compose.service_image(svc("s", image=image))
        assert (stand_in is not None) is built, image
    pg = compose.service_image(svc("s", image="postgres:15"))
    assert pg is not None and pg.packages == ("postgresql-15",) and pg.user == "postgres"
    assert pg.replaces == "postgres:15" and pg.volume == "/var/lib/postgresql/data"


def test_the_nearest_compose_file_up_to_the_project_root(compose: Compose, tmp_path: Path):
    root = tmp_path / "proj"
    (root / "notebooks" / "deep").mkdir(parents=True)
    (root / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    group = compose.services(root / "notebooks" / "deep", root, None, None)
    assert group is not None and [s.name for s in group.services] == ["db"]
    assert group.folder == root and group.source == root / "compose.yaml"
    assert group.line_of("services.db") == 2
    (root / "notebooks" / "docker-compose.yml").write_text("services:\n  near:\n    image: a\n")
    group = compose.services(root / "notebooks" / "deep", root, None, None)
    assert group is not None and [s.name for s in group.services] == ["near"]
    assert compose.services(tmp_path / "elsewhere", tmp_path / "elsewhere", None, None) is None


def test_a_notebooks_own_services_win_and_share_the_projects_name(compose: Compose, tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    nb = root / "nb.ipynb"
    orbit = {"services": {"cache": {"image": "redis:7"}}}
    group = compose.services(root, root, nb, orbit)
    assert group is not None and [s.name for s in group.services] == ["cache"]
    assert group.key == "metadata.orbit.services" and group.source == nb
    assert group.folder == root  # the same project: the same network and volumes
    with pytest.raises(InputError, match=r"metadata\.orbit\.services\.bad"):
        compose.services(root, root, nb, {"services": {"bad": ["image"]}})


def test_a_notebook_that_gets_a_service_keeps_its_projects_others(compose: Compose, tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    orbit: dict = {"schema": 1}
    assert compose.edit_notebook(
        orbit, root / "nb.ipynb", add=[Compose.parse("redis")], remove=[], root=root
    )
    assert list(orbit["services"]) == ["db", "redis"]
    assert orbit["services"]["db"] == {"image": "postgres:15"}
    compose.edit_notebook(orbit, root / "nb.ipynb", add=[], remove=["db", "redis"], root=root)
    assert "services" not in orbit  # none left: the project's file decides again
    with pytest.raises(InputError, match="not among the services"):
        compose.edit_notebook(orbit, root / "nb.ipynb", add=[], remove=["nope"], root=root)
    json.dumps(orbit)  # plain JSON, as a notebook stores it
