"""The bazaar's benchmark: search latency, and "add a package until it imports" in a running
kernel, against what users would otherwise do.

    python bench/bazaar.py [--runs N] [--skip-search] [--skip-add]

Search: `orbit search` end to end (a CLI process per query), cold (fresh ORBIT_HOME: PyPI's
name list unknown, so the first search answers from the exact name while the list downloads in
the background, and says so; also: until the whole list is searchable) and warm (cached) per
ecosystem and merged, interleaved with `apt-cache search`.
Add: from the start of the command to the first successful `import X` in the running kernel:

* orbit  — `orbit add X --to nb.ipynb` (through the running server: files edited, environment
           grown, kernel switched), then `import X` in the same kernel;
* %pip   — `%pip install X` then `import X` in a kernel of a plain venv (pip + ipykernel);
* juv    — `juv add nb.ipynb X` then a restart, measured as `juv exec nb.ipynb` of a notebook
           whose cell imports X (no Jupyter kernel start: this favours juv).

orbit and %pip run interleaved, round by round (ratios hold better than times on a loaded
machine); juv only when it is installed. Every tool runs with PYTHONDONTWRITEBYTECODE unset,
caches warm (one untimed pass first); the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import UV_CACHE, make_notebook  # noqa: E402
from tests.support.kernelws import KernelWS, Server  # noqa: E402

PACKAGES = ["humanize", "tomli-w", "text-unidecode", "inflection", "pyjokes"]
MODULES = {"tomli-w": "tomli_w", "text-unidecode": "text_unidecode"}
QUERIES = ["requests", "numpy", "dataframe", "http", "plot", "jupyter", "yaml", "torch"]


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(ORBIT_HOME=str(home), UV_CACHE_DIR=UV_CACHE)
    return env


def orbit(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and r.returncode != 0:
        raise SystemExit(f"orbit {' '.join(args)} failed:\n{r.stderr}")
    return r


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(values) * 1000:.0f} | {pct(values, 0.95) * 1000:.0f} "
        f"| {len(values)} |"
    )


# -- search -----------------------------------------------------------------------------------


def refresher_done(home: Path, timeout: float = 300) -> float:
    """Seconds until the background download of PyPI's names has finished."""
    t = time.perf_counter()
    names = home / "cache" / "bazaar" / "pypi" / "names"
    while time.perf_counter() - t < timeout:
        if list(names.glob("*/meta.json")) and not list(names.glob("*/refreshing")):
            break
        time.sleep(0.1)
    return time.perf_counter() - t


