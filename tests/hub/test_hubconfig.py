"""Orbit's rules for the hub's settings and how they are written into jupyterhub_config.py
(pure); the checker against JupyterHub-like classes in-process (traitlets only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.hub import hubconfig, hubtraits
from jupyter_orbit.hub.confection import render_settings


@pytest.mark.parametrize(
    ("key", "canonical", "value", "why"),
    [
        ("JupyterHub.bind_url", "JupyterHub.bind_url", "http://0.0.0.0:8000", "127.0.0.1 only"),
        ("JupyterHub.ip", "JupyterHub.ip", "0.0.0.0", "127.0.0.1 only"),
        ("SwarmSpawner.host_ip", "DockerSpawner.host_ip", "0.0.0.0", "not loopback"),
        ("JupyterHub.db_url", "JupyterHub.db_url", "sqlite://", "wires"),
        ("JupyterHub.services", "JupyterHub.services", [], "manages the hub"),
        ("JupyterHub.cleanup_servers", "JupyterHub.cleanup_servers", True, "keeps users'"),
        ("JupyterHub.spawner_class", "JupyterHub.spawner_class", "simple", "--swarm"),
        ("DummyAuthenticator.password", "DummyAuthenticator.password", "x", "hub.env"),
        (
            "GenericOAuthenticator.client_secret",
            "GenericOAuthenticator.client_secret",
            "x",
            "hub.env",
        ),
        ("ConfigurableHTTPProxy.api_url", "ConfigurableHTTPProxy.api_url", "x", "wires"),
        (
            "DockerSpawner.volumes",
            "DockerSpawner.volumes",
            {"/var/run/docker.sock": "/var/run/docker.sock"},
            "engine's socket",
        ),
        ("DockerSpawner.read_only_volumes", "DockerSpawner.read_only_volumes", {"/": "/h"}, "root"),
        (
            "SwarmSpawner.extra_host_config",
            "DockerSpawner.extra_host_config",
            {"privileged": True},
            "privileged",
        ),
        (
            "DockerSpawner.extra_host_config",
            "DockerSpawner.extra_host_config",
            {"network_mode": "host"},
            "host's network",
        ),
        (
            "DockerSpawner.extra_host_config",
            "DockerSpawner.extra_host_config",
            {"port_bindings": {"8888/tcp": ["0.0.0.0", 8888]}},
            "every interface",
        ),
        (
            "DockerSpawner.extra_host_config",
            "DockerSpawner.extra_host_config",
            {"binds": {"/run": {"bind": "/run", "mode": "rw"}}},
            "engine's socket",
        ),
        (
            "DockerSpawner.mounts",
            "DockerSpawner.mounts",
            [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}],
            "engine's socket",
        ),
        (
            "SwarmSpawner.extra_container_spec",
            "SwarmSpawner.extra_container_spec",
            {"mounts": [{"Type": "bind", "Source": "/var/run", "Target": "/r"}]},
            "engine's socket",
        ),
        (
            "SwarmSpawner.extra_endpoint_spec",
            "SwarmSpawner.extra_endpoint_spec",
            {"ports": {8888: 8888}},
            "wires",
        ),
    ],
)
def test_what_would_expose_the_hub_or_the_engine_is_refused(key, canonical, value, why):
    refused = hubconfig.refusal(key, canonical, value)
    assert refused is not None and why in refused


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("JupyterHub.allow_named_servers", True),
        ("JupyterHub.named_server_limit_per_user", 3),
        ("Spawner.mem_limit", 1073741824),
        ("DockerSpawner.cpu_limit", 1.5),
        ("JupyterHub.authenticator_class", "dummy"),
        ("Authenticator.admin_users", ["ada"]),
        ("DockerSpawner.host_ip", "127.0.0.1"),
        ("DockerSpawner.volumes", {"orbit-shared": "/home/jovyan/shared"}),
        ("DockerSpawner.extra_host_config", {"cap_add": ["NET_BIND_SERVICE"], "shm_size": "1g"}),
        ("IdleCuller.timeout", 3600),
    ],
)
def test_limits_options_and_named_servers_may_be_set(key, value):
    assert hubconfig.refusal(key, key, value) is None


def test_settings_are_written_last_as_literals_and_orbits_own_entries_stay():
    text = render_settings(
        {
            "JupyterHub.allow_named_servers": {"value": True},
            "Spawner.mem_limit": {"value": 1073741824, "canonical": "Spawner.mem_limit"},
            "Spawner.environment": {"value": {"A": 'it\'s "quoted"\n'}},
            "DockerSpawner.extra_host_config": {
                "value": {"shm_size": "1g"},
                "canonical": "DockerSpawner.extra_host_config",
            },
        }
    )
    lines = text.strip().splitlines()
    assert "c.JupyterHub.allow_named_servers = True" in lines
    assert "c.Spawner.mem_limit = 1073741824" in lines
    assert "c.DockerSpawner.extra_host_config.update({'shm_size': '1g'})" in lines
    # Orbit's cap_drop, no-new-privileges and privileged=False are put back after the user's
    assert (
        lines[-1]
        == "c.DockerSpawner.extra_host_config.update(orbit_host_config)  # Orbit's own, kept"
    )
    c: dict = {}
    env = next(ln for ln in lines if ln.startswith("c.Spawner.environment"))
    exec(env.replace("c.Spawner.environment", "c['env']"), {}, {"c": c})
    assert c["env"] == {"A": 'it\'s "quoted"\n'}  # a value stays data, whatever it holds


def test_the_idle_culler_becomes_a_service_with_its_role():
    text = render_settings(
        {
            "IdleCuller.timeout": {"value": 600, "canonical": "IdleCuller.timeout"},
            "IdleCuller.cull_users": {"value": True, "canonical": "IdleCuller.cull_users"},
            "IdleCuller.cull_admin_users": {
                "value": False,
                "canonical": "IdleCuller.cull_admin_users",
            },
        }
    )
    assert "'jupyterhub_idle_culler', '--cull-admin-users=false', '--cull-users=true', " in text
    assert "'--timeout=600'" in text and "'admin:users'" in text
    assert "c.IdleCuller" not in text
    assert "idle-culler" not in render_settings(
        {"IdleCuller.cull_users": {"value": True, "canonical": "IdleCuller.cull_users"}}
    )  # no timeout: no culler


def test_stored_settings_and_unset(tmp_path: Path):
    folder = tmp_path / "hub"
    assert hubconfig.stored(folder) == {}
    with pytest.raises(InputError, match="not set for the hub"):
        hubconfig.unset(folder, "Spawner.mem_limit")
    hubconfig._save(folder, {"Spawner.mem_limit": {"value": 1, "canonical": "Spawner.mem_limit"}})
    assert hubconfig.settings_path(folder).stat().st_mode & 0o777 == 0o600
    assert hubconfig.unset(folder, "Spawner.mem_limit") == 1
    assert json.loads(hubconfig.settings_path(folder).read_text()) == {"settings": {}}
    with pytest.raises(InputError, match="not a setting name"):
        hubconfig.unset(folder, "mem_limit")


def test_the_checker_names_the_class_that_defines_a_setting():
    """``hubtraits`` against a small hierarchy like DockerSpawner's (in-process: traitlets)."""
    from traitlets import Dict, Int, Unicode
    from traitlets.config import Configurable

    class Spawner(Configurable):
        mem_limit = Int(0, config=True, help="Bytes. More text.")

    class DockerSpawner(Spawner):
        host_ip = Unicode("127.0.0.1", config=True)
        volumes = Dict(config=True)

    class SwarmSpawner(DockerSpawner):
        host_ip = Unicode("127.0.0.1", config=True)  # redefined, still DockerSpawner's setting

    classes = {c.__name__: c for c in (Spawner, DockerSpawner, SwarmSpawner)}
    got = hubtraits.check(classes, "SwarmSpawner.host_ip", raw="0.0.0.0", value=None)
    assert got["canonical"] == "DockerSpawner.host_ip" and got["value"] == "0.0.0.0"
    got = hubtraits.check(classes, "DockerSpawner.mem_limit", raw="42", value=None)
    assert got == {"value": 42, "canonical": "Spawner.mem_limit", "kind": "an int"}
    got = hubtraits.check(classes, "SwarmSpawner.volumes", raw='{"a": "/b"}', value=None)
    assert got["value"] == {"a": "/b"}
    with pytest.raises(hubtraits.Problem, match="no setting 'mem_limt'") as err:
        hubtraits.check(classes, "Spawner.mem_limt", raw="1", value=None)
    assert err.value.hint.startswith("did you mean mem_limit?")
    with pytest.raises(hubtraits.Problem, match="takes an int"):
        hubtraits.check(classes, "Spawner.mem_limit", raw="lots", value=None)
    with pytest.raises(hubtraits.Problem, match="unknown class 'Spawnr'"):
        hubtraits.check(classes, "Spawnr.mem_limit", raw="1", value=None)
    rows = hubtraits.describe(classes, "SwarmSpawner")
    assert {r["key"]: r["canonical"] for r in rows}["SwarmSpawner.mem_limit"] == "Spawner.mem_limit"
    assert hubtraits.idle_culler_class().class_traits(config=True)["timeout"].default() == 0


