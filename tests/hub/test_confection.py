"""The hub's confection (golden renders, a valid Compose file, no secret in it) and the checks a
compose file passes before it runs."""

import json
import re
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.hub import confection, policy
from tests.support.golden import golden_in

golden = golden_in(Path(__file__).parent / "golden")

SETTINGS = confection.HubSettings(
    profile="team",
    project=Path("/srv/projects/demo"),
    port=8123,
    hub_image="orbit-hub:0123456789abcdef",
    user_image="orbit-user:team",
    engine_socket="/var/run/docker.sock",
)
FOLDER = Path("/home/u/.local/share/orbit/profiles/team/hub")
# Debian's docker-compose ships the Compose specification's JSON schema.
COMPOSE_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


def test_compose_file_render():
    golden("docker-compose.yml", confection.render_compose(SETTINGS, FOLDER))


def test_jupyterhub_config_render():
    text = confection.render_config(SETTINGS)
    golden("jupyterhub_config.py", text)
    compile(text, "jupyterhub_config.py", "exec")


def test_compose_file_follows_the_compose_specification():
    if not COMPOSE_SCHEMA.exists():
        pytest.skip(f"no Compose schema here ({COMPOSE_SCHEMA} comes with Debian's docker-compose)")
    import jsonschema
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(confection.render_compose(SETTINGS, FOLDER))
    jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text())).validate(doc)


def test_no_secret_in_the_compose_file_or_the_config():
    values = confection.new_secrets()
    assert len(set(values.values())) == len(values)
    assert all(len(v) >= 24 for v in values.values())
    env = confection.render_env(values)
    assert confection.read_env(env) == values
    for text in (confection.render_compose(SETTINGS, FOLDER), confection.render_config(SETTINGS)):
        assert not any(v in text for v in values.values())
        assert "env_file" in text or "os.environ" in text


def test_published_on_loopback_only_and_the_socket_for_the_hub_alone():
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(confection.render_compose(SETTINGS, FOLDER))
    hub = doc["services"]["hub"]
    assert hub["ports"] == ["127.0.0.1:8123:8000"]
    assert [v for v in hub["volumes"] if "docker.sock" in v] == [
        "/var/run/docker.sock:/var/run/docker.sock"
    ]
    assert "volumes" not in doc["services"]["user-image"]
    assert doc["services"]["user-image"]["profiles"] == ["build"]
    config = confection.render_config(SETTINGS)
    assert '"cap_drop": ["ALL"]' in config and "docker.sock" not in config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


def test_orbits_own_compose_file_passes(tmp_path: Path):
    path = write(tmp_path, confection.render_compose(SETTINGS, FOLDER))
    assert "hub" in policy.check(path)["services"]


@pytest.mark.parametrize(
    ("service", "line", "message"),
    [
        ("    privileged: true\n", 4, "services.extra.privileged asks for a privileged"),
        (
            "    volumes:\n      - ./data:/data\n      - /var/run/docker.sock:/var/run/docker.sock\n",
            6,
            "services.extra.volumes[1] mounts the container engine's socket",
        ),
        (
            "    volumes:\n      - type: bind\n        source: /var/run/docker.sock\n"
            "        target: /sock\n",
            5,
            "services.extra.volumes[0] mounts the container engine's socket",
        ),
        (
            "    volumes:\n      - /:/host:ro\n",
            5,
            "services.extra.volumes[0] mounts the host's root",
        ),
        ("    network_mode: host\n", 4, "services.extra.network_mode shares the host's network"),
        ("    pid: host\n", 4, "services.extra.pid shares the host's processes"),
        ("    ports:\n      - 8080:80\n", 5, "publishes 8080:80 on every interface"),
        ("    ports:\n      - 0.0.0.0:8080:80\n", 5, "publishes 0.0.0.0:8080:80 on 0.0.0.0"),
    ],
)
def test_refusals_name_the_file_key_and_line(tmp_path: Path, service: str, line: int, message: str):
    path = write(tmp_path, "services:\n  extra:\n    image: busybox\n" + service)
    before = path.read_bytes()
    with pytest.raises(InputError) as e:
        policy.check(path)
    err = e.value
    assert message in err.message, err.message
    assert err.path == path and err.line == line and err.exit_code == 2
    assert "--allow-host-access" in err.hint
    assert path.read_bytes() == before
    policy.check(path, allow_host_access=True)  # the flag lets it through


def test_the_hub_may_have_the_socket_but_nothing_broader(tmp_path: Path):
    hub = (
        "services:\n  hub:\n    image: h\n    labels:\n      org.jupyter.orbit.role: hub\n"
        "    volumes:\n      - {src}:/var/run/docker.sock\n"
    )
    policy.check(write(tmp_path, hub.format(src="/var/run/docker.sock")))
    with pytest.raises(
        InputError, match=re.escape("services.hub.volumes[0] mounts the container engine")
    ):
        policy.check(write(tmp_path, hub.format(src="/var/run")))
    unlabelled = hub.replace("      org.jupyter.orbit.role: hub\n", "      x: y\n")
    with pytest.raises(InputError, match="engine's socket"):
        policy.check(write(tmp_path, unlabelled.format(src="/var/run/docker.sock")))


def test_malformed_compose_file(tmp_path: Path):
    with pytest.raises(InputError, match="not valid YAML") as e:
        policy.check(write(tmp_path, "services:\n  a: [\n"))
    assert e.value.line is not None
    with pytest.raises(InputError, match="has no services"):
        policy.check(write(tmp_path, "version: '3'\n"))


def test_slugs_are_valid_compose_names():
    assert confection.slug("Team.A") == "orbit-hub-team-a"
    assert confection.slug("default") == "orbit-hub-default"


def test_env_file_mode_is_kept_private(tmp_path: Path):
    from jupyter_orbit import atomic

    path = tmp_path / "hub.env"
    atomic.write_text(path, confection.render_env(confection.new_secrets()), mode=0o600)
    assert path.stat().st_mode & 0o777 == 0o600


def test_jupyterhub_config_passes_the_projects_gpus(monkeypatch):
    """DockerSpawner has no GPU option: the generated config adds the device requests to its
    extra_host_config, and docker-py turns them into the Engine API's DeviceRequests."""
    from dataclasses import replace

    from docker.types import HostConfig
    from traitlets.config import Config

    requests = [{"count": 2, "capabilities": [["gpu"]]}]
    text = confection.render_config(replace(SETTINGS, devices={"device_requests": requests}))
    plain = confection.render_config(SETTINGS)
    assert text.startswith(plain)
    golden("jupyterhub_config-gpus.tail.txt", text.removeprefix(plain))
    for key in ("ORBIT_HUB_PROFILE", "ORBIT_NETWORK", "ORBIT_USER_IMAGE", "ORBIT_HUB_API_TOKEN"):
        monkeypatch.setenv(key, "x")
    monkeypatch.setenv(confection.PASSWORD_KEY, "x")
    c = Config()
    exec(compile(text, "jupyterhub_config.py", "exec"), {"get_config": lambda: c})
    host = c.DockerSpawner.extra_host_config
    assert host["cap_drop"] == ["ALL"] and host["privileged"] is False
    assert host["device_requests"] == requests
    engine = HostConfig(version="1.41", **host)
    assert engine["DeviceRequests"] == [
        {"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
