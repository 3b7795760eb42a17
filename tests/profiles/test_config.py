"""orbit config get|set|unset: checked against the classes they configure, stored only if valid."""

import json

import pytest

from tests.conftest import Orbit, make_notebook, snapshot

pytestmark = pytest.mark.integration


def test_set_get_unset_and_refusals(orbit: Orbit):
    config = (
        orbit.home / "profiles" / "default" / "jupyter" / "config" / "jupyter_server_config.json"
    )
    r = orbit.run("config", "set", "ServerApp.shutdown_no_activity_timeout", "3600")
    assert r.returncode == 0, r.stderr
    r = orbit.run("config", "set", "LabApp.collaborative", "false")
    assert r.returncode == 0, r.stderr
    r = orbit.run("config", "set", "MappingKernelManager.cull_idle_timeout", "600")
    assert r.returncode == 0, r.stderr
    assert json.loads(config.read_text()) == {
        "ServerApp": {"shutdown_no_activity_timeout": 3600},
        "LabApp": {"collaborative": False},
        "MappingKernelManager": {"cull_idle_timeout": 600},
    }
    r = orbit.run("config", "set", "OrbitExtension.pool_max_envs", "5")
    assert r.returncode == 0 and "(was 3)" in r.stdout
    assert "pool_max_envs = 5" in (config.parents[2] / "profile.toml").read_text()
    r = orbit.run("config", "set", "OrbitExtension.pool_memory_mb", "512")
    assert r.returncode == 0, r.stderr
    assert "pool_memory_mb = 512" in (config.parents[2] / "profile.toml").read_text()
    r = orbit.run("config", "set", "OrbitExtension.hot_add_spares", "0")
    assert r.returncode == 0 and "(was 1)" in r.stdout, r.stdout + r.stderr
    assert "hot_add_spares = 0" in (config.parents[2] / "profile.toml").read_text()

    before = snapshot(orbit.home / "profiles")
    refused = [
        (("ServerApp.shutdown_no_activity_timeout", "soon"), "takes an int"),
        (("ServerApp.shutdown_timeout", "1"), "did you mean shutdown_no_activity_timeout"),
        (("NoSuchApp.x", "1"), "unknown class 'NoSuchApp'"),
        (("ServerApp.ip", "0.0.0.0"), "127.0.0.1 only"),
        (("ServerApp.token", "abc"), "fresh token"),
        (("LabApp.extension_manager", "pypi"), "orbit ext add"),
        (("OrbitExtension.pool_per_env", "99"), "out of range"),
        (("OrbitExtension.pool_memory_mb", "2000000"), "out of range"),
        (("OrbitExtension.pool_memory_mb", "lots"), "takes a whole number"),
        (("OrbitExtension.hot_add_spares", "17"), "out of range"),
        (("not-a-key", "1"), "not a setting name"),
    ]
    for args, message in refused:
        r = orbit.run("config", "set", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
    assert snapshot(orbit.home / "profiles") == before  # nothing written

    r = orbit.run("config", "get", "ServerApp.shutdown_no_activity_timeout")
    assert r.stdout.strip() == "3600"
    r = orbit.run("config", "get", "MappingKernelManager.kernel_info_timeout")
    assert r.stdout.strip().endswith("(default)")
    listing = json.loads(orbit.run("config", "get", "--json").stdout)
    assert listing["LabApp.collaborative"] is False and listing["OrbitExtension.pool_per_env"] == 1
    described = json.loads(orbit.run("config", "get", "LabApp", "--json").stdout)
    row = next(s for s in described["settings"] if s["key"] == "LabApp.collaborative")
    assert row["set"] and row["value"] is False

    r = orbit.run("config", "unset", "LabApp.collaborative")
    assert r.returncode == 0 and "was false" in r.stdout
    assert "LabApp" not in json.loads(config.read_text())
    r = orbit.run("config", "unset", "LabApp.collaborative")
    assert r.returncode == 2 and "is not set" in r.stderr
    r = orbit.run("config", "unset", "OrbitExtension.pool_max_envs")
    assert (
        r.returncode == 0
        and "pool_max_envs = 3" in (config.parents[2] / "profile.toml").read_text()
    )
    r = orbit.run("config", "unset", "OrbitExtension.pool_memory_mb")
    assert r.returncode == 0, r.stderr
    assert "pool_memory_mb" not in (config.parents[2] / "profile.toml").read_text()  # RAM-sized
    r = orbit.run("config", "unset", "OrbitExtension.hot_add_spares")
    assert r.returncode == 0, r.stderr
    assert "hot_add_spares" not in (config.parents[2] / "profile.toml").read_text()  # default


def test_a_broken_config_file_is_named(orbit: Orbit):
    config = (
        orbit.home / "profiles" / "default" / "jupyter" / "config" / "jupyter_server_config.json"
    )
    config.parent.mkdir(parents=True)
    config.write_text('{\n  "ServerApp": {\n    "x": 1,\n  }\n}\n')
    r = orbit.run("config", "set", "ServerApp.shutdown_no_activity_timeout", "60")
    assert r.returncode == 2
    assert f"{config}:4: not valid JSON" in r.stderr
    assert config.read_text().count("x") == 1


def test_restart_applies_it_and_a_setting_that_breaks_the_server_is_undone(orbit: Orbit, tmp_path):
    project = tmp_path / "project"
    make_notebook(project / "nb.ipynb", "1")
    (project / ".hidden.txt").write_text("x")
    server = orbit.server(project)

    def listed():
        return {c["name"] for c in server.get("/api/contents").json()["content"]}

    assert ".hidden.txt" not in listed()
    r = orbit.run("config", "set", "ContentsManager.allow_hidden", "true")
    assert r.returncode == 0 and "until it restarts" in r.stderr
    assert ".hidden.txt" not in listed()
    r = orbit.run("config", "set", "ContentsManager.allow_hidden", "true", "--restart")
    assert r.returncode == 0, r.stderr
    assert ".hidden.txt" in listed()  # same address and token after the restart

    config = (
        orbit.home / "profiles" / "default" / "jupyter" / "config" / "jupyter_server_config.json"
    )
    before = config.read_text()
    # valid for its trait (a list of module names), fatal when the server imports it
    r = orbit.run(
        "config", "set", "ServerApp.extra_services", '["orbit_no_such_module"]', "--restart"
    )
    assert r.returncode == 1
    assert "did not restart" in r.stderr and "rolled back" in r.stderr
    assert config.read_text() == before
    assert ".hidden.txt" in listed()  # running again, with the previous settings
