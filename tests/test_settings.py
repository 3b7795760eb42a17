"""profile.toml: checked whole on every read, edited round-trip."""

from pathlib import Path

import pytest

from jupyter_orbit import settings as st
from jupyter_orbit.errors import InputError

GOOD = """\
# my teaching setup
description = "Course notebooks"

[server]
python = "3.11"
jupyterlab = "4.2.5"   # pinned for the course
extensions = ["jupyterlab-execute-time==3.2.0"]

[defaults]
engine = "local"
kernels = ["python"]
pool_per_env = 2
pool_max_envs = 1
"""


def test_reads_a_good_file():
    s = st.parse(GOOD, Path("profile.toml"))
    assert s.description == "Course notebooks"
    assert s.server.jupyterlab == "4.2.5"
    assert s.server.extension_names() == {
        "jupyterlab-execute-time": "jupyterlab-execute-time==3.2.0"
    }
    assert s.defaults.kernels == ("python",) and s.defaults.pool_per_env == 2


def test_defaults_reach_the_server_extension():
    from traitlets.config import Config

    from jupyter_orbit.profiles.server_env import launch_args
    from jupyter_orbit.server.extension import OrbitExtension

    text = GOOD.replace('engine = "local"', 'engine = "docker"')
    app = OrbitExtension(config=Config())
    app.parse_command_line(list(launch_args(st.parse(text, Path("profile.toml")))))
    assert app.default_engine == "docker"
    assert (app.pool_per_env, app.pool_max_envs) == (2, 1)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[defaults]", "[defaultz]"), "defaultz: unknown setting"),
        (('engine = "local"', 'engin = "local"'), "defaults.engin: unknown setting"),
        (('engine = "local"', 'engine = "podman-x"'), "unknown engine 'podman-x'"),
        (('kernels = ["python"]', 'kernels = ["cobol"]'), "unknown kernel 'cobol'"),
        (("pool_per_env = 2", "pool_per_env = 999"), "out of range"),
        (("pool_max_envs = 1", 'pool_max_envs = 1\nservices = "later"'), "defaults.services"),
        (("pool_per_env = 2", 'pool_per_env = "2"'), "must be a int"),
        (('python = "3.11"', 'python = "python3"'), "is not a Python version"),
        (('jupyterlab = "4.2.5"', 'jupyterlab = "latest"'), "is not a version"),
        (("==3.2.0", " is good"), "is not a valid requirement"),
        (('["jupyterlab-execute-time==3.2.0"]', '["jupyterlab==4.0"]'), "part of the server"),
        (
            ('["jupyterlab-execute-time==3.2.0"]', '["a-ext", "A_Ext==1"]'),
            "listed twice",
        ),
        (("[server]", "[server"), "not valid TOML"),
    ],
)
def test_refuses_mistakes_naming_file_and_key(edit, message):
    bad = GOOD.replace(*edit)
    assert bad != GOOD
    with pytest.raises(InputError) as e:
        st.parse(bad, Path("/p/profile.toml"))
    assert message in str(e.value)
    assert str(e.value).startswith("/p/profile.toml")
    assert e.value.hint


def test_parse_error_has_a_line():
    with pytest.raises(InputError) as e:
        st.parse(GOOD.replace("[defaults]", "[defaults"), Path("p.toml"))
    assert e.value.line == 9


def test_edits_keep_comments_and_order(tmp_path):
    path = tmp_path / "profile.toml"
    path.write_text(GOOD)
    s = st.read(path)
    st.write(path, s.with_extensions(["jupyterlab-spellchecker==0.8", *s.server.extensions]))
    text = path.read_text()
    assert "# my teaching setup" in text and "# pinned for the course" in text
    assert text.index("[server]") < text.index("[defaults]")
    again = st.read(path)
    assert again.server.extensions == (
        "jupyterlab-execute-time==3.2.0",
        "jupyterlab-spellchecker==0.8",
    )
    assert again.defaults == s.defaults


def test_new_file_round_trips(tmp_path):
    s = st.default_settings()
    path = tmp_path / "profile.toml"
    st.write(path, s)
    assert st.read(path) == s
    assert path.read_text().startswith("# Settings of an Orbit profile")
    assert 'kernels = "all"' in path.read_text()


