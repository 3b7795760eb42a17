"""Attacks through services beside the kernels: a compose file (or a notebook that carries
services) that would hand a container the host, or start anything before the project is
trusted. Each is refused before anything is asked, pulled or started, naming the key and its
line; ``--allow-host-access`` is the only way past the guard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_orbit import beside
from jupyter_orbit.ecosystems.compose import Compose
from jupyter_orbit.engines.base import Launch
from jupyter_orbit.engines.docker import DockerEngine
from jupyter_orbit.engines.services import plan, project_key
from jupyter_orbit.errors import InputError, TrustError
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.model import Environment
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, Consent, prepare
from jupyter_orbit.progress import NullProgress
from tests.conftest import make_notebook

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def services_of(project: Path, text: str):
    (project / "compose.yaml").write_text(text)
    group = Compose(Paths(project / ".home"), NO_ENGINE).services(project, project, None, None)
    assert group is not None
    return group


def check(project: Path, text: str, *, allow: bool = False):
    group = services_of(project, text)
    return plan(group, key=project_key(project), home=project, allow_host_access=allow)


ATTACKS = [
    ("privileged: true", "services.db.privileged", "privileged container"),
    (
        "volumes:\n      - /var/run/docker.sock:/var/run/docker.sock",
        "services.db.volumes[0]",
        "socket",
    ),
    ("volumes:\n      - /run/docker.sock:/s", "services.db.volumes[0]", "socket"),
    ("volumes:\n      - /var/run:/host-run", "services.db.volumes[0]", "socket"),
    (
        "volumes:\n      - type: bind\n        source: /var/run/docker.sock\n        target: /s",
        "services.db.volumes[0]",
        "socket",
    ),
    ("volumes:\n      - /:/host", "services.db.volumes[0]", "root folder"),
    (
        "volumes:\n      - type: bind\n        source: /\n        target: /h",
        "services.db.volumes[0]",
        "root folder",
    ),
    ("network_mode: host", "services.db.network_mode", "host's network"),
    ("pid: host", "services.db.pid", "host's processes"),
    ("ipc: host", "services.db.ipc", "shared memory"),
    ("network_mode: container:other", "services.db.network_mode", "another container"),
    ("cap_add: [NET_ADMIN]", "services.db.cap_add[0]", "NET_ADMIN capability"),
    ("cap_add: [SYS_ADMIN]", "services.db.cap_add[0]", "as good as root"),
    ("devices: [/dev/sda:/dev/sda]", "services.db.devices[0]", "host device"),
    ('ports: ["0.0.0.0:5432:5432"]', "services.db.ports[0]", "on 0.0.0.0"),
    ('ports: ["5432:5432"]', "services.db.ports[0]", "every interface"),
    ('ports: ["5432"]', "services.db.ports[0]", "every interface"),
    (
        "ports:\n      - target: 5432\n        published: 5432",
        "services.db.ports[0]",
        "every interface",
    ),
    ('ports: ["[::]:5432:5432"]', "services.db.ports[0]", "reachable from other machines"),
    ("security_opt: [seccomp:unconfined]", "services.db.security_opt[0]", "confinement off"),
    ("volumes:\n      - ../outside:/data", "services.db.volumes[0]", "outside the project"),
    ("volumes:\n      - ~/.ssh:/keys:ro", "services.db.volumes[0]", "outside the project"),
]


@pytest.mark.parametrize(("options", "key", "says"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_a_service_that_reaches_into_the_host_is_refused_at_its_line(
    tmp_path: Path, options: str, key: str, says: str
):
    text = f"# services\nservices:\n  db:\n    image: postgres:15\n    {options}\n"
    with pytest.raises(InputError) as e:
        check(tmp_path, text)
    err = e.value
    assert err.message.startswith(key) and says in err.message
    assert err.path == tmp_path / "compose.yaml"
    assert err.line is not None and err.line >= 5  # the option's own line, not the service's
    assert "--allow-host-access" in (err.hint or "")
    check(tmp_path, text, allow=True)  # the user's explicit flag lets it through


def test_a_symlink_to_the_engines_socket_inside_the_project_is_refused(tmp_path: Path):
    (tmp_path / "sock").symlink_to("/var/run/docker.sock")
    with pytest.raises(InputError, match="socket"):
        check(tmp_path, "services:\n  db:\n    image: a\n    volumes:\n      - ./sock:/s\n")
    (tmp_path / "data").symlink_to("/etc")  # a link out of the project is outside it
    with pytest.raises(InputError, match="outside the project"):
        check(tmp_path, "services:\n  db:\n    image: a\n    volumes:\n      - ./data:/d\n")


def test_a_volume_whose_driver_options_mount_a_host_folder_is_refused(tmp_path: Path):
    text = (
        "services:\n  db:\n    image: a\n    volumes:\n      - data:/d\n"
        "volumes:\n  data:\n    driver_opts:\n      type: none\n      o: bind\n      device: /\n"
    )
    with pytest.raises(InputError) as e:
        check(tmp_path, text)
    assert e.value.message.startswith("volumes.data sets a volume driver") and e.value.line == 7


def test_an_env_file_outside_the_project_is_not_read(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secrets.env").write_text("TOKEN=from-outside\n")
    with pytest.raises(InputError, match="outside the project folder"):
        check(project, "services:\n  db:\n    image: a\n    env_file: ../secrets.env\n")


@pytest.mark.parametrize("name", ["../escape", "a;rm -rf", "-flag", "x" * 64, "a b"])
def test_service_names_cannot_smuggle_container_names_or_options(tmp_path: Path, name: str):
    text = f"services:\n  {json.dumps(name)}:\n    image: a\n"
    with pytest.raises(InputError, match="is not a service name"):
        check(tmp_path, text)


def test_options_orbit_does_not_understand_are_never_passed_on(tmp_path: Path):
    for option in ("volumes_from: [other]", "sysctls: {net.ipv4.ip_forward: 1}", "extends: x"):
        with pytest.raises(InputError, match="Orbit does not run services with"):
            check(tmp_path, f"services:\n  db:\n    image: a\n    {option}\n")


def test_a_notebook_that_carries_a_privileged_service_is_refused(tmp_path: Path):
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        "1",
        metadata={"orbit": {"services": {"db": {"image": "a", "privileged": True}}}},
    )
    orbit = json.loads(nb.read_text())["metadata"]["orbit"]
    group = Compose(Paths(tmp_path / ".home"), NO_ENGINE).services(tmp_path, tmp_path, nb, orbit)
    with pytest.raises(InputError) as e:
        plan(group, key="k", home=tmp_path)
    assert e.value.message.startswith("metadata.orbit.services.db.privileged")
    assert e.value.path == nb


def launched(project: Path, home: Path, consent: Consent) -> object:
    """A prepared launch of the project's notebook whose environment is taken as built (the
    service checks run before anything of the environment is used)."""
    paths = Paths(home)
    out = prepare(project / "nb.ipynb", Choices(consent=consent), paths, until="plan")
    out.environment = Environment("local", "x" * 20, home / "env", Path("/usr/bin/python3"))
    out.argv = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return out


@pytest.fixture
def untrusted(tmp_path: Path) -> Path:
    project = tmp_path / "downloaded"
    make_notebook(project / "nb.ipynb", "print(1)")
    (project / "compose.yaml").write_text("services:\n  db:\n    image: postgres:15\n")
    return project


def test_an_untrusted_project_starts_no_service(untrusted: Path, tmp_path: Path):
    out = launched(untrusted, tmp_path / "home", Consent())
    with pytest.raises(TrustError) as e:
        beside.attach(out, Choices(), Paths(tmp_path / "home"), NullProgress())
    assert "not starting what it declares (compose service: db (postgres:15" in e.value.message
    assert not (tmp_path / "home" / "services").exists()  # nothing was started or written


def test_a_refused_file_is_refused_before_consent_is_asked(untrusted: Path, tmp_path: Path):
    (untrusted / "compose.yaml").write_text(
        "services:\n  db:\n    image: a\n    privileged: true\n"
    )
    asked = []
    consent = Consent(ask=lambda res, wanted: asked.append(wanted) or True)
    out = launched(untrusted, tmp_path / "home", consent)
    with pytest.raises(InputError, match="privileged"):
        beside.attach(out, Choices(consent=consent), Paths(tmp_path / "home"), NullProgress())
    assert asked == []


def test_prewarming_never_starts_a_projects_services(untrusted: Path, tmp_path: Path):
    from jupyter_orbit.prepare import NO_CONSENT

    out = launched(untrusted, tmp_path / "home", NO_CONSENT)
    before = list(out.argv)
    beside.attach(out, Choices(consent=NO_CONSENT), Paths(tmp_path / "home"), NullProgress())
    assert out.argv == before and out.services == [] and "PGHOST" not in out.kernel_env


def test_a_container_kernel_gets_the_services_secrets_by_name_never_in_its_command(
    tmp_path: Path,
):
    engine = DockerEngine(Paths(tmp_path), client=object())  # type: ignore[arg-type]
    env = Environment("docker", "e" * 20, tmp_path, Path("/opt/orbit/env/bin/python"))
    launch = Launch(None, tmp_path, networks=("orbit-svc-p-1_default",), pass_env=("PGPASSWORD",))
    os.environ["ORBIT_TEST_SECRET"] = "s3cret"  # what the variable would hold, in the environment
    try:
        argv = engine.kernel_command(env, get_recipe("python"), launch)
    finally:
        del os.environ["ORBIT_TEST_SECRET"]
    assert "--pass-env" in argv and argv[argv.index("--pass-env") + 1] == "PGPASSWORD"
    assert argv[argv.index("--network") + 1] == "orbit-svc-p-1_default"
    assert not any("s3cret" in a for a in argv)
