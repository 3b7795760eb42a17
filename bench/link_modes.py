"""What isolating environments costs: ten numpy + pandas environments, built one after the other.

Each environment gets numpy, pandas and one small package of its own (so each has an id of its
own), resolved as of 2025-06-01, built by the real pipeline (``prepare(..., until="build")``)
into a fresh ORBIT_HOME on the same disk as uv's cache. Measured:

- the wall time of each build (the first one compiles bytecode nobody had; the others reuse
  the shared bytecode store);
- the disk the ten environments take beyond uv's cache: every file under ``envs/local`` counted
  once by inode, minus the inodes uv's cache holds (a hardlinked file costs nothing new), the
  shared bytecode store included.

``--mode orbit`` uses what Orbit chooses (``linkmode``: clone where the disk can reflink, else
copy); ``--mode hardlink`` / ``copy`` / ``clone`` set ``UV_LINK_MODE`` (the user's own uv
setting, which Orbit leaves to uv). Run each mode in its own process:

    .venv/bin/python bench/link_modes.py --mode orbit
    .venv/bin/python bench/link_modes.py --mode hardlink

It prints a Markdown table row and writes the numbers to ``bench/results/link-modes-<mode>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

EXTRA = ["six", "idna", "certifi", "packaging", "attrs", "toolz", "wrapt", "decorator", "tabulate"]
EXTRA += ["termcolor"]
AS_OF = "2025-06-01"


def uv_cache() -> Path:
    import subprocess

    from uv import find_uv_bin

    out = subprocess.run([find_uv_bin(), "cache", "dir"], capture_output=True, text=True)
    return Path(out.stdout.strip())


def inodes(folder: Path) -> dict[tuple[int, int], int]:
    """(device, inode) -> bytes on disk, for every regular file under ``folder``."""
    out: dict[tuple[int, int], int] = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                st = (Path(root) / f).lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return out


class StepTimes:
    """A progress that adds up the seconds each pipeline step takes."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._step: str | None = None
        self._since = time.perf_counter()

    def step(self, action: str, detail: str = "") -> None:
        self._close()
        self._step, self._since = action, time.perf_counter()

    def _close(self) -> None:
        if self._step is not None:
            spent = time.perf_counter() - self._since
            self.totals[self._step] = self.totals.get(self._step, 0.0) + spent

    def done(self) -> dict[str, float]:
        self._close()
        self._step = None
        return self.totals

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def notebook(path: Path, extra: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import numpy, pandas"))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["orbit"] = {"as_of": AS_OF, "packages": {"pypi": ["numpy", "pandas", extra]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", default="orbit", choices=["orbit", "hardlink", "copy", "clone"])
    p.add_argument("--envs", type=int, default=10)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.pop("UV_LINK_MODE", None)
    if a.mode != "orbit":
        os.environ["UV_LINK_MODE"] = a.mode
    cache = uv_cache()
    tmp = Path(tempfile.mkdtemp(prefix="orbit-link-modes-", dir=cache.parent))
    os.environ["ORBIT_HOME"] = str(tmp / "home")
    from jupyter_orbit.linkmode import mode as orbit_mode
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Choices, Consent, prepare

    paths = Paths(tmp / "home")
    chosen = orbit_mode(paths.envs_dir("local")) or os.environ["UV_LINK_MODE"]
    print(f"mode {a.mode}: uv link mode {chosen}; work in {tmp}", file=sys.stderr)
    seconds = []
    steps: list[dict[str, float]] = []
    try:
        for n, extra in enumerate(EXTRA[: a.envs]):
            nb = notebook(tmp / f"p{n}" / "nb.ipynb", extra)
            times = StepTimes()
            start = time.perf_counter()
            prepare(nb, Choices(consent=Consent(yes=True)), paths, progress=times, until="build")
            seconds.append(time.perf_counter() - start)
            steps.append(times.done())
            shown = ", ".join(f"{k} {v:.1f}" for k, v in steps[-1].items())
            print(f"  env {n + 1}: {seconds[-1]:.1f} s ({shown})", file=sys.stderr)
        cached = set(inodes(cache))
        envs = inodes(paths.envs_dir("local"))
        new = sum(size for key, size in envs.items() if key not in cached)
        result = {
            "mode": a.mode,
            "uv_link_mode": chosen,
            "envs": len(seconds),
            "seconds": seconds,
            "steps": steps,
            "first_s": seconds[0],
            "median_rest_s": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
            "disk_beyond_uv_cache_mb": new / 2**20,
            "per_env_mb": new / 2**20 / len(seconds),
            "load_after": os.getloadavg(),
        }
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out = Path(__file__).parent / "results" / f"link-modes-{a.mode}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(
        f"| {a.mode} ({chosen}) | {result['first_s']:.1f} s | {result['median_rest_s']:.1f} s | "
        f"{result['disk_beyond_uv_cache_mb']:.0f} MB | {result['per_env_mb']:.0f} MB |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
