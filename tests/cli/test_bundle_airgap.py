"""The issue's proof: a bundle built here serves a machine with no network at all.

`orbit bundle` builds it from a numpy + pandas notebook (with an npm package and a data set)
with real PyPI, npm and Orbit's own source; then, in a network namespace where only loopback
exists (``tests/support/airgap.py``), with a fresh HOME, data root, uv and npm caches:
`orbit bundle install` verifies and installs it, `orbit run` builds the notebook's environment
from the stand-in registries and runs it, the server opens it and runs cells (pandas, the data
set, `%pip install` of a bundled package, `!npm install` of a bundled tarball), and a package
that is in no bundle fails with "offline: X is not in the bundle". Minutes: marked slow
(``ORBIT_SLOW_TESTS=1``; CI runs it in a step of its own).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.airgap import airgapped, skip_reason

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
ORBIT = str(Path(sys.executable).with_name("orbit"))
AS_OF = "2025-06-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _needs():
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (builds and installs a bundle): ORBIT_SLOW_TESTS=1 runs it; CI does")
    if why := skip_reason():
        pytest.skip(why)
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")


def _notebook(path: Path, packages: dict, cells: list[str]) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": code,
            }
            for i, code in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "orbit": {"schema": 1, "as_of": AS_OF, "packages": packages},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def _orbit(args: list[str], env: dict[str, str], cwd: Path) -> str:
    import subprocess

    done = subprocess.run(
        [ORBIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_bundle_serves_a_machine_with_no_network(tmp_path):
    project = tmp_path / "project"
    analysis = _notebook(
        project / "analysis.ipynb",
        {"pypi": ["numpy", "pandas"], "npm": ["is-odd@3.0.1"]},
        [
            "import os, numpy as np, pandas as pd",
            "df = pd.read_csv(os.path.join(os.environ['ORBIT_DATA'], 'numbers.csv'))",
            "print('total', int(np.asarray(df.x).sum()))",
        ],
    )
    (tmp_path / "numbers.csv").write_text("x\n1\n2\n3\n")
    extra = _notebook(tmp_path / "other" / "extra.ipynb", {"pypi": ["humanize"]}, ["1"])
    online = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    online["ORBIT_HOME"] = str(tmp_path / "online-home")
    _orbit(["data", "add", str(tmp_path / "numbers.csv"), "--to", str(analysis)], online, tmp_path)
    bundle = tmp_path / "lab.orbit-bundle.tar.gz"
    said = _orbit(["bundle", str(project), "--yes", "-q", "-o", str(bundle)], online, tmp_path)
    assert "wrote" in said and bundle.is_file()

    base = tmp_path / "airgap"

    def offline(*args: str, timeout: float = 1200):
        return airgapped([*args], base=base, timeout=timeout, cwd=tmp_path)

    # no route at all: the namespace cannot reach PyPI
    probe = offline(
        sys.executable, "-c", "import socket; socket.create_connection(('pypi.org', 443), 5)"
    )
    assert probe.returncode != 0

    installed = offline(ORBIT, "bundle", "install", str(bundle))
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert "every sha256 checked" in installed.stdout
    assert "server environment from the bundles" in installed.stdout, installed.stderr[-2000:]

    run = offline(ORBIT, "run", str(analysis), "--yes")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "total 6" in run.stdout
    assert "npm" in run.stderr  # the npm package was installed from the npm stand-in

    missing = offline(ORBIT, "run", str(extra), "--yes")
    assert missing.returncode != 0
    assert "offline: humanize is not in the bundle (bundled: " in missing.stderr
    assert "anyio, " in missing.stderr.split("offline: humanize")[1]  # what is there, by name

    env = {"PYTHONPATH": str(REPO)}
    session = airgapped(
        [
            sys.executable,
            "-m",
            "tests.support.airgap_session",
            ORBIT,
            str(project),
            "analysis.ipynb",
        ],
        base=base,
        env=env,
        timeout=1800,
        cwd=REPO,
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
