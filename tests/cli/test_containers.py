"""Bad input to the container commands: one message, exit 2, nothing started (no engine needed)."""

from pathlib import Path

from tests.conftest import Orbit, make_notebook


def test_unknown_engine_is_bad_input(orbit: Orbit, tmp_path: Path):
    nb = make_notebook(tmp_path / "nb.ipynb", "1")
    for args in (("run", str(nb), "--engine", "nope"), ("up", str(tmp_path), "--engine", "nope")):
        r = orbit.run(*args, "--no-browser") if args[0] == "up" else orbit.run(*args)
        assert r.returncode == 2, r.stderr
        assert (
            "unknown engine 'nope'" in r.stderr and "docker, " in r.stderr and "local" in r.stderr
        )
    assert not (orbit.home / "profiles" / "default" / "server.json").exists()


def test_hub_commands_without_a_hub(orbit: Orbit, tmp_path: Path):
    r = orbit.run("hub", "up", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such folder" in r.stderr
    r = orbit.run("hub", "down", "--help")
    assert r.returncode == 0 and "--volumes" in r.stdout
