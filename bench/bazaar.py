"""The bazaar's benchmark: search latency, and "add a package until it imports" in a running
kernel, against what users would otherwise do.

    python bench/bazaar.py [--runs N] [--skip-search] [--skip-add]

Search: `orbit search` end to end (a CLI process per query), cold (fresh ORBIT_HOME: the PyPI
name index is downloaded, summaries fetched) and warm (cached), PyPI alone and merged with apt.
Add: from the start of the command to the first successful `import X` in the running kernel:

* orbit  — `orbit add X --to nb.ipynb` (through the running server: files edited, environment
           grown, kernel switched), then `import X` in the same kernel;
* %pip   — `%pip install X` then `import X` in a kernel of a plain venv (pip + ipykernel);
* juv    — `juv add nb.ipynb X` then a restart, measured as `juv exec nb.ipynb` of a notebook
           whose cell imports X (no Jupyter kernel start: this favours juv).

Every tool runs with PYTHONDONTWRITEBYTECODE unset, caches warm (one untimed pass first).
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


SEARCH_COLD = "PyPI, cold (name index downloaded, summaries fetched)"
SEARCH_WARM = "PyPI, warm"
SEARCH_MERGED = "PyPI + apt merged, warm"
SEARCH_APT = "for comparison: `apt-cache search` (this machine, no pkgcache)"
SEARCH_FLOOR = "for comparison: the same Python starting and importing click (any click CLI)"


def search_times(
    work: Path, runs: int, cold_runs: int | None = None, queries: list[str] = QUERIES
) -> dict[str, list[float]]:
    """Seconds per `orbit search` (cold: a fresh ORBIT_HOME each; warm: ``runs * 2`` queries per
    row) and per `apt-cache search`, by row label."""
    out: dict[str, list[float]] = {}
    cold = []
    for i in range(cold_runs or max(2, runs // 3)):
        home = work / f"search-cold-{i}"
        cold.append(timed(lambda h=home: orbit(h, "search", "requests", "--in", "pypi")))
    out[SEARCH_COLD] = cold
    home = work / "search-warm"
    # The first search of a home starts the name list's download and answers from the exact
    # name alone: warm the summaries only once the list is there, or "warm" would fetch them.
    for _ in range(300):
        if "still being downloaded" not in orbit(home, "search", queries[0], "--in", "pypi").stderr:
            break
        time.sleep(1)
    for q in queries:  # warm the summaries of every query once
        orbit(home, "search", q, "--in", "pypi,apt")
    floor = [sys.executable, "-c", "import click"]
    out[SEARCH_FLOOR] = []
    for label, where in ((SEARCH_WARM, "pypi"), (SEARCH_MERGED, "pypi,apt")):
        warm = []
        for i in range(runs * 2):
            q = queries[i % len(queries)]
            warm.append(timed(lambda q=q, w=where: orbit(home, "search", q, "--in", w)))
            out[SEARCH_FLOOR].append(
                timed(lambda: subprocess.run(floor, env=env_for(home), capture_output=True))
            )
        out[label] = warm
    if shutil.which("apt-cache"):
        out[SEARCH_APT] = [
            timed(lambda q=q: subprocess.run(["apt-cache", "search", q], capture_output=True))
            for q in queries[: max(3, runs)]
        ]
    return out


def bench_search(work: Path, runs: int) -> list[str]:
    lines = [
        "| search (`orbit search`, CLI end to end) | p50 ms | p95 ms | runs |",
        "|---|---|---|---|",
    ]
    lines += [row(label, values) for label, values in search_times(work, runs).items()]
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


def spare_ready(home: Path, kid: str, timeout: float = 120) -> bool:
    """Wait until the server keeps a clone of kernel ``kid``'s environment ready for hot add
    (what it does a few seconds after a kernel started); False if none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(orbit(home, "status", "--json").stdout)
        env = next((k.get("env_id") for k in status["kernels"] if k["id"] == kid), None)
        if status.get("spares", {}).get(env, {}).get("state") == "ready":
            return True
        time.sleep(0.2)
    return False