# -- a real hub --------------------------------------------------------------------------------

PROFILE = "hubconfig"


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory, docker_base: str, docker_client):
    """A hub of the profile ``hubconfig``, up, with ada's server running."""
    from tests.conftest import Orbit, make_notebook
    from tests.hub.test_runner import spawn

    base = tmp_path_factory.mktemp("hubconfig")
    orbit = Orbit(base / "orbit-home", base / "home")
    orbit.user_home.mkdir()
    project = base / "project"
    make_notebook(project / "analysis.ipynb", "print(1)")
    r = orbit.run("hub", "up", str(project), "--json", "--profile", PROFILE, timeout=3600)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    spawn(info, "ada")
    yield orbit, info
    orbit.run("hub", "down", "--volumes", "--profile", PROFILE, timeout=600)


def _config(orbit, *args: str):
    return orbit.run("hub", "config", *args, "--profile", PROFILE, timeout=600)


def _hub_container(docker_client):
    [hub] = docker_client.containers.list(
        filters={"label": ["org.jupyter.orbit.role=hub", f"org.jupyter.orbit.hub={PROFILE}"]}
    )
    return hub


@pytest.mark.integration
def test_a_setting_is_checked_applied_and_users_servers_keep_running(live_hub, docker_client):
    from tests.hub.test_runner import api

    orbit, info = live_hub
    ada = docker_client.containers.get(f"orbit-hub-{PROFILE}-ada")
    with api(info) as c:  # without named servers, the hub refuses a second server
        assert c.post("hub/api/users/ada/servers/second").status_code == 400
    r = _config(orbit, "set", "JupyterHub.allow_named_servers", "true")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "JupyterHub.allow_named_servers = true"
    assert f"users' servers kept running: orbit-hub-{PROFILE}-ada" in r.stderr
    ada.reload()
    assert ada.status == "running"  # the very container, never stopped
    assert (
        docker_client.containers.get(ada.id).attrs["State"]["StartedAt"]
        == ada.attrs["State"]["StartedAt"]
    )
    with api(info) as c:
        assert c.get("user/ada/api/status").status_code == 200  # through the restarted proxy
        r2 = c.post("hub/api/users/ada/servers/second")
        assert r2.status_code in (201, 202), r2.text

    # A limit, in the hub's own terms, reaches the next server started.
    r = _config(orbit, "set", "Spawner.mem_limit", "1G")
    assert r.returncode == 0 and r.stdout.strip() == "Spawner.mem_limit = 1073741824", r.stderr
    from tests.hub.test_runner import spawn

    spawn(info, "grace")
    grace = docker_client.containers.get(f"orbit-hub-{PROFILE}-grace")
    assert grace.attrs["HostConfig"]["Memory"] == 1073741824
    assert grace.attrs["HostConfig"]["CapDrop"] == ["ALL"]  # Orbit's own options kept

    # The idle culler runs as a service of the hub while its timeout is set.
    r = _config(orbit, "set", "IdleCuller.timeout", "3600")
    assert r.returncode == 0, r.stderr
    processes = " ".join(" ".join(p) for p in _hub_container(docker_client).top()["Processes"])
    assert "jupyterhub_idle_culler" in processes and "--timeout=3600" in processes
    r = _config(orbit, "get", "Spawner.mem_limit")
    assert r.stdout.strip() == "1073741824"
    r = _config(orbit, "get", "--json")
    assert json.loads(r.stdout) == {
        "JupyterHub.allow_named_servers": True,
        "Spawner.mem_limit": 1073741824,
        "IdleCuller.timeout": 3600,
    }
    r = _config(orbit, "unset", "IdleCuller.timeout")
    assert r.returncode == 0, r.stderr
    processes = " ".join(" ".join(p) for p in _hub_container(docker_client).top()["Processes"])
    assert "jupyterhub_idle_culler" not in processes


# Each case is a check in the hub's image (seconds each): an address beyond loopback set through
# a subclass, the engine's socket, a name the hub's classes do not have. The rules themselves are
# tested case by case above, without a hub.
@pytest.mark.integration
@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("SwarmSpawner.host_ip", "0.0.0.0", "it sets DockerSpawner.host_ip"),
        ("DockerSpawner.volumes", '{"/var/run/docker.sock": "/var/run/docker.sock"}', "socket"),
        ("Spawner.mem_limt", "1G", "did you mean mem_limit?"),
    ],
)
def test_refused_settings_change_nothing(live_hub, docker_client, key, value, said):
    orbit, info = live_hub
    settings = Path(info["folder"]) / "settings.json"
    before = settings.read_bytes() if settings.exists() else None
    started = _hub_container(docker_client).attrs["State"]["StartedAt"]
    r = _config(orbit, "set", key, value)
    assert r.returncode != 0 and said in r.stderr, r.stderr
    assert (settings.read_bytes() if settings.exists() else None) == before
    assert _hub_container(docker_client).attrs["State"]["StartedAt"] == started  # no restart
