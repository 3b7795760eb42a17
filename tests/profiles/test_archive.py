"""Export a profile to one file; import checks it as untrusted and writes nothing on refusal."""

import json
import tomllib

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.profiles import archive
from tests.conftest import Orbit, snapshot

SETTINGS = """\
description = "Course notebooks"

[server]
python = "3.11"
jupyterlab = "4.2.5"
extensions = ["jupyterlab-execute-time==3.3.0"]

[defaults]
engine = "local"
kernels = "all"
pool_per_env = 1
pool_max_envs = 3
"""


def export_text(files: dict[str, str], **header) -> str:
    """An export file, written directly (JSON strings are TOML strings)."""
    head = {
        "format": archive.FORMAT,
        "version": 1,
        "name": "teaching",
        "exported": "2025-01-01T00:00:00+00:00",
        "orbit": "0.1.0",
        **header,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in head.items()]
    lines.append("[files]")
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in files.items()]
    return "\n".join(lines) + "\n"


def good_files() -> dict[str, str]:
    return {
        "profile.toml": SETTINGS,
        "jupyter/config/jupyter_server_config.json": json.dumps(
            {"ServerApp": {"shutdown_no_activity_timeout": 3600}}
        ),
        "jupyter/config/lab/user-settings/@jupyterlab/apputils-extension/themes.jupyterlab-settings": (
            '{\n  // comments are allowed here\n  "theme": "JupyterLab Dark"\n}\n'
        ),
        "jupyter/data/lab/workspaces/default-37a8.jupyterlab-workspace": json.dumps(
            {"data": {}, "metadata": {"id": "default"}}
        ),
    }


def test_a_good_export_reads(tmp_path):
    path = tmp_path / "t.orbit-profile.toml"
    path.write_text(export_text(good_files()))
    incoming = archive.read_import(path)
    assert incoming.name == "teaching"
    assert incoming.settings.server.extensions == ("jupyterlab-execute-time==3.3.0",)
    assert incoming.server_config == {"ServerApp": {"shutdown_no_activity_timeout": 3600}}


def _with(**changes):
    files = good_files()
    for key, value in changes.items():
        files[key.replace("__", "/")] = value
    return files