def bench_orbit_add(
    work: Path,
    runs: int,
    *,
    warm: bool = True,
    home: Path | None = None,
    settled: bool = True,
) -> list[float]:
    """Seconds of ``runs`` hot adds (after one untimed pass unless ``warm`` is false), in
    ``home`` (default: a fresh ORBIT_HOME under ``work``). ``settled``: into a kernel that has
    been open long enough for the server to keep its environment's clone ready (a few
    seconds); otherwise at once after the kernel answered."""
    home = home or work / "orbit-add"
    root = work / "orbit-project"
    nb = make_notebook(root / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": []}}})
    info = json.loads(
        orbit(home, "up", str(root), "--detach", "--no-browser").stdout.strip().splitlines()[-1]
    )
    server = Server(info["url"], info["token"])
    times: list[float] = []
    try:
        kid = server.new_session("nb.ipynb")["kernel"]["id"]
        envs = home / "envs" / "local"
        for i in range(0 if warm else 1, runs + 1):  # pass 0 warms the caches, not counted
            pkg = PACKAGES[i % len(PACKAGES)]

            async def one(pkg: str = pkg) -> float:
                async with KernelWS(server, kid) as k:
                    await k.kernel_info(timeout=600)
                    if settled:
                        await asyncio.to_thread(spare_ready, home, kid)
                    t = time.perf_counter()
                    r = await asyncio.to_thread(orbit, home, "add", pkg, "--to", str(nb))
                    if "ready now" not in r.stdout:
                        raise RuntimeError(f"not hot: {r.stdout} {r.stderr}")
                    await until_import(k, MODULES.get(pkg, pkg))
                    return time.perf_counter() - t

            elapsed = asyncio.run(one())
            if i:
                times.append(elapsed)
            status = json.loads(orbit(home, "status", "--json").stdout)
            grown = next(k["env_id"] for k in status["kernels"] if k["id"] == kid)
            orbit(home, "remove", pkg, "--to", str(nb))
            server.post(f"/api/kernels/{kid}/restart").raise_for_status()
            shutil.rmtree(envs / grown, ignore_errors=True)  # the next add grows afresh
    finally:
        orbit(home, "down", check=False)
    return times


def bench_pip(work: Path, runs: int, *, warm: bool = True, venv: Path | None = None) -> list[float]:
    """Seconds of ``runs`` `%pip install` + import (after one untimed pass unless ``warm`` is
    false) in a kernel of ``venv`` (made with pip + ipykernel unless it has them already)."""
    from jupyter_client.manager import AsyncKernelManager  # noqa: F401

    venv = venv or work / "pip-venv"
    py = venv / "bin" / "python"
    if not (venv / "bin" / "ipykernel_ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "ipykernel"], check=True)
        (venv / "bin" / "ipykernel_ready").write_text("")

    async def go() -> list[float]:
        from jupyter_orbit.execute import start_kernel

        out = []
        for i in range(0 if warm else 1, runs + 1):
            pkg = PACKAGES[i % len(PACKAGES)]
            km = await start_kernel(
                [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "python",
                work,
                "",
            )
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=120)
            t = time.perf_counter()
            r = await kc.execute_interactive(f"%pip install -q {pkg}", timeout=600)
            r = await kc.execute_interactive(f"import {MODULES.get(pkg, pkg)}", timeout=60)
            assert r["content"]["status"] == "ok", r
            if i:
                out.append(time.perf_counter() - t)
            await kc.execute_interactive(f"%pip uninstall -q -y {pkg}", timeout=600)
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return out

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return asyncio.run(go())


def bench_juv(work: Path, runs: int) -> list[float]:
    juv = shutil.which("juv") or str(Path(sys.executable).parent / "juv")
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
        results = {
            "orbit add + import (hot, same kernel)": bench_orbit_add(work, args.runs),
            "%pip install + import (plain venv kernel)": bench_pip(work, args.runs),
            "juv add + juv exec (restart)": bench_juv(work, args.runs),
        }
        base = statistics.median(results["orbit add + import (hot, same kernel)"])
        print("| add a package until importable | p50 ms | p95 ms | runs | × orbit |")
        print("|---|---|---|---|---|")
        for name, values in results.items():
            print(f"{row(name, values)} {statistics.median(values) / base:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
