"""Benchmark: open -> kernel ready, and the idle server's memory, against plain JupyterLab.

Run with `python bench/pool.py [--repeat 3] [--variant NAME=ORBIT_EXE ...]`: several Orbits
(e.g. the code before and after a change, each installed in a venv of its own) are measured
in interleaved rounds with plain JupyterLab (this venv's `jupyter lab`, its own python3
kernel) as the anchor in every round, and medians are reported with the load averages.

Per round and Orbit (each with an ORBIT_HOME of its own, its environments built beforehand):

- **first after up**: the profile "seen" has opened `a.ipynb` and `b.ipynb` before (b declares
  a package of its own, so its environment is not a default one); `orbit up`, then at once a
  session for `b.ipynb` until the kernel answers kernel_info.
- **built, not pooled**: a fresh profile; `orbit up`, wait until the server is idle (its default
  prewarm done), then `c.ipynb`, whose environment is built but never opened in this profile.
- **idle memory**: RSS and PSS of the server and every process under it, idle with its pool:
  the fresh profile just before `c.ipynb` (its default prewarm only) and the "seen" profile 10 s
  after its first open (its recent environments warm); JupyterLab idle, no kernel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.support.kernelws import Server  # noqa: E402

import benchlib as bl  # noqa: E402
from soak import memory  # noqa: E402

AS_OF = "2025-06-01"
NOTEBOOKS = {"a.ipynb": [], "b.ipynb": ["attrs==23.1.0"], "c.ipynb": ["attrs==22.2.0"]}


def notebook(path: Path, pypi: list[str]) -> None:
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    meta["orbit"] = {"as_of": AS_OF, **({"packages": {"pypi": pypi}} if pypi else {})}
    cell = {"cell_type": "code", "id": "c0", "metadata": {}, "outputs": [], "source": "1"}
    cell["execution_count"] = None
    nb = {"cells": [cell], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


class Orbit:
    """One Orbit under test; its profiles are named after it, in an ORBIT_HOME that variants
    may share (then they share the server environment and the kernels' environments)."""

    def __init__(self, name: str, exe: str, home: Path, work: Path) -> None:
        self.name, self.exe, self.work, self.home = name, exe, work, home
        self.env = bl.tool_env({"ORBIT_HOME": str(self.home), "ORBIT_BROWSER": "none"})

    def select(self) -> None:
        """Called before each of this variant's measurements (a subclass may switch code)."""

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        r = subprocess.run(
            [self.exe, *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"{self.name}: orbit {' '.join(args)}: {r.stderr[-2000:]}")
        return r

    def up(self, profile: str) -> dict:
        r = self.run("up", str(self.work), "--detach", "--no-browser", "--profile", profile)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def down(self, profile: str) -> None:
        with contextlib.suppress(Exception):
            self.run("down", "--profile", profile, timeout=120)
        time.sleep(1)

    def status(self, profile: str) -> dict:
        return json.loads(self.run("status", "--json", "--profile", profile).stdout)

    def settle(self, profile: str, timeout: float = 300) -> None:
        """Until the pool has nothing starting (and has had time to begin)."""
        time.sleep(2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pool = self.status(profile)["pool"]
            if pool and not any(p["starting"] for p in pool):
                return
            time.sleep(0.5)


def kernel_info(url: str, token: str, notebook: str, timeout: float = 180) -> float:
    """Seconds from asking for a session for ``notebook`` until its kernel answers kernel_info
    (as JupyterLab opening it)."""
    import asyncio

    from tests.support.kernelws import KernelWS, Server

    server = Server(url, token)
    start = time.perf_counter()
    session = server.new_session(notebook)

    async def talk() -> float:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info(timeout=timeout)
            return time.perf_counter() - start

    return asyncio.run(asyncio.wait_for(talk(), timeout))


def server_pid(o: Orbit, profile: str) -> int:
    return int(o.status(profile)["pid"])


def measure_orbit(o: Orbit, rnd: int, out: dict) -> None:
    o.select()
    seen = f"{o.name}-seen"
    info = o.up(seen)
    try:
        t = kernel_info(info["url"], info["token"], "b.ipynb")
        out.setdefault(f"{o.name}/first_after_up", []).append(t)
        kernels = o.status(seen)["kernels"]
        out.setdefault(f"{o.name}/first_after_up_prewarmed", []).append(
            [bool(x.get("prewarmed")) for x in kernels]
        )
        bl_server = Server(info["url"], info["token"])
        for s in bl_server.get("/api/sessions").json():  # closed, as when its tab is closed
            bl_server.delete(f"/api/sessions/{s['id']}")
        time.sleep(10)
        out.setdefault(f"{o.name}/idle_seen_mem", []).append(memory(server_pid(o, seen)))
    finally:
        o.down(seen)
    fresh = f"{o.name}-fresh{rnd}"
    info = o.up(fresh)
    try:
        o.settle(fresh)
        time.sleep(3)
        out.setdefault(f"{o.name}/idle_fresh_mem", []).append(memory(server_pid(o, fresh)))
        t = kernel_info(info["url"], info["token"], "c.ipynb")
        out.setdefault(f"{o.name}/built_not_pooled", []).append(t)
    finally:
        o.down(fresh)


def measure_lab(tmp: Path, work: Path, out: dict) -> None:
    token, port = os.urandom(16).hex(), bl.free_port()
    url = f"http://127.0.0.1:{port}/"
    env = bl.tool_env({"JUPYTER_TOKEN": token})
    args = [f"--port={port}", "--no-browser", "--ServerApp.port_retries=0", "--allow-root"]
    with (tmp / "lab.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter-lab"), *args],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        bl.wait_http(url, token, time.monotonic() + 180, proc)
        time.sleep(3)
        out.setdefault("lab/idle_mem", []).append(memory(proc.pid))
        out.setdefault("lab/open", []).append(kernel_info(url, token, "c.ipynb"))
    finally:
        bl.stop_tree(proc)


def main(make=Orbit) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--variant", action="append", default=[], help="NAME=path/to/orbit")
    args = p.parse_args()
    variants = [v.split("=", 1) for v in args.variant] or [["orbit", str(REPO / ".venv/bin/orbit")]]
    tmp = Path(tempfile.mkdtemp(prefix="orbit-bench-pool-"))
    work = tmp / "work"
    work.mkdir()
    for name, deps in NOTEBOOKS.items():
        notebook(work / name, deps)
    orbits = [make(n, exe, tmp / "home", work) for n, exe in variants]
    for o in orbits:  # build every environment; the "seen" profile opens a and b once
        o.select()
        for name in NOTEBOOKS:
            o.run("run", "--yes", str(work / name))
        info = o.up(f"{o.name}-seen")
        for name in ("a.ipynb", "b.ipynb"):
            kernel_info(info["url"], info["token"], name)
        time.sleep(5)
        o.down(f"{o.name}-seen")
    out: dict = {"load": []}
    for rnd in range(args.repeat):
        order = orbits if rnd % 2 == 0 else orbits[::-1]
        out["load"].append(os.getloadavg())
        measure_lab(tmp, work, out)
        for o in order:
            measure_orbit(o, rnd, out)
        out["load"].append(os.getloadavg())
        print(f"round {rnd + 1}/{args.repeat} done, load {os.getloadavg()}", file=sys.stderr)
    results = REPO / "bench" / "results" / "pool.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(out, indent=1, default=str))
    print("| measure | " + " | ".join(["lab", *(o.name for o in orbits)]) + " |")
    print("|---|" + "---|" * (1 + len(orbits)))

    def med(key: str, field: str | None = None) -> str:
        xs = out.get(key)
        if not xs:
            return "–"
        vals = [x[field] for x in xs] if field else xs
        return f"{statistics.median(vals):.{0 if field else 2}f}"

    rows = [
        ("open → kernel_info, first notebook after up (s)", None, "first_after_up", None),
        ("open → kernel_info, built env not pooled (s)", "lab/open", "built_not_pooled", None),
        ("idle RSS, fresh profile (MiB)", "lab/idle_mem", "idle_fresh_mem", "rss_mib"),
        ("idle PSS, fresh profile (MiB)", "lab/idle_mem", "idle_fresh_mem", "pss_mib"),
        ("idle RSS, after opening a+b (MiB)", "lab/idle_mem", "idle_seen_mem", "rss_mib"),
        ("idle PSS, after opening a+b (MiB)", "lab/idle_mem", "idle_seen_mem", "pss_mib"),
    ]
    for title, lab, key, field in rows:
        cells = [med(lab, field) if lab else "–"] + [med(f"{o.name}/{key}", field) for o in orbits]
        print(f"| {title} | " + " | ".join(cells) + " |")
    print(f"\nload averages (1, 5, 15 min) per round start/end: {out['load']}")
    print(
        f"prewarmed (first after up): {[out.get(f'{o.name}/first_after_up_prewarmed') for o in orbits]}"
    )


if __name__ == "__main__":
    main()