def test_orbit_goes_into_the_server_environment_as_it_was_installed(tmp_path):
    from jupyter_orbit import __version__
    from jupyter_orbit.profiles.server_env import orbit_requirement, requirement_from_direct_url

    checkout = tmp_path.as_uri()
    assert requirement_from_direct_url(None) == f"jupyter-orbit=={__version__}"
    assert requirement_from_direct_url({"url": checkout, "dir_info": {"editable": True}}) == (
        f"-e {checkout}"
    )
    assert requirement_from_direct_url({"url": checkout, "dir_info": {}}) == (
        f"jupyter-orbit @ {checkout}"
    )
    gone = (tmp_path / "gone").as_uri()
    assert (
        requirement_from_direct_url({"url": gone, "dir_info": {}})
        == f"jupyter-orbit=={__version__}"
    )
    git = {"url": "https://example.org/orbit.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}
    assert (
        requirement_from_direct_url(git) == "jupyter-orbit @ git+https://example.org/orbit.git@abc"
    )
    # this checkout is an editable install
    assert orbit_requirement().startswith("-e file://")


def test_announcements_are_off_unless_the_profile_turns_them_on(tmp_path):
    from dataclasses import replace

    path = tmp_path / "profile.toml"
    fresh = st.default_settings(python="3.12", jupyterlab="4.4.0")
    assert fresh.defaults.announcements is False
    st.write(path, fresh)
    assert "announcements = false" in path.read_text()
    on = replace(fresh, defaults=replace(fresh.defaults, announcements=True))
    st.write(path, on)  # an edit of a boolean in place
    assert "announcements = true" in path.read_text() and st.read(path) == on
    path.write_text(path.read_text().replace("announcements = true", 'announcements = "yes"'))
    with pytest.raises(InputError, match="must be a bool"):
        st.read(path)


def test_services_beside_kernels_stop_after_them_unless_the_profile_says_otherwise():
    assert st.parse(GOOD, Path("profile.toml")).defaults.services == "stop"
    kept = st.parse(GOOD + 'services = "keep"\n', Path("profile.toml"))
    assert kept.defaults.services == "keep"
    assert 'services = "keep"' in st.render(kept, GOOD + 'services = "keep"\n')
    assert "services" not in st.render(st.parse(GOOD, Path("profile.toml")), GOOD)  # as it was


def test_the_cooldown_is_a_profile_setting(tmp_path):
    path = tmp_path / "profile.toml"
    assert st.cooldown_days(path) == 7  # no file: the default
    path.write_text(GOOD)
    assert st.cooldown_days(path) == 7
    assert "cooldown" not in path.read_text()
    path.write_text(GOOD + "cooldown_days = 14\n")
    assert st.cooldown_days(path) == 14
    st.write(path, st.read(path))
    assert "cooldown_days = 14" in path.read_text()
    with pytest.raises(InputError, match=r"defaults\.cooldown_days: 1000 is out of range"):
        st.parse(GOOD + "cooldown_days = 1000\n", path)
    # A profile that never set it is written as it was.
    plain = tmp_path / "plain.toml"
    st.write(plain, st.default_settings())
    assert "cooldown" not in plain.read_text()


def test_the_pool_memory_budget_is_a_profile_setting(tmp_path):
    from traitlets.config import Config

    from jupyter_orbit.profiles.server_env import launch_args
    from jupyter_orbit.server.extension import OrbitExtension

    plain = st.parse(GOOD, Path("profile.toml"))
    assert plain.defaults.pool_memory_mb is None  # sized from the RAM by the server
    assert not any("pool_memory_mb" in a for a in launch_args(plain))
    assert OrbitExtension(config=Config()).pool_memory_mb is None
    set_ = st.parse(GOOD + "pool_memory_mb = 256\n", Path("profile.toml"))
    assert set_.defaults.pool_memory_mb == 256
    app = OrbitExtension(config=Config())
    app.parse_command_line(list(launch_args(set_)))
    assert app.pool_memory_mb == 256
    path = tmp_path / "profile.toml"
    st.write(path, set_)
    assert "pool_memory_mb = 256" in path.read_text()
    fresh = tmp_path / "plain.toml"
    st.write(fresh, plain)  # written only when set
    assert "pool_memory_mb" not in fresh.read_text()
    for bad, message in (("-1", "out of range"), ('"1G"', "must be a int")):
        with pytest.raises(InputError, match=rf"defaults\.pool_memory_mb: .*{message}") as e:
            st.parse(GOOD + f"pool_memory_mb = {bad}\n", Path("/p/profile.toml"))
        assert e.value.hint


def test_the_hot_add_spares_are_a_profile_setting():
    from traitlets.config import Config

    from jupyter_orbit.profiles.server_env import launch_args
    from jupyter_orbit.server.extension import OrbitExtension

    assert st.parse(GOOD, Path("profile.toml")).defaults.hot_add_spares == 1
    assert OrbitExtension(config=Config()).hot_add_spares == 1
    none = st.parse(GOOD + "hot_add_spares = 0\n", Path("profile.toml"))
    app = OrbitExtension(config=Config())
    app.parse_command_line(list(launch_args(none)))
    assert app.hot_add_spares == 0
    with pytest.raises(InputError, match=r"defaults\.hot_add_spares: 99 is out of range"):
        st.parse(GOOD + "hot_add_spares = 99\n", Path("/p/profile.toml"))


def test_a_setting_back_at_its_default_leaves_the_file():
    from dataclasses import replace

    base = st.parse(GOOD, Path("profile.toml"))
    for field, value in (
        ("cooldown_days", 14),
        ("pool_memory_mb", 512),
        ("services", "keep"),
        ("hot_add_spares", 0),
    ):
        changed = replace(base, defaults=replace(base.defaults, **{field: value}))
        text = st.render(changed, "# mine\n" + GOOD)
        assert f"{field} = " in text
        back = st.render(base, text)
        assert f"{field} = " not in back and back.startswith("# mine\n")  # comments kept
        assert st.parse(back, Path("profile.toml")) == base
