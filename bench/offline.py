"""Offline bundles against what people would otherwise carry to a machine with no network.

For two projects — ``examples/hello`` (numpy) and a numpy + pandas notebook — each resolved as
of 2025-06-01, it measures:

- **orbit bundle --no-server**: the notebook's environment only (wheels + the npm/apt/data it
  declares); **orbit bundle**: the same plus Orbit's own wheel and the profile's server
  environment (JupyterLab); wall time (index lookups, downloads from pip's local mirrors or
  PyPI, hashing, writing) and file size;
- **pip download**: ``pip download --only-binary :all:`` of the same pins into a folder
  (the classic "wheelhouse"); time and the folder's size;
- **packed venv** (what conda-pack does for a conda environment): a venv with the same pins
  installed, then the whole folder as a ``tar.gz``; time (create + install + pack) and size;
- **offline install**, in a network namespace with only loopback (``unshare -n``, root):
  ``orbit bundle install`` then ``orbit run`` of the notebook (stand-ins started, environment
  built from them, kernel run); ``pip install --no-index --find-links`` of the wheelhouse into a
  new venv; unpacking the packed venv.

Run (root, network, the dev venv): ``.venv/bin/python bench/offline.py``. It prints a Markdown
report with the load average before and after, and writes the numbers to
``bench/results/offline.json``. Everything happens in a temporary folder, removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.support.airgap import airgapped  # noqa: E402

ORBIT = str(Path(sys.executable).with_name("orbit"))
AS_OF = "2025-06-01T00:00:00Z"


def numpy_pandas(folder: Path) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "a",
                "metadata": {},
                "outputs": [],
                "source": "import numpy as np, pandas as pd\nprint(pd.Series(np.arange(4)).sum())",
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "orbit": {"schema": 1, "as_of": AS_OF, "packages": {"pypi": ["numpy", "pandas"]}},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    folder.mkdir(parents=True)
    (folder / "analysis.ipynb").write_text(json.dumps(nb))
    return folder / "analysis.ipynb"


def timed(argv: list[str], **kw) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, **kw)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{done.stderr[-3000:]}")
    return took


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def pins(notebook: Path, env: dict[str, str]) -> list[str]:
    """The exact versions `orbit run` would install (the engine's pins)."""
    code = (
        "import sys; from jupyter_orbit.paths import Paths; "
        "from jupyter_orbit.prepare import Choices, Consent, prepare; "
        "p = prepare(__import__('pathlib').Path(sys.argv[1]), Choices(consent=Consent(yes=True)), "
        "Paths.from_env(), until='plan'); print('\\n'.join(p.engine.pins(p.plan)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(notebook)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return [ln for ln in out.stdout.splitlines() if "==" in ln]


def scenario(name: str, notebook: Path, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env["ORBIT_HOME"] = str(work / "home")
    row: dict = {"project": name}
    lines = pins(notebook, env)
    row["pins"] = len(lines)
    target = str(notebook.parent if name == "examples/hello" else notebook)
    for label, extra in (("orbit bundle --no-server", ["--no-server"]), ("orbit bundle", [])):
        out = work / f"{label.replace(' ', '_')}.orbit-bundle.tar.gz"
        took = timed([ORBIT, "bundle", target, "--yes", "-q", "-o", str(out), *extra], env=env)
        row[label] = {"seconds": took, "bytes": size(out), "file": str(out)}
    house = work / "wheelhouse"
    reqs = work / "pins.txt"
    reqs.write_text("\n".join(lines) + "\n")
    pip = [sys.executable, "-m", "pip"]
    took = timed(
        [*pip, "download", "-q", "--only-binary", ":all:", "-d", str(house), "-r", str(reqs)]
    )
    row["pip download"] = {"seconds": took, "bytes": size(house)}
    venv = work / "packed-venv"
    start = time.perf_counter()
    timed([sys.executable, "-m", "venv", str(venv)])
    timed([str(venv / "bin/python"), "-m", "pip", "install", "-q", "-r", str(reqs)])
    packed = work / "packed-venv.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(venv, arcname="env")
    row["packed venv"] = {"seconds": time.perf_counter() - start, "bytes": size(packed)}

    # offline installs, each in a fresh namespace with only loopback
    base = work / "airgap"
    start = time.perf_counter()
    done = airgapped([ORBIT, "bundle", "install", row["orbit bundle"]["file"]], base=base)
    install = time.perf_counter() - start
    start = time.perf_counter()
    ran = airgapped([ORBIT, "run", str(notebook), "--yes"], base=base, cwd=work)
    run = time.perf_counter() - start
    if done.returncode or ran.returncode:
        raise SystemExit(f"offline install failed:\n{done.stderr[-2000:]}\n{ran.stderr[-2000:]}")
    row["offline: orbit bundle install"] = {"seconds": install}
    row["offline: orbit run (env from the stand-ins)"] = {"seconds": run}
    base2 = work / "airgap-pip"
    start = time.perf_counter()
    script = (
        f"{sys.executable} -m venv {work}/pipenv && {work}/pipenv/bin/pip install -q --no-index "
        f"--find-links {house} -r {reqs}"
    )
    done = airgapped(["sh", "-c", script], base=base2)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    row["offline: venv + pip install --no-index"] = {"seconds": time.perf_counter() - start}
    start = time.perf_counter()
    with tarfile.open(packed) as tar:
        tar.extractall(work / "unpacked", filter="tar")
    row["offline: unpack the packed venv"] = {"seconds": time.perf_counter() - start}
    return row


def report(rows: list[dict], load: tuple) -> str:
    out = [f"load average before: {load[0]}, after: {load[1]}", ""]
    out.append("| project | what | time | size |")
    out.append("|---|---|---|---|")
    for r in rows:
        for key, value in r.items():
            if not isinstance(value, dict):
                continue
            mb = f"{value['bytes'] / 2**20:.1f} MiB" if "bytes" in value else ""
            out.append(
                f"| {r['project']} ({r['pins']} pins) | {key} | {value['seconds']:.1f} s | {mb} |"
            )
    return "\n".join(out)


def main() -> None:
    before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="orbit-bench-offline-") as tmp:
        work = Path(tmp)
        hello = work / "hello"
        shutil.copytree(REPO / "examples/hello", hello)
        rows.append(scenario("examples/hello", next(hello.glob("*.ipynb")), work / "h"))
        nb = numpy_pandas(work / "np-project")
        rows.append(scenario("numpy + pandas", nb, work / "np"))
    after = os.getloadavg()
    text = report(rows, (before, after))
    print(text)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "offline.json").write_text(
        json.dumps({"rows": rows, "load": [before, after], "report": text}, indent=1)
    )


if __name__ == "__main__":
    main()