def bench_search(work: Path, runs: int) -> list[str]:
    """Cold (a fresh ORBIT_HOME per run: PyPI's names unknown, summaries not cached) and warm
    p50 per ecosystem and merged, interleaved round by round with `apt-cache search`."""
    lines = [
        "| search (`orbit search`, CLI end to end) | p50 ms | p95 ms | runs |",
        "|---|---|---|---|",
    ]
    cold, full, partial = [], [], 0
    for i in range(max(2, runs // 2)):
        home = work / f"search-cold-{i}"
        t = time.perf_counter()
        r = orbit(home, "search", "numpy", "--in", "pypi", "--json")
        cold.append(time.perf_counter() - t)
        partial += bool(json.loads(r.stdout).get("partial"))
        full.append(cold[-1] + refresher_done(home))
        shutil.rmtree(home, ignore_errors=True)
    lines.append(row(f"PyPI, first search, cold ({partial} of {len(cold)} partial)", cold))
    lines.append(row("PyPI, cold: until the whole name list is searchable", full))
    home = work / "search-warm"
    sets = ["pypi", "apt", "npm", "conda", "pypi,conda,apt"]
    orbit(home, "search", "numpy", "--in", "pypi", check=False)  # PyPI's names, downloaded
    refresher_done(home)
    for q in QUERIES:  # then the summaries of every query's hits, once
        orbit(home, "search", q, "--in", "pypi,apt,npm,conda", check=False)
    warm: dict[str, list[float]] = {w: [] for w in sets}
    anchor: list[float] = []
    for i in range(runs * 2):
        q = QUERIES[i % len(QUERIES)]
        for w in sets:
            warm[w].append(timed(lambda q=q, w=w: orbit(home, "search", q, "--in", w, check=False)))
        if shutil.which("apt-cache"):
            anchor.append(
                timed(lambda q=q: subprocess.run(["apt-cache", "search", q], capture_output=True))
            )
    for w in sets:
        lines.append(row(f"warm, --in {w}" + (" (the default)" if "," in w else ""), warm[w]))
    if anchor:
        lines.append(row("for comparison: `apt-cache search` (this machine, no pkgcache)", anchor))
    lines.append(f"\nload average after: {os.getloadavg()}")
    return lines


# -- add until importable ---------------------------------------------------------------------


async def until_import(k: KernelWS, module: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = await k.execute(f"import {module}", timeout=timeout)
        if r.status == "ok":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{module} never became importable: {r.error}")
        await asyncio.sleep(0.05)


def pip_kernel(work: Path) -> Path:
    venv = work / "pip-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "ipykernel"], check=True)
    return py


async def pip_round(work: Path, py: Path, pkg: str) -> float:
    """`%pip install` then `import` in a fresh kernel of a plain venv (not timed: its start)."""
    from jupyter_orbit.execute import start_kernel

    km = await start_kernel(
        [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"], "python", work, ""
    )
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        t = time.perf_counter()
        await kc.execute_interactive(f"%pip install -q {pkg}", timeout=600)
        r = await kc.execute_interactive(f"import {MODULES.get(pkg, pkg)}", timeout=60)
        assert r["content"]["status"] == "ok", r
        elapsed = time.perf_counter() - t
        await kc.execute_interactive(f"%pip uninstall -q -y {pkg}", timeout=600)
        return elapsed
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


def bench_add(work: Path, runs: int) -> dict[str, list[float]]:
    """`orbit add` (hot, through the server) and `%pip install`, interleaved round by round;
    the first round warms the caches and is not counted."""
    home = work / "orbit-add"
    root = work / "orbit-project"
    nb = make_notebook(root / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": []}}})
    py = pip_kernel(work)
    info = json.loads(
        orbit(home, "up", str(root), "--detach", "--no-browser").stdout.strip().splitlines()[-1]
    )
    server = Server(info["url"], info["token"])
    out: dict[str, list[float]] = {"orbit": [], "pip": [], "load": []}
    try:
        kid = server.new_session("nb.ipynb")["kernel"]["id"]
        envs = home / "envs" / "local"
        for i in range(runs + 1):
            pkg = PACKAGES[i % len(PACKAGES)]

            async def one(pkg: str = pkg) -> float:
                async with KernelWS(server, kid) as k:
                    await k.kernel_info(timeout=600)
                    t = time.perf_counter()
                    r = await asyncio.to_thread(orbit, home, "add", pkg, "--to", str(nb))
                    if "ready now" not in r.stdout:
                        raise RuntimeError(f"not hot: {r.stdout} {r.stderr}")
                    await until_import(k, MODULES.get(pkg, pkg))
                    return time.perf_counter() - t

            orbit_t = asyncio.run(one())
            pip_t = asyncio.run(pip_round(work, py, pkg))
            if i:
                out["orbit"].append(orbit_t)
                out["pip"].append(pip_t)
                out["load"].append(os.getloadavg()[0])
                print(f"  round {i}: {pkg}: orbit {orbit_t:.3f} s, %pip {pip_t:.3f} s", flush=True)
            status = json.loads(orbit(home, "status", "--json").stdout)
            grown = next(k["env_id"] for k in status["kernels"] if k["id"] == kid)
            orbit(home, "remove", pkg, "--to", str(nb))
            server.post(f"/api/kernels/{kid}/restart").raise_for_status()
            shutil.rmtree(envs / grown, ignore_errors=True)  # the next add grows afresh
    finally:
        orbit(home, "down", check=False)
    return out


def bench_juv(work: Path, runs: int) -> list[float]:
    juv = shutil.which("juv") or str(Path(sys.executable).parent / "juv")
    if not Path(juv).exists():
        return []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["UV_CACHE_DIR"] = UV_CACHE
    out = []
    for i in range(runs + 1):
        pkg = PACKAGES[i % len(PACKAGES)]
        nb = make_notebook(work / f"juv-{i}" / "nb.ipynb", f"import {MODULES.get(pkg, pkg)}")
        t = time.perf_counter()
        subprocess.run([juv, "add", str(nb), pkg], check=True, env=env, capture_output=True)
        subprocess.run([juv, "exec", str(nb)], check=True, env=env, capture_output=True)
        if i:
            out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-add", action="store_true")
    args = ap.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    work = Path(tempfile.mkdtemp(prefix="orbit-bench-bazaar-"))
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"work folder: {work}; uv cache: {UV_CACHE}\n")
    if not args.skip_search:
        print("\n".join(bench_search(work, args.runs)) + "\n")
    if not args.skip_add:
        add = bench_add(work, args.runs)
        results = {
            "orbit add + import (hot, same kernel)": add["orbit"],
            "%pip install + import (plain venv kernel)": add["pip"],
        }
        if juv := bench_juv(work, args.runs):
            results["juv add + juv exec (restart)"] = juv
        base = statistics.median(add["orbit"])
        print("| add a package until importable | p50 ms | p95 ms | runs | × orbit |")
        print("|---|---|---|---|---|")
        for name, values in results.items():
            print(f"{row(name, values)} {statistics.median(values) / base:.1f} |")
        ratios = [o / p for o, p in zip(add["orbit"], add["pip"], strict=True)]
        print(f"\norbit / %pip per round: median {statistics.median(ratios):.2f}")
        print(f"load average during the rounds: {[round(x, 1) for x in add['load']]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
