"""Benchmark: load and soak. Run with `python bench/soak.py [--notebooks 20] [--clients 50]
[--duration 120]`.

One Orbit server (a fresh ORBIT_HOME, the real `orbit up`) and a project of N notebooks, each
declaring a different pin of attrs, so each has an environment of its own (resolved as of a fixed
date). Then:

1. **Open**: a session for every notebook at once, as a user opening N tabs would; each kernel's
   environment is built by the server (uv's cache warm) and the kernel answers kernel_info. Each
   kernel is checked to import its own attrs version.
2. **Soak**: C websocket clients at once, spread over the N kernels (several clients share a
   kernel, as several browser tabs would), each running small cells back to back for D seconds:
   the latency of every execute_request until its reply and the kernel's idle, checked output.
   Meanwhile a prober asks `GET /api/status` every half second, and the memory of the server and
   every process under it (its kernels) is sampled every 2 s: the sum of RSS, and of PSS (shared
   pages counted once, shared between processes).

A failure is any exception, timeout or wrong output; the run is good only with 0 failures.
Results: a Markdown table on stdout and bench/results/soak.json (load averages included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.kernelws import KernelWS, Server  # noqa: E402

AS_OF = "2025-06-01"
# attrs is in no kernel's own dependency tree: every pin is an environment of its own.
ATTRS = [
    "19.1.0",
    "19.2.0",
    "19.3.0",
    "20.1.0",
    "20.2.0",
    "20.3.0",
    "21.1.0",
    "21.2.0",
    "21.3.0",
    "21.4.0",
    "22.1.0",
    "22.2.0",
    "23.1.0",
    "23.2.0",
    "24.1.0",
    "24.2.0",
    "24.3.0",
    "25.1.0",
    "25.2.0",
    "25.3.0",
]


def env_for(home: Path, user_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(ORBIT_HOME=str(home), HOME=str(user_home), ORBIT_BROWSER="none")
    return env


def orbit(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode != 0:
        raise SystemExit(f"orbit {' '.join(args)} failed:\n{r.stderr}")
    return r


def write_notebooks(root: Path, count: int) -> list[str]:
    names = []
    for i, version in enumerate(ATTRS[:count]):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["orbit"] = {"packages": {"pypi": [f"attrs=={version}"]}, "as_of": AS_OF}
        nb.cells = [nbformat.v4.new_code_cell("import attr")]
        name = f"nb{i:02d}.ipynb"
        nbformat.write(nb, root / name)
        names.append(name)
    return names


# -- memory -----------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def memory(pid: int) -> dict[str, float]:
    """MiB of RSS and PSS summed over the server and its processes, how many there are, the
    server's own RSS, and each process's RSS with its command (the profile of the sum)."""
    rss = pss = 0
    pids = tree(pid)
    each = []
    for p in pids:
        mine = 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    mine = int(line.split()[1])
                    rss += mine
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        cmd = ""
        with contextlib.suppress(OSError):
            cmd = " ".join(Path(f"/proc/{p}/cmdline").read_bytes().decode().split("\0")[:3])
        each.append({"pid": p, "rss_mib": mine / 1024, "cmd": cmd})
    return {
        "rss_mib": rss / 1024,
        "pss_mib": pss / 1024,
        "processes": len(pids),
        "server_rss_mib": next((e["rss_mib"] for e in each if e["pid"] == pid), 0.0),
        "each": each,
    }


# -- phases -----------------------------------------------------------------------------------


async def open_all(server: Server, names: list[str], check: bool = True) -> list[dict]:
    """A session per notebook at once; each until its kernel answers and imports its attrs
    (``check``: the version its notebook pins; off for a plain server, whose kernels share one)."""

    async def one(name: str, version: str) -> dict:
        t0 = time.perf_counter()
        async with httpx.AsyncClient(timeout=1800) as client:
            r = await client.post(
                server.url + "api/sessions",
                headers=server.headers,
                json={
                    "path": name,
                    "type": "notebook",
                    "name": name,
                    "kernel": {"name": "python3"},
                },
            )
            r.raise_for_status()
        kernel = r.json()["kernel"]["id"]
        async with KernelWS(server, kernel) as k:
            await k.kernel_info(timeout=1800)
            ready = time.perf_counter() - t0
            reply = await k.execute("import attr; print(attr.__version__)", timeout=300)
        if reply.status != "ok" or (check and reply.stdout.strip() != version):
            raise RuntimeError(f"{name}: attrs {reply.stdout.strip()!r}, expected {version}")
        return {"notebook": name, "kernel": kernel, "ready_s": ready}

    return list(await asyncio.gather(*(one(n, v) for n, v in zip(names, ATTRS, strict=False))))


async def soak(
    server: Server, kernels: list[str], clients: int, duration: float, server_pid: int
) -> dict:
    latencies: list[float] = []
    status_latencies: list[float] = []
    failures: list[str] = []
    samples: list[dict] = []
    stop = time.monotonic() + duration

    async def client(n: int) -> int:
        kernel = kernels[n % len(kernels)]
        done = 0
        rng = random.Random(n)
        try:
            async with KernelWS(server, kernel) as k:
                await k.kernel_info(timeout=300)
                while time.monotonic() < stop:
                    a, b = rng.randrange(10**6), rng.randrange(10**6)
                    t0 = time.perf_counter()
                    reply = await k.execute(f"print({a} * {b})", timeout=120)
                    latencies.append(time.perf_counter() - t0)
                    if reply.status != "ok" or reply.stdout != f"{a * b}\n":
                        failures.append(f"client {n}: {reply.status} {reply.stdout!r}")
                    done += 1
        except Exception as e:  # every failure is counted and shown, none stops the others
            failures.append(f"client {n}: {type(e).__name__}: {e}")
        return done

    async def prober() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    r = await http.get(server.url + "api/status", headers=server.headers)
                    if r.status_code != 200:
                        failures.append(f"status: HTTP {r.status_code}")
                except httpx.HTTPError as e:
                    failures.append(f"status: {e}")
                status_latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.5)

    async def sampler() -> None:
        while time.monotonic() < stop:
            samples.append({"t": time.monotonic(), "load": os.getloadavg(), **memory(server_pid)})
            await asyncio.sleep(2)

    started = time.perf_counter()
    counts, *_ = await asyncio.gather(
        asyncio.gather(*(client(n) for n in range(clients))), prober(), sampler()
    )
    return {
        "seconds": time.perf_counter() - started,
        "executions": sum(counts),
        "per_client": counts,
        "latencies": latencies,
        "status_latencies": status_latencies,
        "failures": failures,
        "samples": samples,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50": q[49],
        "p90": q[89],
        "p99": q[98],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120, help="seconds of soak")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.notebooks > len(ATTRS):
        raise SystemExit(f"at most {len(ATTRS)} notebooks (one per attrs pin)")

    tmp = Path(tempfile.mkdtemp(prefix="orbit-soak-"))
    home, user_home, root = tmp / "orbit-home", tmp / "home", tmp / "project"
    for d in (user_home, root):
        d.mkdir(parents=True)
    env = env_for(home, user_home)
    names = write_notebooks(root, args.notebooks)
    load_before = os.getloadavg()
    info = json.loads(
        orbit(env, "up", str(root), "--detach", "--no-browser", cwd=root).stdout.splitlines()[-1]
    )
    server = Server(info["url"], info["token"])
    try:
        print(f"[soak] server {info['url']} pid {info['pid']}; opening", file=sys.stderr)
        t0 = time.perf_counter()
        opened = asyncio.run(open_all(server, names))
        open_seconds = time.perf_counter() - t0
        status = json.loads(orbit(env, "status", "--json", cwd=root).stdout)
        env_ids = {k["env_id"] for k in status["kernels"] if k.get("env_id")}
        if len(env_ids) != args.notebooks:
            raise SystemExit(f"expected {args.notebooks} environments, found {len(env_ids)}")
        idle = memory(info["pid"])
        print(
            f"[soak] {args.notebooks} kernels ready in {open_seconds:.1f}s; soaking",
            file=sys.stderr,
        )
        result = asyncio.run(
            soak(server, [o["kernel"] for o in opened], args.clients, args.duration, info["pid"])
        )
        alive = httpx.get(server.url + "api/status", headers=server.headers, timeout=30)
        if alive.status_code != 200:
            result["failures"].append(f"server after the soak: HTTP {alive.status_code}")
    finally:
        orbit(env, "down", cwd=root)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    lat, st = percentiles(result["latencies"]), percentiles(result["status_latencies"])
    peak = max(result["samples"], key=lambda s: s["pss_mib"]) if result["samples"] else idle
    loads = [s["load"][0] for s in result["samples"]]
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "notebooks": args.notebooks,
        "clients": args.clients,
        "open_seconds": open_seconds,
        "ready_seconds": percentiles([o["ready_s"] for o in opened]),
        "execute": lat,
        "status": st,
        "executions": result["executions"],
        "executions_per_second": result["executions"] / result["seconds"],
        "failures": result["failures"],
        "memory_idle": idle,
        "memory_peak": peak,
        "load_before": load_before,
        "load_during": {"min": min(loads), "max": max(loads)} if loads else {},
        "soak_seconds": result["seconds"],
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({**report, "raw": result}, indent=2, default=str))

    ms = {k: f"{v * 1000:.0f}" for k, v in lat.items()}
    sms = {k: f"{v * 1000:.0f}" for k, v in st.items()}
    print(
        f"| {args.notebooks} notebooks, {args.clients} clients, {result['seconds']:.0f} s | value |"
    )
    print("|---|---|")
    print(
        f"| open all (builds included), until the last kernel imports its attrs | {open_seconds:.1f} s |"
    )
    print(
        f"| execute round trip p50 / p90 / p99 / max | {ms['p50']} / {ms['p90']} / {ms['p99']} / {ms['max']} ms |"
    )
    print(
        f"| `GET /api/status` meanwhile p50 / p99 / max | {sms['p50']} / {sms['p99']} / {sms['max']} ms |"
    )
    print(
        f"| executions (per second) | {result['executions']} ({report['executions_per_second']:.1f}/s) |"
    )
    print(f"| failures | {len(result['failures'])} |")
    print(
        f"| memory after opening: RSS / PSS, processes | {idle['rss_mib']:.0f} / {idle['pss_mib']:.0f} MiB, {idle['processes']} |"
    )
    print(
        f"| memory peak during the soak: RSS / PSS | {peak['rss_mib']:.0f} / {peak['pss_mib']:.0f} MiB |"
    )
    if loads:
        print(
            f"| load average (1 min) before; during | {load_before[0]:.1f}; {min(loads):.1f}–{max(loads):.1f} |"
        )
    for failure in result["failures"][:20]:
        print(f"failure: {failure}", file=sys.stderr)
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
