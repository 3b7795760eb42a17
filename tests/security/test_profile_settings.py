"""Attacks on the profile's server settings: `orbit config set` and `orbit profile import`.

A setting is judged by the trait it sets, however the class section is spelled (the subclass
`OrbitServerApp`, a parent such as `JupyterApp`, a kernel manager's subclass …); imports carry
only the settings on the allow-list; the import file itself is read as a regular file, capped
in size before reading and bounded in depth. Every refusal leaves ORBIT_HOME byte-identical.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_orbit import settings as st
from jupyter_orbit.errors import InputError
from jupyter_orbit.profiles import allow, archive, traits
from tests.conftest import Orbit, snapshot
from tests.profiles.test_archive import export_text, good_files


@pytest.fixture(scope="module")
def classes() -> dict[str, type]:
    return traits.configurable_classes(None)


# Each spelling reaches a trait Orbit's safety depends on; the value is what the attack set.
HOSTILE = [
    ("OrbitServerApp.ip", "0.0.0.0"),
    ("JupyterApp.ip", "0.0.0.0"),  # traitlets applies a parent's section to the server too
    ("Application.ip", "0.0.0.0"),
    ("OrbitServerApp.allow_remote_access", True),
    ("OrbitServerApp.disable_check_xsrf", True),
    ("OrbitServerApp.allow_origin", "*"),
    ("OrbitServerApp.allow_origin_pat", ".*"),
    ("OrbitServerApp.allow_credentials", True),
    ("OrbitServerApp.tornado_settings", {"disable_check_xsrf": True}),
    ("LabApp.settings", {"allow_origin": "*"}),  # an extension's settings reach tornado's
    ("OrbitServerApp.jpserver_extensions", {"evil_module": True}),
    ("OrbitServerApp.token", "known-token"),
    ("OrbitServerApp.port", 8888),
    ("OrbitServerApp.root_dir", "/"),
    ("FileContentsManager.root_dir", "/"),
    ("AsyncLargeFileManager.root_dir", "/"),
    ("OrbitServerApp.kernel_manager_class", "evil.Manager"),
    ("JupyterApp.kernel_manager_class", "evil.Manager"),
    ("AsyncMultiKernelManager.kernel_manager_class", "evil.Manager"),
    ("KernelManager.ip", "0.0.0.0"),  # kernels' ZMQ ports on every interface
    ("ServerKernelManager.transport", "ipc"),
    ("OrbitExtension.allow_host_access", True),
    ("GatewayClient.url", "http://gateway.example"),
    ("LabApp.extension_manager", "pypi"),
    ("OrbitServerApp.open_browser", True),
    ("IdentityProvider.token", "known-token"),
]


@pytest.mark.parametrize(("key", "value"), HOSTILE, ids=[k for k, _ in HOSTILE])
def test_safety_settings_are_refused_however_spelled(classes, key, value):
    """`orbit config set` (checked against the server's classes) refuses each one."""
    raw = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(traits.TraitProblem) as e:
        traits.check(classes, key, raw=raw)
    assert "cannot be set in a profile" in e.value.message
    with pytest.raises(traits.TraitProblem):
        traits.check(classes, key, value=value, strict=True)


def test_a_subclass_spelling_names_the_trait_it_sets(classes):
    with pytest.raises(traits.TraitProblem) as e:
        traits.check(classes, "JupyterApp.kernel_manager_class", raw="evil.Manager")
    assert "it sets ServerApp.kernel_manager_class" in e.value.message
    assert "ServerApp.ip" in allow.spellings("OrbitServerApp.ip", classes)
    assert "ConnectionFileMixin.ip" in allow.spellings("AsyncIOLoopKernelManager.ip", classes)


# Settings `orbit config set` takes from the user, but an imported file may not carry: they run
# commands, load code, or point the server at folders and URLs.
NOT_IMPORTABLE = [
    (
        "LanguageServerManager.language_servers",
        {"evil": {"argv": ["touch", "/tmp/orbit-pwned"], "languages": ["python"], "version": 2}},
    ),
    ("LanguageServerManagerAPI.nodejs", "/tmp/evil-node"),
    ("ServerApp.terminado_settings", {"shell_command": ["/tmp/evil-shell"]}),
    ("OrbitServerApp.terminado_settings", {"shell_command": ["/tmp/evil-shell"]}),
    ("ContentsManager.pre_save_hook", "evil.hook"),
    ("FileContentsManager.post_save_hook", "evil.hook"),
    ("ServerApp.contents_manager_class", "evil.Manager"),
    ("ServerApp.extra_static_paths", ["/"]),
    ("LabApp.news_url", "https://tracker.example/news"),
    ("PluginManager.level", "user"),
    ("KernelSpecManager.allowed_kernelspecs", ["evil"]),
    ("ServerApp.autoreload", True),
]


@pytest.mark.parametrize(("key", "value"), NOT_IMPORTABLE, ids=[k for k, _ in NOT_IMPORTABLE])
def test_imports_take_only_the_allow_list(classes, key, value):
    with pytest.raises(traits.TraitProblem) as e:
        traits.check(classes, key, value=value, strict=True)
    assert "imported profiles may not set it" in e.value.message
    assert f"orbit config set {key}" in e.value.hint


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ServerApp.shutdown_no_activity_timeout", 3600),
        ("OrbitServerApp.shutdown_no_activity_timeout", 3600),  # the same trait
        ("MappingKernelManager.cull_idle_timeout", 600),
        ("ContentsManager.allow_hidden", True),
        ("Application.log_level", "DEBUG"),
        ("OrbitExtension.pool_per_env", 2),
    ],
)
def test_the_allow_list_imports(classes, key, value):
    assert traits.check(classes, key, value=value, strict=True) == value


