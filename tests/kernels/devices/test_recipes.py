"""The device recipes: on the kernel menu through the entry point group, what they need, how
their kernels start; and, from the menu, a simulated board and oscilloscope answering cells."""

from __future__ import annotations

import asyncio
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jupyter_orbit.kernels.devices import recipes as hr
from jupyter_orbit.kernels.recipes import get_recipe, recipe_classes
from jupyter_orbit.plugins import RECIPES
from tests.conftest import Orbit
from tests.support.devices import SCOPE
from tests.support.kernelws import KernelWS, Server
from tests.support.launcher import Browserish, configure


def test_registered_through_the_entry_point_group():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group=RECIPES.group)}
    assert {"micropython", "scpi"} <= names
    assert {"micropython", "scpi"} <= set(RECIPES.own())  # Orbit's own, as the built-ins
    classes = recipe_classes()
    assert classes["micropython"] is hr.MicroPythonRecipe and classes["scpi"] is hr.ScpiRecipe
    assert isinstance(get_recipe("circuitpython"), hr.MicroPythonRecipe)
    assert isinstance(get_recipe("visa"), hr.ScpiRecipe)


def test_what_they_install_and_need():
    mp = hr.MicroPythonRecipe().summary()
    assert mp["packages"] == {"pypi": ["ipykernel", "pyserial"]}
    assert mp["system"][0]["what"] == "permission to open serial ports (group dialout)"
    assert hr.ScpiRecipe().summary()["packages"]["pypi"] == [
        "ipykernel",
        "pyvisa",
        "pyvisa-py",
        "matplotlib",
    ]


def test_serial_access_is_group_membership(monkeypatch):
    from jupyter_orbit.hardware.detect import Probe
    from jupyter_orbit.kernels.recipes import install_command

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(Probe, "user_groups", lambda self: frozenset({"users"}))
    recipe = hr.MicroPythonRecipe()
    (missing,) = recipe.missing()
    assert install_command([missing]).startswith("sudo usermod -aG dialout $USER")
    monkeypatch.setattr(Probe, "user_groups", lambda self: frozenset({"users", "dialout"}))
    assert recipe.missing() == []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(Probe, "user_groups", lambda self: frozenset())
    assert recipe.missing() == []


def test_argv_runs_the_kernel_from_orbits_package_with_the_envs_python(tmp_path):
    argv = hr.MicroPythonRecipe().argv(tmp_path, tmp_path / "bin" / "python")
    assert argv[:3] == [str(tmp_path / "bin" / "python"), "-I", "-c"]
    assert "jupyter_orbit.kernels.devices.micropython" in argv[3]
    assert Path(argv[4]) == Path(hr.__file__).resolve().parents[2]
    assert argv[-2:] == ["-f", "{connection_file}"]


def test_logos_are_svg():
    for cls in (hr.MicroPythonRecipe, hr.ScpiRecipe):
        root = ET.fromstring(cls().logo_svg())
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 64 64"


def test_the_kernel_sees_its_environment_and_orbits_package_only(tmp_path):
    """Started with a bare environment's Python, the kernel finds Orbit's module but none of the
    packages Orbit itself runs with (here: no ipykernel, so it stops right there)."""
    import subprocess

    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "venv", "-q", str(tmp_path / "env")], check=True, timeout=120)
    python = tmp_path / "env" / "bin" / "python"
    argv = hr.MicroPythonRecipe().argv(tmp_path / "env", python)
    r = subprocess.run(
        [a.replace("{connection_file}", "x.json") for a in argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "jupyter_orbit/kernels/devices/micropython.py" in r.stderr
    assert "jupyter_orbit/kernels/devices/devicekernel.py" in r.stderr
    assert r.stderr.strip().endswith("ModuleNotFoundError: No module named 'ipykernel'")


# -- from the kernel menu ------------------------------------------------------------------------


class DeviceOrbit(Orbit):
    """Orbit with the simulated devices named in its server's environment."""

    extra: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra}


@pytest.mark.integration
def test_menu_opens_a_board_and_an_oscilloscope_that_answer(tmp_path, board):
    b = board()
    o = DeviceOrbit(tmp_path / "orbit-home", tmp_path / "home")
    o.user_home.mkdir()
    o.extra = {
        "ORBIT_SERIAL_PORT": b.port,
        "ORBIT_VISA_BACKEND": f"{SCOPE}@sim",
        "ORBIT_VISA_RESOURCE": "TCPIP0::127.0.0.1::inst0::INSTR",
    }
    root = tmp_path / "lab"
    root.mkdir()
    configure(o.home, prewarm_kernels=[])
    info = o.up(root)
    try:
        web = Browserish(info["url"], info["token"])
        cards = {k["name"]: k for k in web.state()["kernels"]}
        assert cards["micropython"]["display_name"] == "MicroPython (board)"
        logo = web.client.get(cards["scpi"]["logo_url"])
        assert logo.status_code == 200 and logo.text == hr.ScpiRecipe().logo_svg()
        server = Server(info["url"], info["token"])
        cells = {
            "micropython": (
                "import sys\nprint(sys.implementation.name, 6 * 7)",
                "micropython 42",
                [],
            ),
            # the simulated instrument is a package the notebook asks for, as a user would
            "scpi": (
                "*IDN?",
                "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP4",
                ["pyvisa-sim"],
            ),
        }
        for name, (code, expected, extra) in cells.items():
            created = web.launch(name, packages={"pypi": extra})
            assert created.status_code == 201, created.text
            done = web.events(created.json()["job"])[-1]
            assert done["done"] and done["ok"], done
            nb = json.loads((root / done["path"]).read_text())
            assert nb["metadata"]["kernelspec"]["name"] == name

            async def run(kernel_id=done["kernel_id"], code=code):
                async with KernelWS(server, kernel_id) as k:
                    await k.kernel_info(timeout=300)
                    return await k.execute(code, timeout=120)

            reply = asyncio.run(run())
            assert reply.status == "ok", reply
            assert reply.stdout.strip() == expected
        assert any(e["event"] == "exec" for e in b.events())
    finally:
        o.down_all()


def test_a_profile_can_offer_the_device_kernels(tmp_path):
    """Plug-in recipes count as kernels a profile offers (and its kernelspecs are pruned alike)."""
    from dataclasses import replace

    from jupyter_orbit import settings as st
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.profiles.store import ProfileStore

    assert st.check_kernels(["python", "micropython"], "profile.toml") == ["python", "micropython"]
    s = st.default_settings()
    store = ProfileStore(Paths(tmp_path))
    prof = store.create("lab", s)
    prof.ensure()
    assert {"micropython", "scpi"} <= set(store.install_kernelspecs(prof, s))
    board_only = replace(s, defaults=replace(s.defaults, kernels=("python", "micropython")))
    assert store.install_kernelspecs(prof, board_only) == ["python3", "micropython"]
    assert sorted(p.name for p in prof.kernels_dir.iterdir()) == ["micropython", "python3"]
