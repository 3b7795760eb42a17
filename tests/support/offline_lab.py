"""One offline installer built per test session for the slow offline proofs.

`orbit bundle --installer PROJECT` (real PyPI, npm and Orbit's own source, as of a fixed date)
writes a shell script carrying uv, Orbit's wheels, the default profile's server environment, a
new notebook's kernel and the project's environments: a numpy + pandas notebook with an npm
package and a data set. Both proofs run this one file, each with no network: on this machine in
a network namespace (``tests/cli/test_bundle_airgap.py``) and in a fresh Debian root
(``tests/bundler/test_installer.py``). Building it is most of their time, so it is built once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ORBIT = str(Path(sys.executable).with_name("orbit"))
AS_OF = "2025-06-01T00:00:00Z"


@dataclass
class Shipped:
    folder: Path  # what is carried to the offline machine (bound read-only into the root)
    installer: Path
    project: Path
    analysis: Path  # numpy + pandas, an npm package, a data set
    extra: Path  # asks for a package the bundle does not carry
    hello: Path  # declares nothing: a new notebook's kernel
    built: str  # what `orbit bundle --installer` said


def notebook(path: Path, cells: list[str], packages: dict | None = None) -> Path:
    meta: dict = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    }
    if packages is not None:
        meta["orbit"] = {"schema": 1, "as_of": AS_OF, "packages": packages}
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
        "metadata": meta,
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def _orbit(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [ORBIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Shipped:
    """The installer and the notebooks it is tried with (skips without npm)."""
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (builds an offline installer): ORBIT_SLOW_TESTS=1 runs it; CI does")
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    base = tmp_path_factory.mktemp("shipped")
    folder = base / "shipped"
    project = folder / "project"
    analysis = notebook(
        project / "analysis.ipynb",
        [
            "import os, numpy as np, pandas as pd",
            "df = pd.read_csv(os.path.join(os.environ['ORBIT_DATA'], 'numbers.csv'))",
            "print('total', int(np.asarray(df.x).sum()))",
        ],
        {"pypi": ["numpy", "pandas"], "npm": ["is-odd@3.0.1"]},
    )
    extra = notebook(folder / "other" / "extra.ipynb", ["1"], {"pypi": ["humanize"]})
    hello = notebook(
        folder / "hello.ipynb", ["import sys; print('hello from', sys.version_info[:2])"]
    )
    (base / "numbers.csv").write_text("x\n1\n2\n3\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["ORBIT_HOME"] = str(base / "builder-home")
    _orbit(["data", "add", str(base / "numbers.csv"), "--to", str(analysis)], env, base)
    installer = folder / "orbit-installer.sh"
    said = _orbit(
        ["bundle", "--installer", str(project), "--yes", "-q", "-o", str(installer)], env, base
    )
    return Shipped(folder, installer, project, analysis, extra, hello, said)
