"""The issue's proof: a bundle built here serves a machine with no network at all.

The session's offline installer (``tests/support/offline_lab.py``: `orbit bundle --installer`
of a numpy + pandas notebook with an npm package and a data set, from real PyPI, npm and Orbit's
own source) is run in a network namespace where only loopback exists
(``tests/support/airgap.py``), with a fresh HOME, data root, uv and npm caches: it installs Orbit
as a uv tool from its wheels and the bundle (`orbit bundle install`: every hash verified, the
server environment built from the stand-in registries). That Orbit then runs the notebook
(`orbit run`: its environment from the stand-ins, the npm package from verdaccio, the data set),
refuses a package that is in no bundle with "offline: X is not in the bundle", and its server
opens the notebook and runs cells (pandas, the data set, `%pip install` of a bundled package,
`!npm install` of a bundled tarball, `%pip install` of one that is not). Minutes: marked slow
(``ORBIT_SLOW_TESTS=1``; CI runs it in a step of its own).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.airgap import airgapped, skip_reason
from tests.support.offline_lab import Shipped

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("ORBIT_SLOW_TESTS") != "1",
        reason="slow (builds and installs a bundle): ORBIT_SLOW_TESTS=1 runs it; CI does",
    ),
]
REPO = Path(__file__).resolve().parents[2]
# The Python the installer installs Orbit for: the one this venv was made from.
PYTHON = str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


@pytest.fixture(autouse=True)
def _needs():
    if why := skip_reason():
        pytest.skip(why)


def test_a_bundle_serves_a_machine_with_no_network(tmp_path, shipped: Shipped):
    base = tmp_path / "airgap"

    def offline(*args: str, timeout: float = 1200, env: dict[str, str] | None = None):
        return airgapped(
            [*args],
            base=base,
            timeout=timeout,
            cwd=tmp_path,
            env={"ORBIT_PYTHON": PYTHON, **(env or {})},
        )

    # no route at all: the namespace cannot reach PyPI
    probe = offline(
        sys.executable, "-c", "import socket; socket.create_connection(('pypi.org', 443), 5)"
    )
    assert probe.returncode != 0

    installed = offline("sh", str(shipped.installer))
    assert installed.returncode == 0, installed.stderr[-3000:]
    said = installed.stderr
    assert "Jupyter Orbit is installed. Start it with:" in said
    assert "every sha256 checked" in said
    assert "server environment from the bundles" in said, said[-2000:]
    orbit = str(base / "home" / ".local" / "bin" / "orbit")  # a uv tool of the fresh HOME
    assert Path(orbit).is_file()

    run = offline(orbit, "run", str(shipped.analysis), "--yes")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "total 6" in run.stdout
    assert "npm" in run.stderr  # the npm package was installed from the npm stand-in

    missing = offline(orbit, "run", str(shipped.extra), "--yes")
    assert missing.returncode != 0
    assert "offline: humanize is not in the bundle (bundled: " in missing.stderr
    assert "anyio, " in missing.stderr.split("offline: humanize")[1]  # what is there, by name

    session = offline(
        sys.executable,
        "-m",
        "tests.support.airgap_session",
        orbit,
        str(shipped.project),
        shipped.analysis.name,
        env={"PYTHONPATH": str(REPO)},
        timeout=1800,
    )
    assert session.returncode == 0, session.stderr[-3000:]
    result = json.loads(session.stdout.strip().splitlines()[-1])
    assert result["up"]["rc"] == 0, result["up"]["stderr"]
    cells = result["cells"]
    assert "sum 10" in cells["pandas"]["stdout"]
    assert "rows 3" in cells["data"]["stdout"]
    record = result["record"]
    assert record is not None, result["log"]  # the server serves the bundles while it runs
    assert record["pypi"].startswith("http://127.0.0.1:") and record["npm"].startswith(
        "http://127.0.0.1:"
    )
    assert f"index {record['pypi']}" in cells["index"]["stdout"]
    assert cells["pip"]["status"] == "ok", cells["pip"]
    assert "tomlkit" in cells["pip_import"]["stdout"], cells["pip_import"]
    assert "odd true" in cells["npm"]["stdout"], cells["npm"]
    assert "No matching distribution found for humanize" in (
        cells["pip_missing"]["stdout"] + cells["pip_missing"]["stderr"]
    )
    assert result["down"] == 0
