"""Settings are checked against the traitlets classes they configure."""

import pytest

from jupyter_orbit.profiles import traits


@pytest.fixture(scope="module")
def classes():
    return traits.configurable_classes(None)


def test_the_server_its_extensions_and_orbit_are_known(classes):
    for name in (
        "ServerApp",
        "LabApp",
        "MappingKernelManager",
        "FileContentsManager",
        "OrbitExtension",
        "LanguageServerManager",  # a plain-module extension (jupyter_lsp)
        "TerminalManager",
    ):
        assert name in classes, name
    assert not any(n.startswith("_") for n in classes)


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("ServerApp.shutdown_no_activity_timeout", "3600", 3600),
        ("LabApp.collaborative", "false", False),
        ("LabApp.collaborative", "True", True),
        ("MappingKernelManager.cull_idle_timeout", "600", 600),
        ("KernelManager.shutdown_wait_time", "2.5", 2.5),
        ("ServerApp.extra_static_paths", '["/a", "/b"]', ["/a", "/b"]),
        ("FileContentsManager.hide_globs", "['*.pyc']", ["*.pyc"]),
        (
            "ServerApp.terminado_settings",
            '{"shell_command": ["/bin/bash"]}',
            {"shell_command": ["/bin/bash"]},
        ),
        ("LanguageServerManager.autodetect", "false", False),
        (
            "ServerApp.contents_manager_class",
            "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager",
            "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager",
        ),
    ],
)
def test_values_are_coerced_by_the_trait(classes, key, raw, value):
    assert traits.check(classes, key, raw=raw) == value


@pytest.mark.parametrize(
    ("key", "raw", "message", "hint"),
    [
        ("ServerApp.shutdown_no_activity_timeout", "soon", "takes an int", "Shut down the server"),
        ("LabApp.collaborative", "maybe", "takes a boolean", ""),
        ("ServerApp.extra_static_paths", "[1, 2]", "takes a list", "as JSON"),
        (
            "ServerApp.shutdown_timeout",
            "1",
            "ServerApp has no setting",
            "shutdown_no_activity_timeout",
        ),
        ("ServerAp.quit_button", "1", "unknown class 'ServerAp'", "did you mean ServerApp"),
        ("ServerApp", "1", "is not a setting name", "Class.setting"),
        ("ServerApp.contents_manager_class", "no.Such", "could not be imported", ""),
    ],
)
def test_wrong_keys_and_types_name_the_valid_ones(classes, key, raw, message, hint):
    with pytest.raises(traits.TraitProblem) as e:
        traits.check(classes, key, raw=raw)
    assert message in e.value.message
    assert hint in e.value.hint


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("ServerApp.ip", "127.0.0.1"),
        ("ServerApp.allow_remote_access", "127.0.0.1"),
        ("ServerApp.port", "orbit up --port"),
        ("ServerApp.token", "token"),
        ("IdentityProvider.token", "token"),
        ("ServerApp.disable_check_xsrf", "request checks"),
        ("ServerApp.jpserver_extensions", "orbit ext"),
        ("LabApp.extension_manager", "orbit ext"),
        ("ServerApp.kernel_spec_manager_class", "kernelspecs"),
        ("GatewayClient.url", "starts every kernel itself"),
        ("ServerApp.root_dir", "orbit up"),
        ("FileContentsManager.root_dir", "orbit up"),
    ],
)
def test_safety_keys_are_refused_saying_why(classes, key, why):
    with pytest.raises(traits.TraitProblem) as e:
        traits.check(classes, key, raw="x")
    assert "cannot be set in a profile" in e.value.message and why in e.value.message


@pytest.mark.parametrize(
    "key",
    [
        "ServerApp.contents_manager_class",
        "ServerApp.extra_static_paths",
        "ServerApp.terminado_settings",
        "ContentsManager.pre_save_hook",
        "LanguageServerManager.language_servers",
    ],
)
def test_imports_may_not_point_at_code_or_folders(classes, key):
    with pytest.raises(traits.TraitProblem, match="names code or folders"):
        traits.check(classes, key, value=None, strict=True)


def test_secrets_are_recognised():
    assert traits.is_secret("ServerApp.token")
    assert traits.is_secret("ServerApp.cookie_secret")
    assert traits.is_secret("Session.key")
    assert traits.is_secret("PasswordIdentityProvider.hashed_password")
    assert not traits.is_secret("ServerApp.shutdown_no_activity_timeout")
    assert not traits.is_secret("KernelManager.shutdown_wait_time")


def test_describe_lists_a_class(classes):
    rows = {r["key"]: r for r in traits.describe(classes, "ServerApp")}
    row = rows["ServerApp.shutdown_no_activity_timeout"]
    assert row["default"] == 0 and row["kind"] == "an int" and row["help"]
    assert rows["ServerApp.ip"]["refused"]
