"""Benchmark of `orbit publish --image` (issue 17): size and build time of a published image
against a repo2docker-style image on the same Debian root, cold and after a notebook edit.

    .venv/bin/python bench/publish.py [--repeat N] [--keep]

For each of two projects, examples/hello (numpy) and a numpy + pandas analysis:

1. **cold**: `orbit publish PROJECT --image …` from a fresh data root, resolved as of this very
   second (so no layer of its environment is in the engine's cache), with Orbit's base and the
   JupyterLab server image present (they are shared by every project, as a base image is); the
   server image's own cold build is timed once, apart. Against it: the repo2docker-style image
   (one environment holding JupyterLab, the Notebook, JupyterHub, ipykernel and the project's
   packages, then the project) built with no cache.
2. **after a one-line notebook edit**: the same command again (the user-visible time, a fresh
   Python process included), against the repo2docker-style image rebuilt with its cache (its
   environment files are copied first, as repo2docker does) and a typical hand-written
   Dockerfile (`COPY . .`, then `pip install`).
3. **size**: both images' uncompressed size as the engine reports it.

Orbit and the other builds are interleaved; the load average is read before each measurement.
Prints a Markdown report on stdout, progress on stderr. Needs a Docker engine and PyPI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.conftest import make_notebook  # noqa: E402

from containers import hand_written, machine, repo2docker_style  # noqa: E402
from jupyter_orbit.engines import dockerapi  # noqa: E402
from jupyter_orbit.engines.baseimage import ensure_base  # noqa: E402
from jupyter_orbit.imagelayout import LOCAL_ROOTFS, REGISTRY_ROOTFS  # noqa: E402

MB = 1e6
PREFIX = "orbit-bench-publish"


class Progress:
    def step(self, action: str, detail: str = "") -> None:
        print(f"  [{time.strftime('%X')}] {action} {detail}"[:160], file=sys.stderr, flush=True)

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print(f"  warning: {message}", file=sys.stderr, flush=True)


def say(text: str) -> None:
    print(f"[{time.strftime('%X')}] {text}", file=sys.stderr, flush=True)


def load() -> float:
    return os.getloadavg()[0]


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, the 1-minute load average just before, the result)."""
    before = load()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, before, out


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s" + (
        f" ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else ""
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def orbit_publish(home: Path, project: Path, image: str, as_of: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    env.update(ORBIT_HOME=str(home))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, "-m", "jupyter_orbit", "publish", str(project), "--image", image]
    argv += ["--as-of", as_of, "--yes", "--json", "-q"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"orbit publish failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)["image"]


def edit(notebook: Path, n: int) -> None:
    """One line of the first code cell changed, as a user's edit would."""
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = source.rstrip("\n") + f"\nprint('edit {n}')"
    notebook.write_text(json.dumps(nb, indent=1) + "\n")


def projects(work: Path) -> dict[str, tuple[Path, Path]]:
    """name → (project folder, the notebook edited)."""
    hello = work / "hello"
    shutil.copytree(REPO / "examples" / "hello", hello)
    pandas = work / "pandas"
    pandas.mkdir()
    (pandas / "requirements.txt").write_text("numpy\npandas\n")
    make_notebook(
        pandas / "analysis.ipynb",
        "import numpy as np, pandas as pd\nprint(pd.DataFrame(np.eye(3)).sum().sum())",
    )
    return {
        "hello (numpy)": (hello, hello / "hello.ipynb"),
        "numpy + pandas": (pandas, pandas / "analysis.ipynb"),
    }


def bench_project(
    client: Any,
    work: Path,
    rootfs: str,
    project: Path,
    notebook: Path,
    repeat: int,
    loads: list[float],
    made: list[str],
) -> dict[str, Any]:
    """One project: Orbit and the repo2docker-style image, cold, then after edits."""
    row: dict[str, Any] = {"edit": [], "r2d_edit": [], "hand": []}
    home = work / f"home-{project.name}"
    image = f"{PREFIX}:{project.name}"
    fat = f"{PREFIX}:{project.name}-r2d"
    hand = f"{PREFIX}:{project.name}-hand"

    def r2d(nocache: bool = False) -> str:
        context = repo2docker_style(rootfs, project)
        return dockerapi.build(client, context, fat, Progress(), what="r2d", nocache=nocache)

    def handmade() -> str:
        context = hand_written(rootfs, project)
        return dockerapi.build(client, context, hand, Progress(), what="hand")

    say(f"{project.name}: Orbit, cold (resolved as of now: no cached layer of its environment)")
    seconds, before, out = timed(lambda: orbit_publish(home, project, image, now()))
    row["cold"], row["size"], row["runtime"] = seconds, out["size"], out["runtime"]
    made.extend([out["runtime"], *(f"orbit-kernel:{e}" for e in out["environments"])])
    loads.append(before)
    say(f"   {seconds:.1f} s, {out['size'] / MB:.0f} MB (load {before:.1f})")
    say(f"{project.name}: repo2docker-style, cold (no cache)")
    seconds, before, _ = timed(lambda: r2d(nocache=True))
    row["r2d_cold"], row["r2d_size"] = seconds, dockerapi.image_size(client, fat)
    loads.append(before)
    say(f"   {seconds:.1f} s, {row['r2d_size'] / MB:.0f} MB (load {before:.1f})")
    labels = client.images.get(image).labels
    as_of = json.loads(labels["org.jupyter.orbit.environments"])[0]["as_of"]
    for i in range(repeat):
        edit(notebook, i)
        seconds, before, out = timed(lambda: orbit_publish(home, project, image, as_of))
        assert out["runtime"] == row["runtime"], "the runtime was rebuilt"
        row["edit"].append(seconds)
        loads.append(before)
        say(f"   edit {i}: Orbit {seconds:.2f} s (load {before:.1f})")
        seconds, before, _ = timed(r2d)
        row["r2d_edit"].append(seconds)
        loads.append(before)
        say(f"   edit {i}: repo2docker-style {seconds:.2f} s (load {before:.1f})")
    say(f"{project.name}: hand-written Dockerfile after an edit (COPY . . then pip install)")
    handmade()
    edit(notebook, 99)
    seconds, before, _ = timed(handmade)
    row["hand"].append(seconds)
    loads.append(before)
    say(f"   {seconds:.1f} s (load {before:.1f})")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="edits measured per project")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    client = dockerapi.connect(timeout=900)
    work = Path(tempfile.mkdtemp(prefix="orbit-bench-publish-"))
    loads: list[float] = []
    made: list[str] = []  # Orbit's images this run built (removed at the end)
    rows: dict[str, dict[str, Any]] = {}
    try:
        say("base image (present or built once; not timed)")
        base = ensure_base(client, Progress())
        rootfs = LOCAL_ROOTFS if dockerapi.image(client, LOCAL_ROOTFS) else REGISTRY_ROOTFS
        start_machine = machine(client)
        for name, (project, notebook) in projects(work).items():
            rows[name] = bench_project(
                client, work, rootfs, project, notebook, args.repeat, loads, made
            )

        say("the JupyterLab server image itself, cold (shared by every project; built once)")
        from jupyter_orbit.publish.image import server_context, server_spec

        context = server_context(server_spec("jupyterlab", hub=False), base)
        server_cold, before, _ = timed(
            lambda: dockerapi.build(
                client, context, f"{PREFIX}:server", Progress(), what="server", nocache=True
            )
        )
        loads.append(before)
        say(f"   {server_cold:.1f} s (load {before:.1f})")

        report = [
            f"### {time.strftime('%Y-%m-%d')} — {args.repeat} edits per project",
            "",
            f"Machine: {start_machine}. 1-minute load average before the measurements: "
            f"{min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f}).",
            "",
            "| project | image | Orbit | repo2docker-style | r2d ÷ Orbit |",
            "|---|---|---|---|---|",
        ]
        for name, r in rows.items():
            report += [
                f"| {name} | size | **{r['size'] / MB:.0f} MB** | {r['r2d_size'] / MB:.0f} MB "
                f"| {r['r2d_size'] / r['size']:.2f}× |",
                f"| {name} | cold build | **{r['cold']:.1f} s** | {r['r2d_cold']:.1f} s "
                f"| {r['r2d_cold'] / r['cold']:.1f}× |",
                f"| {name} | after a notebook edit | **{med(r['edit'])}** | {med(r['r2d_edit'])} "
                f"| {statistics.median(r['r2d_edit']) / statistics.median(r['edit']):.1f}× |",
                f"| {name} | after an edit, hand-written Dockerfile | – | {med(r['hand'])} | – |",
            ]
        report += [
            "",
            f"The JupyterLab server image (shared by every project, like the base) built cold: "
            f"{server_cold:.1f} s; Orbit's cold times above have it present.",
        ]
        print("\n".join(report))
        return 0
    finally:
        for ref in made:
            with contextlib.suppress(Exception):
                client.images.remove(ref, force=True)
        for img in client.images.list():
            for tag in img.tags:
                if tag.startswith(PREFIX + ":"):
                    with contextlib.suppress(Exception):
                        client.images.remove(tag, force=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
