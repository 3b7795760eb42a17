"""Where a new environment's time goes: ``orbit run`` of a numpy + pandas + one more notebook in a
fresh ORBIT_HOME, against ``uv venv && uv pip install`` of the same packages (issue 15, target 3).

Rounds are interleaved (each round runs every variant once, on the same Python and uv cache), so
a change in the machine's load weighs on all of them alike. For each Orbit run every uv call is
logged with its wall time (``ORBIT_UV_TRACE``), and the time until the environment is committed
(the kernel can start) is read from Orbit's progress lines. The uv-only variants say what
``uv venv --seed``, the link mode and uv's own ``--compile-bytecode`` cost:

    .venv/bin/python bench/build_profile.py [--repeat 3] [--extra tabulate]

Prints a Markdown table and writes ``bench/results/build-profile.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE = 'import numpy as np, pandas as pd; print(pd.DataFrame({"a": np.arange(3)}).a.sum())'
KERNEL = ["ipykernel"]


def uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def notebook(path: Path, deps: list[str]) -> Path:
    block = "\n".join(
        ["# /// script", '# requires-python = ">=3.11"', "# dependencies = ["]
        + [f'#     "{d}",' for d in deps]
        + ["# ]", "# ///"]
    )
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": []}
        | {"source": src}
        for i, src in enumerate([block, CODE])
    ]
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    nb = {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str | Path], **kw) -> float:
    t = time.perf_counter()
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, env=env(), **kw)
    return time.perf_counter() - t


def orbit_new(tmp: Path, nb: Path, i: int | str, src: Path | None = None) -> dict:
    """``orbit run --yes --no-server`` in a fresh ORBIT_HOME: total, build, and each uv call
    (``src``: Orbit's sources from another checkout, e.g. the code before a change)."""
    home, trace = tmp / f"home-{i}", tmp / f"trace-{i}.jsonl"
    e = env() | {"ORBIT_HOME": str(home), "ORBIT_UV_TRACE": str(trace)}
    if src is not None:
        e["PYTHONPATH"] = str(src)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "run", str(nb), "--yes", "--no-server"],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    built = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("orbit: commit"):
            built = time.perf_counter() - t
    out = proc.stdout.read() if proc.stdout else ""
    if proc.wait() != 0 or out.strip() != "3":
        raise SystemExit(f"orbit run failed: {out}")
    total = time.perf_counter() - t
    calls = [json.loads(x) for x in trace.read_text().splitlines()] if trace.exists() else []
    for env_dir in (home / "envs" / "local").glob("*/orbit"):
        deadline = time.monotonic() + 300  # the background bytecode job, before the next run
        while (env_dir / "bytecode.pending").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    shutil.rmtree(home, ignore_errors=True)
    return {"total": total, "built": built, "uv": calls}


def uv_new(
    tmp: Path,
    python: str,
    packages: list[str],
    *,
    seed: bool,
    link: str | None,
    compile_bytecode: bool = False,
) -> float:
    """``uv venv && uv pip install`` (the anchor) or one of its variants."""
    venv = tmp / "uv-env"
    shutil.rmtree(venv, ignore_errors=True)
    args = [uv(), "venv", "--quiet", "--python", python, venv]
    if seed:
        args += ["--seed", "--link-mode", link or "copy"]
    seconds = timed(args, cwd=tmp)
    install = [uv(), "pip", "install", "--quiet", "--python", venv / "bin" / "python", *packages]
    if link:
        install += ["--link-mode", link]
    if compile_bytecode:
        install.append("--compile-bytecode")
    seconds += timed(install, cwd=tmp)
    shutil.rmtree(venv, ignore_errors=True)
    return seconds


def label(call: dict) -> str:
    a = call["args"]
    if a[0] == "venv":
        return "venv"
    if a[:2] == ["pip", "sync"]:
        return "install (pip sync)"
    if a[:2] == ["pip", "compile"]:
        if "--offline" in a:
            return "resolve, from uv's cache"
        if "--no-deps" in a:
            return "fit: wheel check"
        if "-" not in a:
            return "resolve (build)"
        return "fit: compile"
    return " ".join(a[:2])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--extra", default="tabulate", help="the one more package (default tabulate)")
    p.add_argument("--before", type=Path, help="a checkout's src/ to compare with, interleaved")
    args = p.parse_args(argv)
    python = str(Path(sys.base_prefix) / "bin" / "python3")
    deps = ["numpy", "pandas", args.extra]
    rows: dict[str, list[float]] = {}
    orbit_runs = []
    loads = []
    with tempfile.TemporaryDirectory(prefix="orbit-build-profile-") as t:
        tmp = Path(t)
        nb = notebook(tmp / "work" / "nb.ipynb", deps)
        orbit_new(tmp, nb, -1)  # warm-up: uv's cache holds every package
        variants = {
            "anchor: uv venv && uv pip install": dict(seed=False, link=None),
            "uv venv --seed (copy) + install (copy)": dict(seed=True, link="copy"),
            "uv venv + install (copy)": dict(seed=False, link="copy"),
            "uv venv + install (hardlink)": dict(seed=False, link="hardlink"),
            "uv venv + install --compile-bytecode": dict(
                seed=False, link=None, compile_bytecode=True
            ),
        }
        for i in range(args.repeat):
            loads.append(os.getloadavg())
            print(f"round {i + 1}/{args.repeat}, load {loads[-1][0]:.1f}", file=sys.stderr)
            if args.before:
                old = orbit_new(tmp, nb, f"before-{i}", args.before)
                rows.setdefault("orbit run, new env, BEFORE (total)", []).append(old["total"])
                rows.setdefault("orbit run, new env, BEFORE (until built)", []).append(
                    old["built"] or 0
                )
            run = orbit_new(tmp, nb, i)
            orbit_runs.append(run)
            rows.setdefault("orbit run, new env (total)", []).append(run["total"])
            rows.setdefault("orbit run, new env (until built)", []).append(run["built"] or 0)
            for name, kw in variants.items():
                rows.setdefault(name, []).append(uv_new(tmp, python, [*deps, *KERNEL], **kw))
    med = {k: statistics.median(v) for k, v in rows.items()}
    anchor = med["anchor: uv venv && uv pip install"]
    print(f"\nnumpy, pandas, {args.extra} (+ {', '.join(KERNEL)}), {args.repeat} rounds")
    print("| what | median | ÷ anchor |\n|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.2f} s | {v / anchor:.2f}× |")
    per: dict[str, list[float]] = {}
    for run in orbit_runs:
        sums: dict[str, float] = {}
        for call in run["uv"]:
            sums[label(call)] = sums.get(label(call), 0.0) + call["seconds"]
        for k, v in sums.items():
            per.setdefault(k, []).append(v)
    print("\nuv calls of `orbit run` (median of the sums per run)\n| uv call | seconds | calls |")
    print("|---|---|---|")
    for k, v in per.items():
        n = sum(1 for c in orbit_runs[0]["uv"] if label(c) == k)
        print(f"| {k} | {statistics.median(v):.2f} | {n} |")
    print(f"\nload average at each round: {[round(x[0], 1) for x in loads]}")
    out = HERE / "results" / "build-profile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "loads": loads, "orbit": orbit_runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
