"""Orbit on aarch64: `orbit run` of a numpy notebook in a Debian arm64 root under qemu-user.

Orbit is installed from this checkout (a wheel built with ``pip wheel --no-deps .``) into a root
whose dependencies came from PyPI (tests/support/armroot.py builds it once and caches it); the
notebook's own environment is built inside the root by Orbit itself, with uv, as of a fixed date.
Minutes even with the root cached: marked slow, skipped unless ``ORBIT_SLOW_TESTS=1``; CI runs it
in a step of its own after the main run (.ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from tests.support import armroot

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_orbit_runs_a_numpy_notebook_on_arm64(tmp_path):
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (an emulated arm64 root): ORBIT_SLOW_TESTS=1 runs it; CI does")
    if why := armroot.binfmt_ready():
        pytest.skip(f"cannot run arm64 programs here: {why}")
    root = armroot.prepare()
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            str(armroot.REPO),
            "-w",
            str(wheels),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("jupyter_orbit-*.whl")
    layer = tmp_path / "layer"
    work = layer / "u" / "work"
    work.mkdir(parents=True)
    (work / wheel.name).write_bytes(wheel.read_bytes())
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["orbit"] = {"packages": {"pypi": ["numpy"]}}
    nb.cells = [
        nbformat.v4.new_code_cell("import platform\nimport numpy as np\nprint(platform.machine())"),
        nbformat.v4.new_code_cell("print((np.arange(1, 5) ** 2).sum(), np.__version__)"),
    ]
    nbformat.write(nb, work / "squares.ipynb")
    script = f"""
{armroot.VENV}/bin/pip install --quiet --no-deps --no-index --disable-pip-version-check /work/{wheel.name}
export ORBIT_HOME=/root/orbit-home
cd /work
uname -m
{armroot.VENV}/bin/python -c 'import platform; print("orbit on", platform.machine())'
{armroot.VENV}/bin/orbit run squares.ipynb --yes --no-server --as-of 2025-06-01 -o out.ipynb
"""
    r = armroot.run(root, layer, script, timeout=3000)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert r.stdout.splitlines()[:2] == ["aarch64", "orbit on aarch64"]
    out = nbformat.read(work / "out.ipynb", as_version=4)
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in out.cells]
    assert texts[0] == "aarch64\n"
    total, version = texts[1].split()
    assert total == "30" and version.startswith("2.")  # numpy 2.x, as of 2025-06-01
    # the environment Orbit built inside the root holds aarch64 binaries
    built = list(
        (layer / "u" / "root" / "orbit-home" / "envs" / "local").glob(
            "*/lib/python3*/site-packages/numpy/_core/_multiarray_umath*.so"
        )
    )
    assert built and "aarch64" in built[0].name
