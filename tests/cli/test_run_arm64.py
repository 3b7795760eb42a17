"""Orbit on aarch64: `orbit run` of a numpy notebook in a Debian arm64 root under qemu-user.

Orbit is installed from this checkout (a wheel built with ``uv build``) into a root whose
dependencies came from PyPI (tests/support/armroot.py builds it once, natively, and caches it);
the notebook's own environment is built inside the root by Orbit itself, with uv, as of a fixed
date: that, the kernel and numpy are what run emulated. Minutes on a fresh machine: marked slow,
skipped unless ``ORBIT_SLOW_TESTS=1``; CI runs it in a step of its own after the main run
(.ci/run). Each phase's time goes to stderr (``-s`` shows it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import pytest

from tests.support import armroot

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_orbit_runs_a_numpy_notebook_on_arm64(tmp_path):
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (an emulated arm64 root): ORBIT_SLOW_TESTS=1 runs it; CI does")
    if why := armroot.binfmt_ready():
        pytest.skip(f"cannot run arm64 programs here: {why}")
    started = time.monotonic()

    def phase(what: str) -> None:
        print(f"arm64: {what} after {time.monotonic() - started:.0f} s", file=sys.stderr)

    root = armroot.prepare()
    phase(f"root {root.name} ready")
    from uv import find_uv_bin

    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            find_uv_bin(),
            "build",
            "--wheel",
            "--no-config",
            "-q",
            "-o",
            str(wheels),
            str(armroot.REPO),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("jupyter_orbit-*.whl")
    layer = tmp_path / "layer"
    armroot.install_orbit(wheel, layer)
    phase("Orbit installed")
    work = layer / "u" / "work"
    work.mkdir(parents=True)
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
    python = f"{armroot.VENV}/bin/python"
    script = f"""
export ORBIT_HOME=/root/orbit-home
cd /work
uname -m
{python} -c 'import platform; print("orbit on", platform.machine())'
{python} -m jupyter_orbit run squares.ipynb --yes --no-server --as-of 2025-06-01 -o out.ipynb
"""
    r = armroot.run(root, layer, script, timeout=3000)
    phase("orbit run done")
    print(r.stderr[-4000:], file=sys.stderr)  # Orbit's own steps, for CI's log
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
