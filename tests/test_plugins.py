"""Plug points from entry points: a package that registers a toy ecosystem (one module, one
entry point, no edit of Orbit) is searched and shows up in ``orbit env``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.plugins import ECOSYSTEMS, ENGINES, MANIFESTS, RECIPES, Registry
from tests.conftest import make_notebook

TOY = '''
from jupyter_orbit.ecosystems.base import Ecosystem, Found, Hit
from jupyter_orbit.model import Requirement


class Toy(Ecosystem):
    """Packages from a toy box: a name per line in toys.txt."""

    name = "toy"
    display_name = "Toy box"
    files = ("toys.txt",)

    @classmethod
    def parse(cls, text, origin=None):
        return Requirement("toy", text.strip().lower(), text.strip(), origin)

    def search(self, query, *, limit=10, prefix=""):
        return Found("toy", [Hit("toy", f"toy-{query}", "1.0", "from the toy box", None, 1)])
'''


def install_toy(site: Path) -> None:
    """What ``pip install toy-orbit`` leaves: a module and its distribution's entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "toy_orbit.py").write_text(textwrap.dedent(TOY))
    info = site / "toy_orbit-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-orbit\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[jupyter_orbit.ecosystems]\ntoy = toy_orbit:Toy\n")


def orbit(tmp_path: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.update(
        ORBIT_HOME=str(tmp_path / "orbit-home"),
        HOME=str(tmp_path / "home"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")])),
    )
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def test_a_toy_ecosystem_plugs_in_without_editing_orbit(tmp_path: Path):
    site = tmp_path / "site"
    install_toy(site)
    nb = make_notebook(
        tmp_path / "proj" / "nb.ipynb",
        "1",
        metadata={"orbit": {"packages": {"toy": ["Robot", "kite"]}}},
    )
    r = orbit(tmp_path, site, "env", str(nb), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    toys = [q for q in report["requirements"] if q["ecosystem"] == "toy"]
    assert sorted(q["requirement"] for q in toys) == ["Robot", "kite"]
    assert sorted(report["spec"]["packages"]["toy"]) == ["Robot", "kite"]
    # the local engine's plan has the toy box's own step, between the venv and the commit
    actions = [s["action"] for s in report["plan"]["steps"]]
    assert "toy" in actions and actions[0] == "venv" and actions[-1] == "commit"
    # planning wrote nothing but the cache (the Pythons found on the machine)
    assert [p.name for p in (tmp_path / "orbit-home").iterdir()] == ["cache"]

    r = orbit(tmp_path, site, "search", "robot", "--in", "toy", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["results"]
    assert [(h["ecosystem"], h["name"]) for h in hits] == [("toy", "toy-robot")]

    # without the package, the same notebook is refused with the valid names
    r = orbit(tmp_path, tmp_path / "empty-site", "env", str(nb))
    assert r.returncode == 2
    assert "unknown ecosystem 'toy'" in r.stderr and "apt, compose, conda, npm, pypi" in r.stderr


def test_orbits_own_plug_ins_come_from_its_entry_points():
    assert set(ENGINES.own()) == {"local", "docker", "ssh", "gateway"}
    assert set(ECOSYSTEMS.own()) == {"pypi", "conda", "npm", "apt", "compose"}
    assert {"requirements.txt", "environment.yml", "package.json"} <= set(MANIFESTS.own())
    assert {"python", "bash", "r", "octave"} <= set(RECIPES.own())
    for registry in (ENGINES, ECOSYSTEMS, MANIFESTS, RECIPES):
        for name, cls in registry.classes().items():
            assert cls.name == name


def test_unknown_names_and_misnamed_plug_ins_are_errors(tmp_path: Path, monkeypatch):
    with pytest.raises(InputError, match="unknown engine 'warp'") as e:
        ENGINES.load("warp")
    assert e.value.hint == "use one of: docker, gateway, local, ssh"
    assert ENGINES.find("warp") is None
    site = tmp_path / "site"
    install_toy(site)
    (site / "toy_orbit-1.0.dist-info" / "entry_points.txt").write_text(
        "[jupyter_orbit.ecosystems]\nblocks = toy_orbit:Toy\n"
    )
    monkeypatch.syspath_prepend(str(site))
    registry = Registry("ecosystem", "jupyter_orbit.ecosystems")
    with pytest.raises(InputError, match=r"registered as 'blocks'.*calls itself 'toy'"):
        registry.load("blocks")
    assert "blocks" not in registry.classes()  # left out, Orbit's own still load
    assert "pypi" in registry.classes()
