"""verdaccio (the npm stand-in) prepared once per test session: a bundle's ``tool`` member.

Preparing it runs ``npm install verdaccio`` (hundreds of packages); every test that needs an npm
stand-in shares the one folder this fixture packs.
"""

from __future__ import annotations

import shutil

import pytest

from jupyter_orbit.bundle import archive


@pytest.fixture(scope="session")
def verdaccio_tool(tmp_path_factory: pytest.TempPathFactory) -> archive.Entry:
    """The ``tool`` entry holding verdaccio and its dependencies (skips without npm)."""
    from jupyter_orbit.bundle import collect

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    return collect.collect_verdaccio(tmp_path_factory.mktemp("verdaccio"))