LAB = "jupyter/config/lab/user-settings"
MALFORMED = {
    "traversal": (_with(**{"../../escape.jupyterlab-settings": "{}"}), "refusing the path"),
    "traversal inside": (
        {**good_files(), f"{LAB}/../../../../etc/x.jupyterlab-settings": "{}"},
        "refusing the path",
    ),
    "absolute": ({**good_files(), "/etc/passwd": "x"}, "refusing the path"),
    "backslash": ({**good_files(), f"{LAB}\\..\\x.jupyterlab-settings": "{}"}, "refusing the path"),
    "ipython startup code": (
        {**good_files(), "ipython/profile_default/startup/00-run.py": "import os"},
        "refusing the path",
    ),
    "kernelspec": (
        {**good_files(), "jupyter/data/kernels/evil/kernel.json": "{}"},
        "refusing the path",
    ),
    "case twins": (
        {
            **good_files(),
            f"{LAB}/a/b.jupyterlab-settings": "{}",
            f"{LAB}/A/b.jupyterlab-settings": "{}",
        },
        "differ only in case",
    ),
    "bad settings": (
        {**good_files(), "profile.toml": SETTINGS.replace("[defaults]", "[defaults]\nx = 1")},
        "defaults.x: unknown setting",
    ),
    "url extension": (
        {
            **good_files(),
            "profile.toml": SETTINGS.replace(
                '"jupyterlab-execute-time==3.3.0"', '"evil @ https://example.com/evil.whl"'
            ),
        },
        "comes from a URL",
    ),
    "loopback": (
        {
            **good_files(),
            "jupyter/config/jupyter_server_config.json": '{"ServerApp": {"ip": "0.0.0.0"}}',
        },
        "ServerApp.ip cannot be imported",
    ),
    "secret": (
        {
            **good_files(),
            "jupyter/config/jupyter_server_config.json": '{"ServerApp": {"cookie_secret_file": "/x"}}',
        },
        "cannot be imported",
    ),
    "not json": (
        {**good_files(), "jupyter/config/jupyter_server_config.json": "{oops"},
        "is not what it should hold",
    ),
    "workspace without data": (
        {**good_files(), "jupyter/data/lab/workspaces/w.jupyterlab-workspace": "{}"},
        "is not what it should hold",
    ),
    "no settings": (
        {k: v for k, v in good_files().items() if k != "profile.toml"},
        "no [files] table with profile.toml",
    ),
    "too many files": (
        {**good_files(), **{f"{LAB}/p/f{i}.jupyterlab-settings": "{}" for i in range(2001)}},
        "files is more than",
    ),
    "a huge file": (
        {**good_files(), f"{LAB}/big.jupyterlab-settings": "x" * (3 * 2**20)},
        "larger than",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_exports_are_refused(tmp_path, case):
    files, message = MALFORMED[case]
    path = tmp_path / "bad.orbit-profile.toml"
    path.write_text(export_text(files))
    with pytest.raises(InputError) as e:
        archive.read_import(path)
    assert message in str(e.value), str(e.value)
    assert e.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format = 'something-else'\nversion = 1\n", "not an Orbit profile export"),
        (export_text(good_files(), version=99), "made by a newer Orbit"),
        (export_text(good_files(), extra="x"), "unknown keys extra"),
        ("format = [unclosed", "not a valid profile export"),
        (b"\xff\xfe bytes".decode("latin-1"), "not"),
    ],
)
def test_not_an_export(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        archive.read_import(path)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.toml"
    with path.open("wb") as f:
        f.truncate(archive.MAX_FILE_BYTES + 1)
    with pytest.raises(InputError, match="reads at most"):
        archive.read_import(path)


@pytest.mark.integration
@pytest.mark.parametrize("case", ["traversal", "ipython startup code", "loopback", "url extension"])
def test_refused_imports_write_nothing(orbit: Orbit, tmp_path, case):
    files, message = MALFORMED[case]
    path = tmp_path / "bad.orbit-profile.toml"
    path.write_text(export_text(files))
    before = snapshot(orbit.home)
    r = orbit.run("profile", "import", str(path), "--no-build")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and str(path) in r.stderr
    assert snapshot(orbit.home) == before


@pytest.mark.integration
def test_code_loading_settings_are_refused_on_import(orbit: Orbit, tmp_path):
    files = good_files()
    files["jupyter/config/jupyter_server_config.json"] = json.dumps(
        {"ServerApp": {"contents_manager_class": "evil.Manager"}}
    )
    path = tmp_path / "t.orbit-profile.toml"
    path.write_text(export_text(files))
    before = snapshot(orbit.home)
    r = orbit.run("profile", "import", str(path), "--no-build")
    assert r.returncode == 2
    assert "names code or folders" in r.stderr and "orbit config set" in r.stderr
    assert snapshot(orbit.home) == before


@pytest.mark.integration
def test_export_then_import_on_a_fresh_home_reproduces_the_profile(
    orbit: Orbit, tmp_path, server_env_seed
):
    server_env_seed.plant(orbit.home, bytecode=True)
    assert orbit.run("profile", "create", "teaching", "--description", "Course").returncode == 0
    r = orbit.run("ext", "add", "jupyterlab-execute-time", "--profile", "teaching")
    assert r.returncode == 0, r.stderr
    for key, value in [
        ("ServerApp.shutdown_no_activity_timeout", "3600"),
        ("ContentsManager.allow_hidden", "true"),
        ("OrbitExtension.pool_per_env", "2"),
    ]:
        r = orbit.run("config", "set", key, value, "--profile", "teaching")
        assert r.returncode == 0, r.stderr
    prof = orbit.home / "profiles" / "teaching"
    theme = prof / "jupyter/config/lab/user-settings/@jupyterlab/apputils-extension"
    theme.mkdir(parents=True)
    (theme / "themes.jupyterlab-settings").write_text(
        '{\n  // mine\n  "theme": "JupyterLab Dark"\n}\n'
    )
    ws = prof / "jupyter/data/lab/workspaces"
    ws.mkdir(parents=True)
    (ws / "default-37a8.jupyterlab-workspace").write_text(
        '{"data": {}, "metadata": {"id": "default"}}'
    )
    # private things that must not travel
    (prof / "browser" / "Default").mkdir(parents=True)
    (prof / "browser" / "Default" / "Cookies").write_text("sessionid=browser-cookie-value")
    (prof / "server.json").write_text('{"token": "server-token-value"}')
    (prof / "ipython" / "profile_default").mkdir(parents=True, exist_ok=True)
    (prof / "ipython" / "profile_default" / "history.sqlite").write_text("history-value")
    config = prof / "jupyter/config/jupyter_server_config.json"
    data = json.loads(config.read_text())
    data["ServerApp"]["token"] = "config-token-value"  # a hand edit Orbit never makes
    config.write_text(json.dumps(data))

    out = tmp_path / "teaching.orbit-profile.toml"
    r = orbit.run("profile", "export", "teaching", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "left out: ServerApp.token" in r.stderr
    text = out.read_text()
    for secret in (
        "browser-cookie-value",
        "server-token-value",
        "history-value",
        "config-token-value",
    ):
        assert secret not in text
    assert tomllib.loads(text)["format"] == archive.FORMAT

    # another machine: a fresh ORBIT_HOME
    other = Orbit(tmp_path / "other-home", tmp_path / "other-user")
    other.user_home.mkdir()
    server_env_seed.plant(other.home, bytecode=True)
    r = other.run("profile", "import", str(out))
    assert r.returncode == 0, r.stderr
    assert "imported profile teaching" in r.stdout
    a = json.loads(orbit.run("profile", "show", "teaching", "--json").stdout)
    b = json.loads(other.run("profile", "show", "teaching", "--json").stdout)
    for info in (a, b):
        info.pop("root"), info.pop("settings_file"), info.pop("browser_dir"), info.pop("running")
        info["server"].pop("location")
    a["config"].pop("ServerApp.token")
    assert a == b
    assert b["server"]["built"] and b["description"] == "Course"
    new = other.home / "profiles" / "teaching"
    assert (
        new
        / "jupyter/config/lab/user-settings/@jupyterlab/apputils-extension/themes.jupyterlab-settings"
    ).read_text() == (theme / "themes.jupyterlab-settings").read_text()
    assert (new / "jupyter/data/lab/workspaces/default-37a8.jupyterlab-workspace").exists()
    assert not (new / "browser" / "Default").exists()
    assert not (new / "server.json").exists()

    # importing again under the same name is refused, nothing touched
    before = snapshot(other.home / "profiles")
    r = other.run("profile", "import", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr
    assert snapshot(other.home / "profiles") == before
    r = other.run("profile", "import", str(out), "--name", "teaching-copy", "--no-build")
    assert r.returncode == 0, r.stderr