def test_every_rule_names_a_real_trait(classes):
    """A rule that names no trait protects nothing (a typo, or an upstream rename)."""
    assert allow.unknown(allow.REFUSED, classes) == []
    assert allow.unknown(allow.IMPORTABLE, classes) == []
    for key in allow.IMPORTABLE:
        assert allow.importable(key, classes), key
        assert not traits.is_secret(key), key


# -- the import file itself -------------------------------------------------------------------


def _import(orbit_home: Path, user_home: Path, path: Path, *extra: str, limit_gb: float = 2):
    """`orbit profile import PATH --no-build` in a child whose address space is capped: a read
    that does not stop would end in MemoryError there, not eat the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))} | {
        "ORBIT_HOME": str(orbit_home),
        "HOME": str(user_home),
    }

    def cap() -> None:
        size = int(limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    cmd = [sys.executable, "-m", "jupyter_orbit", "profile", "import", str(path), "--no-build"]
    return subprocess.run(
        [*cmd, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
        cwd=user_home,
    )


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path]:
    home, user = tmp_path / "orbit-home", tmp_path / "home"
    home.mkdir()
    user.mkdir()
    return home, user


@pytest.mark.integration
def test_a_symlink_to_dev_zero_is_refused_at_once(homes, tmp_path):
    link = tmp_path / "teaching.orbit-profile.toml"
    link.symlink_to("/dev/zero")
    r = _import(*homes, link)
    assert r.returncode == 2, r.stderr
    assert "not a regular file (a character device)" in r.stderr
    assert "MemoryError" not in r.stderr and "internal error" not in r.stderr
    assert list(homes[0].iterdir()) == []


@pytest.mark.integration
def test_a_fifo_is_refused_without_waiting_for_a_writer(homes, tmp_path):
    fifo = tmp_path / "teaching.orbit-profile.toml"
    os.mkfifo(fifo)
    r = _import(*homes, fifo)  # before: blocked in open() until the timeout
    assert r.returncode == 2, r.stderr
    assert "not a regular file (a FIFO)" in r.stderr
    assert list(homes[0].iterdir()) == []


def test_an_oversized_file_is_refused_before_a_byte_is_read(tmp_path):
    big = tmp_path / "big.orbit-profile.toml"
    with big.open("wb") as f:  # sparse: 100 MB that costs no disk
        f.truncate(100 * 2**20)
    with pytest.raises(InputError, match="reads at most"):
        archive.read_import(big)


@pytest.mark.parametrize(
    "where",
    ["toml", "server config", "lab settings", "profile.toml"],
)
def test_ten_thousand_levels_of_nesting_are_a_clear_error(tmp_path, where):
    deep = 10_000
    files = good_files()
    if where == "server config":
        files["jupyter/config/jupyter_server_config.json"] = "[" * deep + "]" * deep
    elif where == "lab settings":
        key = next(k for k in files if k.endswith(".jupyterlab-settings"))
        files[key] = '{"a": ' + "[" * deep + "]" * deep + "}"
    elif where == "profile.toml":
        files["profile.toml"] += "x = " + "[" * deep + "]" * deep + "\n"
    text = export_text(files)
    if where == "toml":
        text += "[more]\nx = " + "[" * deep + "]" * deep + "\n"
    path = tmp_path / "deep.orbit-profile.toml"
    path.write_text(text)
    with pytest.raises(InputError) as e:  # before: RecursionError, "internal error"
        archive.read_import(path)
    assert "nested" in e.value.message


def test_duplicate_keys_in_the_server_config_are_refused(tmp_path):
    files = good_files()
    files["jupyter/config/jupyter_server_config.json"] = (
        '{"ServerApp": {"shutdown_no_activity_timeout": 1},'
        ' "ServerApp": {"shutdown_no_activity_timeout": 2}}'
    )
    path = tmp_path / "dup.orbit-profile.toml"
    path.write_text(export_text(files))
    with pytest.raises(InputError, match="ServerApp is given twice"):
        archive.read_import(path)


def test_an_imported_profile_cannot_allow_package_indexes(tmp_path):
    files = good_files()
    files["profile.toml"] += '\n[indexes]\nallowed = ["https://evil.example/simple"]\n'
    path = tmp_path / "idx.orbit-profile.toml"
    path.write_text(export_text(files))
    with pytest.raises(InputError, match="may not choose where packages come from"):
        archive.read_import(path)


def test_an_export_leaves_the_allowed_indexes_out(tmp_path):
    from dataclasses import replace

    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles.store import ProfileStore

    paths = Paths(tmp_path / "home")
    store = ProfileStore(paths)
    settings = store.settings("default", create=True)
    store.save("default", replace(settings, allowed_indexes=("https://mine.example/simple",)))
    exported = archive.export(paths, "default")
    assert "mine.example" not in exported.text
    assert any("allowed package index https://mine.example/simple" in x for x in exported.left_out)


def test_a_nested_config_section_is_refused(tmp_path):
    files = good_files()
    files["jupyter/config/jupyter_server_config.json"] = json.dumps(
        {"ServerApp": {"KernelManager": {"ip": "0.0.0.0"}}}
    )
    path = tmp_path / "nested.orbit-profile.toml"
    path.write_text(export_text(files))
    with pytest.raises(InputError, match="nested config section"):
        archive.read_import(path)


# -- end to end, the real command line --------------------------------------------------------


def _seed_settings() -> str:
    """profile.toml of the session's server environment seed (so no new server environment is
    built: the check runs in the seed's environment)."""
    return st.render(st.default_settings())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"OrbitServerApp": {"ip": "0.0.0.0"}}, "OrbitServerApp.ip cannot be"),
        ({"OrbitServerApp": {"disable_check_xsrf": True}}, "disable_check_xsrf cannot be"),
        ({"OrbitServerApp": {"allow_origin": "*"}}, "allow_origin cannot be"),
        ({"OrbitServerApp": {"jpserver_extensions": {"os": True}}}, "jpserver_extensions cannot"),
        ({"LabApp": {"settings": {"disable_check_xsrf": True}}}, "LabApp.settings cannot"),
        (
            {
                "LanguageServerManager": {
                    "language_servers": {
                        "evil": {
                            "argv": ["touch", "CANARY"],
                            "languages": ["python"],
                            "version": 2,
                            "display_name": "evil",
                            "mime_types": ["text/x-python"],
                        }
                    }
                }
            },
            "imported profiles may not set it",
        ),
    ],
    ids=["ip", "xsrf", "origin", "extensions", "lab-settings", "language-server"],
)
def test_imports_in_the_server_environment_refuse_and_write_nothing(
    orbit: Orbit, tmp_path, config, message
):
    """The default import checks every setting in the profile's own server environment (its
    classes, its extensions): each attack is refused, and nothing is written."""
    canary = tmp_path / "canary"
    text = json.dumps(config).replace("CANARY", str(canary))
    files = {"profile.toml": _seed_settings(), "jupyter/config/jupyter_server_config.json": text}
    path = tmp_path / "attack.orbit-profile.toml"
    path.write_text(export_text(files))
    before = snapshot(orbit.home)
    r = orbit.run("profile", "import", str(path), "--name", "attack")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "internal error" not in r.stderr
    assert snapshot(orbit.home) == before
    assert not (orbit.home / "profiles" / "attack").exists()
    assert not canary.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("OrbitServerApp.ip", "0.0.0.0"),
        ("JupyterApp.ip", "0.0.0.0"),
        ("OrbitServerApp.disable_check_xsrf", "true"),
        ("OrbitServerApp.allow_origin", "*"),
        ("OrbitServerApp.jpserver_extensions", '{"os": true}'),
        ("LabApp.settings", '{"disable_check_xsrf": true}'),
        ("KernelManager.ip", "0.0.0.0"),
    ],
)
def test_config_set_refuses_every_spelling(orbit: Orbit, key, value):
    config = orbit.home / "profiles" / "default" / "jupyter" / "config"
    r = orbit.run("config", "set", key, value)
    assert r.returncode == 2, r.stderr
    assert "cannot be set in a profile" in r.stderr
    assert not (config / "jupyter_server_config.json").exists()
