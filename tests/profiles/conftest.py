"""Helpers for profile tests: extensions built as wheels on the fly."""

from pathlib import Path

import pytest

from tests.support.pypi_index import build_wheel

BROKEN_SERVER_EXTENSION = {
    "orbit_broken_ext/__init__.py": (
        "def _jupyter_server_extension_points():\n"
        "    return [{'module': 'orbit_broken_ext'}]\n\n"
        "def _load_jupyter_server_extension(serverapp):\n"
        "    raise RuntimeError('this extension is broken on purpose')\n"
    ),
    # enables itself the way real server extensions do
    "orbit_broken_ext-1.0.data/data/etc/jupyter/jupyter_server_config.d/orbit_broken_ext.json": (
        '{"ServerApp": {"jpserver_extensions": {"orbit_broken_ext": true}}}\n'
    ),
}


@pytest.fixture
def wheels(tmp_path: Path) -> dict[str, Path]:
    out = tmp_path / "wheels"
    return {
        # loads, then raises when the server loads it
        "broken": build_wheel(out, "orbit-broken-ext", "1.0", BROKEN_SERVER_EXTENSION),
        # cannot be installed beside the profile's JupyterLab
        "uninstallable": build_wheel(
            out,
            "orbit-old-ext",
            "1.0",
            {"orbit_old_ext/__init__.py": ""},
            requires=["jupyterlab<3"],
        ),
        # installs fine, but is no JupyterLab extension at all
        "plain": build_wheel(out, "orbit-plain-lib", "1.0", {"orbit_plain_lib/__init__.py": ""}),
    }
