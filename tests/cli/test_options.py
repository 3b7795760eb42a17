"""``--profile`` means the same on every command: ORBIT_PROFILE, else `orbit profile use`."""

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jupyter_orbit import settings as st
from jupyter_orbit.cli import cli
from jupyter_orbit.cli._options import default_profile
from jupyter_orbit.paths import Paths
from jupyter_orbit.profiles.store import ProfileStore


def _profile_params(cmd: click.Command, path: str = "orbit"):
    for p in cmd.params:
        if p.name == "profile":
            yield path, p
    if isinstance(cmd, click.Group):  # every command, those imported only when asked for too
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from _profile_params(cmd.get_command(ctx, name), f"{path} {name}")


def test_every_command_takes_the_same_profile_default():
    found = dict(_profile_params(cli))
    # install-desktop's --profile narrows a launcher to one profile; without it, no profile
    del found["orbit install-desktop"]
    assert {"orbit up", "orbit run", "orbit add", "orbit hub up", "orbit ext add"} <= set(found)
    assert {path for path, p in found.items() if p.default is not default_profile} == set()


def test_the_profile_chosen_with_use_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("ORBIT_PROFILE", raising=False)
    monkeypatch.setenv("ORBIT_HOME", str(tmp_path / "orbit-home"))
    ProfileStore(Paths.from_env()).create("work", st.default_settings())
    runner = CliRunner()
    r = runner.invoke(cli, ["profile", "use", "work"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["status", "--json"])
    assert json.loads(r.output)["profile"] == "work", r.output
    monkeypatch.setenv("ORBIT_PROFILE", "other")
    assert default_profile() == "other"
