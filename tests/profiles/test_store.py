"""The profile store: create, clone, remove, the default; names checked, nothing half-made."""

import json

import pytest

from jupyter_orbit import settings as st
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.kernels.recipes import recipe_classes
from jupyter_orbit.paths import Paths
from jupyter_orbit.profiles.store import ProfileStore, default_profile_name
from tests.conftest import snapshot

RECIPES = recipe_classes()


@pytest.fixture
def store(tmp_path):
    return ProfileStore(Paths(tmp_path / "home"))


def test_create_list_use_remove(store):
    s = st.default_settings()
    store.create("teaching", s)
    store.create("research", s)
    assert store.names() == ["research", "teaching"]
    assert store.settings("teaching") == s
    assert store.default() == "default"
    store.use("teaching")
    assert default_profile_name(store.paths, {}) == "teaching"
    assert default_profile_name(store.paths, {"ORBIT_PROFILE": "research"}) == "research"
    store.remove("teaching")
    assert store.names() == ["research"]
    assert store.default() == "default"  # the removed default is forgotten
    assert not store.leftovers()


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "a\\b", "..", ".hidden", "con", "NUL.txt", "x" * 65, "", "ok."]
)
def test_bad_names_write_nothing(store, name):
    store.paths.home.mkdir(parents=True)
    before = snapshot(store.paths.home)
    with pytest.raises(InputError):
        store.create(name, st.default_settings())
    with pytest.raises(InputError):
        store.use(name)
    assert snapshot(store.paths.home) == before
    assert list(store.paths.home.rglob("*")) == []


def test_existing_profile_is_not_touched(store):
    store.create("teaching", st.default_settings())
    before = snapshot(store.paths.home / "profiles" / "teaching")
    with pytest.raises(InputError, match="already exists"):
        store.create("teaching", st.default_settings().with_extensions(["x==1"]))
    with pytest.raises(InputError, match="already exists"):
        store.clone("teaching", "teaching")
    assert snapshot(store.paths.home / "profiles" / "teaching") == before


def test_failed_creation_leaves_nothing(store):
    def fill(stage):
        (stage.root / "half").write_text("written")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        store.new("teaching", fill)
    assert not store.exists("teaching")
    assert store.leftovers() == []


def test_clone_copies_settings_and_config_not_private_state(store):
    s = st.default_settings().with_extensions(["jupyterlab-execute-time==3.3.0"])
    src = store.create("teaching", s)
    src.ensure()
    (src.config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"shutdown_no_activity_timeout": 60}})
    )
    theme = src.lab_settings_dir / "@jupyterlab" / "apputils-extension"
    theme.mkdir(parents=True)
    (theme / "themes.jupyterlab-settings").write_text('{"theme": "JupyterLab Dark"}')
    src.workspaces_dir.mkdir(parents=True)
    (src.workspaces_dir / "default-37a8.jupyterlab-workspace").write_text('{"data": {}}')
    src.browser_dir.mkdir(parents=True)
    (src.browser_dir / "Cookies").write_text("session=secret")
    (src.root / "server.json").write_text("{}")
    (src.logs_dir / "server.log").write_text("log")

    dst = store.clone("teaching", "research")
    assert store.settings("research") == s
    assert (dst.config_dir / "jupyter_server_config.json").read_text() == (
        src.config_dir / "jupyter_server_config.json"
    ).read_text()
    assert (
        dst.lab_settings_dir / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    ).exists()
    assert (dst.workspaces_dir / "default-37a8.jupyterlab-workspace").exists()
    assert (dst.kernels_dir / "python3" / "kernel.json").exists()
    assert not dst.browser_dir.exists() or not any(dst.browser_dir.iterdir())
    assert not (dst.root / "server.json").exists()
    assert not (dst.logs_dir / "server.log").exists()


def test_remove_refuses_a_running_profile(store):
    import os

    from jupyter_orbit.state import process_identity

    prof = store.create("teaching", st.default_settings())
    started, cmdline = process_identity(os.getpid())  # this very process stands in
    state = {
        "pid": os.getpid(),  # alive
        "process_start": started,
        "cmdline": list(cmdline),
        "url": "http://127.0.0.1:1/",
        "port": 1,
        "root_dir": "/",
        "token": "t",
        "profile": "teaching",
        "started": "",
        "log": "",
    }
    prof.server_state.write_text(json.dumps(state))
    with pytest.raises(OrbitError, match="has a server running"):
        store.remove("teaching")
    assert store.exists("teaching")


def test_unknown_profile_names_the_known_ones(store):
    store.create("teaching", st.default_settings())
    with pytest.raises(InputError) as e:
        store.profile("reserch")
    assert "teaching" in e.value.hint


def test_kernel_choice_prunes_kernelspecs(store):
    s = st.default_settings()
    from dataclasses import replace

    none = replace(s, defaults=replace(s.defaults, kernels=()))
    prof = store.create("bare", none)
    prof.ensure()
    assert store.install_kernelspecs(prof, none) == []
    assert not (prof.kernels_dir / "python3").exists()
    python = replace(s, defaults=replace(s.defaults, kernels=("python",)))
    assert store.install_kernelspecs(prof, python) == ["python3"]
    assert (prof.kernels_dir / "python3" / "kernel.json").exists()
    # every kernel Orbit has a recipe for (the default), then back to Python alone
    assert set(store.install_kernelspecs(prof, s)) == {c.kernelspec_name for c in RECIPES.values()}
    assert store.install_kernelspecs(prof, python) == ["python3"]
    assert sorted(p.name for p in prof.kernels_dir.iterdir()) == ["python3"]


def test_the_default_profile_is_made_when_first_asked_for(store):
    prof = store.profile("default")
    assert prof.settings_file.exists()
    assert store.settings("default") == st.default_settings()
    with pytest.raises(InputError, match="no profile named 'other'"):
        store.profile("other")
