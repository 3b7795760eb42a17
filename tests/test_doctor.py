"""orbit doctor: reports what is wrong with a fix for each, and --fix repairs what it can."""

import json

import pytest

from tests.conftest import Orbit

pytestmark = pytest.mark.integration


def checks(orbit: Orbit, *args: str) -> tuple[int, dict[str, list[dict]]]:
    r = orbit.run("doctor", "--json", *args)
    assert r.stdout.strip(), r.stderr
    data = json.loads(r.stdout)
    by_name: dict[str, list[dict]] = {}
    for c in data["checks"]:
        by_name.setdefault(c["name"], []).append(c)
    return r.returncode, by_name


def test_reports_and_fixes(orbit: Orbit, server_env_seed):
    server_env_seed.plant(orbit.home, bytecode=True)
    assert orbit.run("profile", "create", "lab", "--no-build").returncode == 0
    prof = orbit.home / "profiles" / "lab"
    # a hand edit: one more extension (its server environment is not built yet) …
    toml = prof / "profile.toml"
    toml.write_text(
        toml.read_text().replace(
            "extensions = []", 'extensions = ["jupyterlab-execute-time==3.3.0"]'
        )
    )
    # … a server that died without cleaning up, with a token file others can read …
    (prof / "server.json").write_text(
        json.dumps(
            {
                "pid": 2**22 + 12345,
                "url": "http://127.0.0.1:1/",
                "port": 1,
                "root_dir": "/",
                "token": "t",
                "profile": "lab",
                "started": "",
                "log": "",
            }
        )
    )
    (prof / "server.json").chmod(0o644)
    # … a kernelspec gone missing, a setting that does not exist, a default profile that does not
    (prof / "jupyter" / "data" / "kernels" / "python3" / "kernel.json").unlink()
    (prof / "jupyter" / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"shutdown_timout": 5}})
    )
    (orbit.home / "orbit.toml").write_text('default_profile = "gone"\n')
    (orbit.home / "profiles" / ".staging-x-1234").mkdir()

    code, found = checks(orbit, "--profile", "lab")
    assert code == 1  # the readable token file is a failure; the rest are warnings
    assert found["python"][0]["status"] == "ok" and found["uv"][0]["status"] == "ok"
    for name in ("browser", "container engine", "disk space"):
        assert found[name][0]["status"] in ("ok", "warn")
        assert found[name][0]["status"] == "ok" or found[name][0]["fix"]
    problems = {
        "server environment": "not built yet",
        "server": "no longer running",
        "token files": "can be read by other users",
        "kernelspecs": "missing: python3",
        "default profile": "'gone', which no longer exists",
        "profiles": ".staging-x-1234",
    }
    for name, words in problems.items():
        [c] = found[name]
        assert c["status"] in ("warn", "fail") and words in c["detail"], c
        assert c["fix"] and c["automatic"], c
    assert found["token files"][0]["status"] == "fail"

    r = orbit.run("doctor", "--fix", "--profile", "lab")
    assert "fixed server environment: built" in r.stdout, r.stdout + r.stderr
    code, found = checks(orbit, "--profile", "lab")
    # what --fix could repair is repaired; the bad setting needs the user's decision
    for name in ("server environment", "kernelspecs", "profiles", "default profile", "token files"):
        assert all(c["status"] == "ok" for c in found.get(name, [])), found.get(name)
    assert "server" not in found and not (prof / "server.json").exists()
    [bad] = found["server config"]
    assert code == 1 and bad["status"] == "fail"
    assert "ServerApp has no setting 'shutdown_timout'" in bad["detail"]
    assert bad["fix"].startswith("orbit config unset ServerApp.shutdown_timout --profile lab")
    assert "shutdown_no_activity_timeout" in bad["fix"]
    assert (
        orbit.run("config", "unset", "ServerApp.shutdown_timout", "--profile", "lab").returncode
        == 0
    )
    code, found = checks(orbit, "--profile", "lab")
    assert code == 0 and all(c["status"] == "ok" for c in found["server config"])


def test_a_profile_that_does_not_exist_yet(orbit: Orbit):
    code, found = checks(orbit, "--profile", "later")
    assert code == 0
    [c] = found["profile later"]
    assert c["status"] == "warn" and c["fix"] == "orbit profile create later"


def test_human_output(orbit: Orbit):
    r = orbit.run("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "✓ python" in r.stdout and "uv" in r.stdout and "disk space" in r.stdout


def test_the_display_is_checked(orbit: Orbit):
    from jupyter_orbit.doctor import OK, WARN, check_display

    _, by_name = checks(orbit)  # this machine's sessions have no display
    [display] = by_name["display"]
    assert display["status"] == WARN and "no display here" in display["detail"]
    assert "login link" in display["detail"] and "ssh -L" in display["fix"]
    assert check_display({"DISPLAY": ":1"}, "linux").status == OK
    assert check_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux").detail.startswith("wayland-0")
    assert check_display({}, "darwin").status == OK


def test_every_python_on_the_machine_is_listed(orbit: Orbit):
    import sys

    from jupyter_orbit import pythons

    _, found = checks(orbit)
    [c] = found["pythons"]
    assert c["status"] == "ok"
    here = [i for i in pythons.discover() if i.usable]
    assert here and all(i.label() in c["detail"] for i in here)
    assert f"{sys.version_info[0]}.{sys.version_info[1]}." in c["detail"]
    if any(i.source == "pyenv" for i in here):  # this machine: 3.6 … 3.13 under pyenv
        assert "(pyenv)" in c["detail"]
    assert (orbit.home / "cache" / "pythons.json").is_file()  # asked once, kept
