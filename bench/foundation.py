"""Orbit's foundation benchmark: run a notebook, get a kernel, and the disk it all takes.

Compares ``orbit`` with ``juv`` and with the classic ``python -m venv`` + ``pip`` +
``jupyter nbconvert`` path, on this machine, in one run. See bench/README.md.

    /work/main/.venv/bin/python bench/foundation.py [--repeat N] [--quick] [--only 1,2,3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import benchlib as bl
from benchlib import BenchError, Series

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

CODE = 'import numpy as np, pandas as pd; print(pd.DataFrame({"a": np.arange(3)}).a.sum())'
EXPECT = "3\n"  # what CODE prints
CLASSIC = ["numpy", "pandas", "ipykernel", "nbconvert", "papermill"]
UV_ANCHOR = ["numpy", "pandas", "ipykernel"]  # what a new environment of the notebook holds
# Small pure-Python packages that numpy, pandas and ipykernel do not already pull in.
EXTRAS = [
    "idna",
    "attrs",
    "certifi",
    "pyparsing",
    "toolz",
    "tabulate",
    "more-itertools",
    "click",
    "iniconfig",
    "pluggy",
]
SETTLE = 3.0  # seconds between timed runs that use the server's pool (it refills in the background)
T_RUN = 300  # timeout of one notebook run
T_BUILD = 900  # timeout of one environment build / pip install


# -- the benchmark's state --------------------------------------------------------------------


@dataclass
class Bench:
    repeat: int
    disk_n: int
    tmp: Path
    tools: dict[str, str]
    series: dict[str, Series] = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    servers: set[tuple[Path, str]] = field(default_factory=set)  # (ORBIT_HOME, profile) up

    @property
    def work(self) -> Path:
        """The fixed working folder holding the benchmark notebook."""
        return self.tmp / "work"

    @property
    def nb(self) -> Path:
        return self.work / "bench.ipynb"

    @property
    def built_home(self) -> Path:
        """An ORBIT_HOME whose environment for the notebook is built (by the warm-up)."""
        return self.tmp / "home-built"

    @property
    def classic_venv(self) -> Path:
        """A venv with the classic packages installed (by the warm-up)."""
        return self.tmp / "classic-built"

    @property
    def base_python(self) -> Path:
        """The interpreter Orbit's environments use too: this venv's base Python."""
        return Path(sys.base_prefix) / "bin" / "python3"

    def add(self, key: str, seconds: float, note: str = "") -> None:
        s = self.series.setdefault(key, Series(key, note=note))
        s.samples.append(seconds)


# -- building blocks --------------------------------------------------------------------------


def write_notebook(path: Path, deps: list[str], code: str = CODE) -> Path:
    """Two code cells: a juv/uv-compatible PEP 723 block declaring ``deps``, then ``code``."""
    block = "\n".join(
        ["# /// script", '# requires-python = ">=3.11"', "# dependencies = ["]
        + [f'#     "{d}",' for d in deps]
        + ["# ]", "# ///"]
    )
    cells = [
        {"metadata": {"jupyter": {"source_hidden": True}}, "source": block},
        {"metadata": {}, "source": code},
    ]
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell{i}", "outputs": [], **c}
            for i, c in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path


def orbit(
    b: Bench, home: Path, *args: str | Path, timeout: float = T_RUN, expect: str | None = None
) -> bl.Done:
    env = bl.tool_env({"ORBIT_HOME": str(home)})
    return bl.run([b.tools["orbit"], *args], cwd=b.work, env=env, timeout=timeout, expect=expect)


def orbit_up(b: Bench, home: Path, profile: str, root: Path | None = None) -> tuple[dict, float]:
    """``orbit up`` on ``root`` (default: the work folder); returns its JSON line and how long it
    took."""
    b.servers.add((home, profile))
    done = orbit(
        b, home, "up", root or b.work, "--detach", "--no-browser", "--profile", profile, timeout=180
    )
    line = done.stdout.strip().splitlines()[-1]
    return json.loads(line), done.seconds


def orbit_down(b: Bench, home: Path, profile: str) -> None:
    orbit(b, home, "down", "--profile", profile, timeout=120)
    b.servers.discard((home, profile))


def orbit_status(b: Bench, home: Path, profile: str) -> dict:
    return json.loads(orbit(b, home, "status", "--json", "--profile", profile).stdout)


def make_venv(b: Bench, path: Path, packages: list[str]) -> tuple[float, float]:
    """``python -m venv`` then ``pip install``; returns both durations."""
    shutil.rmtree(path, ignore_errors=True)
    venv = bl.run([b.base_python, "-m", "venv", path], cwd=b.work, timeout=120)
    pip = bl.run(
        [path / "bin" / "pip", "install", "--quiet", *packages], cwd=b.work, timeout=T_BUILD
    )
    return venv.seconds, pip.seconds


def nbconvert(b: Bench, venv: Path) -> float:
    out = b.tmp / "nbconvert-out"
    shutil.rmtree(out, ignore_errors=True)
    jupyter = venv / "bin" / "jupyter"
    done = bl.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute", b.nb, "--output-dir", out],
        cwd=b.work,
        timeout=T_RUN,
    )
    executed = json.loads((out / b.nb.name).read_text())
    if EXPECT not in "".join("".join(o.get("text", "")) for o in executed["cells"][1]["outputs"]):
        raise BenchError(f"nbconvert's output notebook lacks {EXPECT!r}")
    return done.seconds


def papermill(b: Bench) -> float:
    """``papermill`` (from PyPI, in the classic venv with numpy and pandas) on the notebook."""
    out = b.tmp / "papermill-out.ipynb"
    done = bl.run(
        [b.classic_venv / "bin" / "papermill", "--kernel", "python3", b.nb, out],
        cwd=b.work,
        timeout=T_RUN,
    )
    executed = json.loads(out.read_text())
    if EXPECT not in "".join("".join(o.get("text", "")) for o in executed["cells"][1]["outputs"]):
        raise BenchError(f"papermill's output notebook lacks {EXPECT!r}")
    return done.seconds


def uv_jupyter_execute(b: Bench) -> float:
    """``uv run --with jupyter --with numpy --with pandas jupyter execute NB`` (uv's cache warm)."""
    argv = [b.tools["uv"], "run", "--no-project", "--with", "jupyter"]
    for dep in ("numpy", "pandas"):
        argv += ["--with", dep]
    done = bl.run([*argv, "jupyter", "execute", b.nb], cwd=b.work, timeout=T_RUN)
    return done.seconds


def juv_exec(b: Bench) -> float:
    return bl.run([b.tools["juv"], "exec", b.nb], cwd=b.work, timeout=T_RUN, expect=EXPECT).seconds


def juv_run_ready(b: Bench) -> bl.KernelTimes:
    """``juv run`` (JupyterLab via uv) until /api/status answers, then a kernel for the notebook.

    Returns seconds from the start: ``session`` is when the server answered, ``kernel_info`` when
    the kernel did, ``imported`` when numpy and pandas were imported.
    """
    token = os.urandom(16).hex()
    port = bl.free_port()
    jupyter_args = [f"--port={port}", "--no-browser", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        jupyter_args.append("--allow-root")
    env = bl.tool_env({"JUPYTER_TOKEN": token, "BROWSER": "true"})
    log = b.tmp / "juv-run.log"
    url = f"http://127.0.0.1:{port}/"
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [b.tools["juv"], "run", b.nb, "--", *jupyter_args],
            cwd=b.work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        bl.wait_http(url, token, start + 180, proc)
        t_server = time.perf_counter() - start
        k = bl.kernel_ready(url, token, b.nb.name)
        return bl.KernelTimes(t_server, t_server + k.kernel_info, t_server + k.imported)
    except BenchError as e:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise BenchError(f"juv run: {e}\n--- juv run log ---\n" + "\n".join(tail)) from None
    finally:
        _shutdown_jupyter(url, token)
        bl.stop_tree(proc)


def _shutdown_jupyter(url: str, token: str) -> None:
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url + "api/shutdown", headers={"Authorization": f"token {token}"}, timeout=10)


def uv_new_env(b: Bench, path: Path) -> float:
    """``uv venv && uv pip install`` of the notebook's packages and the kernel's (issue 15's
    anchor for a new environment); returns the seconds both took."""
    shutil.rmtree(path, ignore_errors=True)
    venv = bl.run([b.tools["uv"], "venv", "--python", b.base_python, path], cwd=b.work)
    pip = bl.run(
        [b.tools["uv"], "pip", "install", "--python", path / "bin" / "python", *UV_ANCHOR],
        cwd=b.work,
        timeout=T_BUILD,
    )
    shutil.rmtree(path, ignore_errors=True)
    return venv.seconds + pip.seconds


def env_folders(home: Path) -> list[Path]:
    root = home / "envs" / "local"
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


# -- warm-up ----------------------------------------------------------------------------------


def warm_up(b: Bench) -> None:
    """One untimed run of every tool, so downloads and first-time caches are not measured."""
    say("warm-up: orbit (builds the environment that the 'built' scenarios reuse)")
    orbit(b, b.built_home, "run", b.nb, "--yes", "--no-server", timeout=T_BUILD, expect=EXPECT)
    extras = EXTRAS[: b.disk_n]
    extras_nb = write_notebook(b.tmp / "warm-extras" / "extras.ipynb", ["numpy", "pandas", *extras])
    orbit(b, b.tmp / "home-warm-extras", "run", extras_nb, "--yes", timeout=T_BUILD)
    shutil.rmtree(b.tmp / "home-warm-extras", ignore_errors=True)
    say("warm-up: juv exec")
    juv_exec(b)
    say("warm-up: juv run")
    juv_run_ready(b)
    say("warm-up: python -m venv + pip install (kept for the 'classic, built' runs)")
    make_venv(b, b.classic_venv, CLASSIC)
    bl.run(
        [b.classic_venv / "bin" / "pip", "download", "--quiet", "-d", b.tmp / "pip-dl", *extras],
        cwd=b.work,
        timeout=T_BUILD,
    )
    nbconvert(b, b.classic_venv)
    say("warm-up: papermill, uv run --with jupyter ... jupyter execute")
    papermill(b)
    uv_jupyter_execute(b)


# -- scenario 1: run a notebook ---------------------------------------------------------------
#
# Repeats are interleaved (one round = every tool once) so that a change in the machine's load
# during the run weighs on every tool alike. The profile's server stays up through the rounds,
# idle except for the 1c runs; a pause before and after each 1c run lets its pool refill without
# overlapping another measurement.


def scenario_run(b: Bench) -> None:
    home, profile = b.built_home, "default"
    orbit_up(b, home, profile)
    try:
        orbit(b, home, "run", b.nb, expect=EXPECT)  # untimed: marks the environment as used
        for i in range(b.repeat):
            say(f"1: round {i + 1}/{b.repeat}")
            _run_round(b, i)
        log = Path(orbit_status(b, home, profile)["log"]).read_text(errors="replace")
        b.data["1c_server_log"] = {
            "prewarmed": log.count("(prewarmed kernel)"),
            "new": log.count("(new kernel)"),
            "runs": b.repeat + 1,
        }
    finally:
        orbit_down(b, home, profile)


def _run_round(b: Bench, i: int) -> None:
    time.sleep(SETTLE)
    say("   1c orbit run (server, warm kernel)")
    done = orbit(b, b.built_home, "run", b.nb, expect=EXPECT)
    b.add("1c_orbit_server", done.seconds, f"{SETTLE:.0f}s pause before and after each run")
    time.sleep(SETTLE)

    say("   1b orbit run --no-server")
    done = orbit(b, b.built_home, "run", b.nb, "--no-server", expect=EXPECT)
    b.add("1b_orbit_built", done.seconds)

    home = b.tmp / f"home-new-{i}"
    say("   1a orbit run --yes, fresh ORBIT_HOME")
    done = orbit(b, home, "run", b.nb, "--yes", timeout=T_BUILD, expect=EXPECT)
    b.add("1a_orbit_new", done.seconds, "fresh ORBIT_HOME: includes building the environment")
    shutil.rmtree(home, ignore_errors=True)

    say("   1a anchor: uv venv && uv pip install (the same packages, Python and uv cache)")
    b.add("1a_uv_new", uv_new_env(b, b.tmp / f"uv-new-{i}"), "uv venv + uv pip install")

    say("   juv exec")
    b.add("juv_exec", juv_exec(b))

    say("   papermill (classic venv)")
    b.add("papermill", papermill(b))

    say("   uv run --with jupyter ... jupyter execute")
    b.add("uv_jupyter_execute", uv_jupyter_execute(b))

    say("   classic built: nbconvert --execute")
    b.add("classic_built", nbconvert(b, b.classic_venv))

    venv = b.tmp / f"classic-new-{i}"
    say("   classic new: venv + pip install + nbconvert --execute")
    t_venv, t_pip = make_venv(b, venv, CLASSIC)
    t_nb = nbconvert(b, venv)
    b.add("classic_new", t_venv + t_pip + t_nb, "python -m venv + pip install + nbconvert")
    b.data.setdefault("classic_new_parts", []).append(
        {"venv": t_venv, "pip": t_pip, "nbconvert": t_nb}
    )
    shutil.rmtree(venv, ignore_errors=True)


# -- scenario 2: server + kernel readiness ----------------------------------------------------


def scenario_ready(b: Bench) -> None:
    home = b.built_home
    say("2: priming the 'after a previous run' profile (up, one session, down)")
    _orbit_ready(b, home, "warm", None)
    for i in range(b.repeat):
        say(f"2: round {i + 1}/{b.repeat}")
        say("   orbit up + kernel, cold pool (fresh profile)")
        _orbit_ready(b, home, f"cold-{i}", "2_orbit_cold")
        say("   orbit up + kernel, after a previous run")
        _orbit_ready(b, home, "warm", "2_orbit_warm")
        say("   juv run + kernel")
        k = juv_run_ready(b)
        b.add("2_juv_server", k.session)
        b.add("2_juv_kernel", k.kernel_info - k.session)
        b.add("2_juv_sum", k.kernel_info)
        b.add("2_juv_import", k.imported)


def _orbit_ready(
    b: Bench, home: Path, profile: str, key: str | None, code: str = "import numpy, pandas"
) -> None:
    """``orbit up`` then a kernel for the notebook (until it has run ``code``); recorded under
    ``key`` (None: untimed)."""
    info, t_up = orbit_up(b, home, profile)
    try:
        k = bl.kernel_ready(info["url"], info["token"], b.nb.name, code=code)
        kernels = orbit_status(b, home, profile).get("kernels", [])
    finally:
        orbit_down(b, home, profile)
    if key is None:
        return
    b.add(f"{key}_server", t_up)
    b.add(f"{key}_kernel", k.kernel_info)
    b.add(f"{key}_sum", t_up + k.kernel_info)
    b.add(f"{key}_import", t_up + k.imported)
    b.data.setdefault(f"{key}_prewarmed", []).append([kk.get("prewarmed") for kk in kernels])
    time.sleep(1)  # let the ports and the old server's processes go


# -- scenario 3: disk -------------------------------------------------------------------------


def scenario_disk(b: Bench) -> None:
    n = b.disk_n
    disk: dict = {"n": n}
    b.data["disk"] = disk

    home = b.tmp / "disk-same"
    times = []
    for i in range(n):
        say(f"3a orbit run, same requirements ({i + 1}/{n})")
        nb = write_notebook(b.tmp / "disk-same-nbs" / f"p{i}" / "nb.ipynb", ["numpy", "pandas"])
        times.append(orbit(b, home, "run", nb, "--yes", timeout=T_BUILD, expect=EXPECT).seconds)
    disk["orbit_same"] = {
        "env_folders": len(env_folders(home)),
        "bytes": bl.disk_usage([home / "envs" / "local"]),
        "run_seconds": times,
    }

    home = b.tmp / "disk-distinct"
    times, one = [], 0
    for i, extra in enumerate(EXTRAS[:n]):
        say(f"3b orbit run, numpy+pandas+{extra} ({i + 1}/{n})")
        nb = write_notebook(
            b.tmp / "disk-distinct-nbs" / f"p{i}" / "nb.ipynb", ["numpy", "pandas", extra]
        )
        times.append(orbit(b, home, "run", nb, "--yes", timeout=T_BUILD, expect=EXPECT).seconds)
        if i == 0:
            one = bl.disk_usage([home / "envs" / "local"])
    disk["orbit_distinct"] = {
        "env_folders": len(env_folders(home)),
        "one": one,
        "total": bl.disk_usage([home / "envs" / "local"]),
        "bytecode_store": bl.disk_usage([home / "envs" / "local" / ".bytecode"]),
        "run_seconds": times,
    }

    venvs, times = [], []
    for i, extra in enumerate(EXTRAS[:n]):
        say(f"3b python -m venv + pip install numpy pandas ipykernel {extra} ({i + 1}/{n})")
        venv = b.tmp / "disk-pip" / f"v{i}"
        t_venv, t_pip = make_venv(b, venv, ["numpy", "pandas", "ipykernel", extra])
        venvs.append(venv)
        times.append(t_venv + t_pip)
    say("3b measuring the pip venvs' disk usage")
    disk["pip_distinct"] = {
        "venvs": len(venvs),
        "one": bl.disk_usage(venvs[:1]),
        "total": bl.disk_usage(venvs),
        "build_seconds": times,
    }


# -- report -----------------------------------------------------------------------------------


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def report_run(b: Bench) -> str:
    s = b.series
    ref = s.get("1c_orbit_server")
    rows_spec = [
        (
            "1a",
            "orbit run, environment new",
            "`orbit run --yes` (fresh ORBIT_HOME)",
            "1a_orbit_new",
        ),
        ("1b", "orbit run, environment built", "`orbit run --no-server`", "1b_orbit_built"),
        ("1c", "orbit run, built + server with warm kernel", "`orbit run`", "1c_orbit_server"),
        ("", "uv, new (anchor of 1a)", "`uv venv && uv pip install` (no run)", "1a_uv_new"),
        ("", "juv exec (uv cache warm)", "`juv exec NB`", "juv_exec"),
        ("", "papermill (venv built)", "`papermill NB OUT`", "papermill"),
        (
            "",
            "uv run + jupyter execute (uv cache warm)",
            "`uv run --with jupyter --with numpy --with pandas jupyter execute NB`",
            "uv_jupyter_execute",
        ),
        ("", "classic, new", "venv + pip install + nbconvert --execute", "classic_new"),
        ("", "classic, built", "`jupyter nbconvert --execute`", "classic_built"),
    ]
    rows = []
    for num, what, cmd, key in rows_spec:
        if key not in s:
            continue
        x = s[key]
        times_ref = f"{bl.ratio(x.median, ref.median):.1f}×" if ref else "–"
        rows.append([num, what, cmd, fmt(x.median), fmt(x.min), fmt(x.max), times_ref])
    if not rows:
        return "(not run)"
    table = md_table(["", "scenario", "command", "median", "min", "max", "÷ 1c"], rows)
    pairs = [
        ("papermill ÷ orbit run (1c, server)", "papermill", "1c_orbit_server"),
        ("papermill ÷ orbit run (1b, no server)", "papermill", "1b_orbit_built"),
        ("uv run … jupyter execute ÷ orbit run (1b)", "uv_jupyter_execute", "1b_orbit_built"),
        ("juv exec ÷ orbit run (1c, server)", "juv_exec", "1c_orbit_server"),
        ("juv exec ÷ orbit run (1b, no server)", "juv_exec", "1b_orbit_built"),
        ("classic built ÷ orbit run (1c)", "classic_built", "1c_orbit_server"),
        ("classic built ÷ orbit run (1b)", "classic_built", "1b_orbit_built"),
        ("classic new ÷ orbit run new (1a)", "classic_new", "1a_orbit_new"),
        ("orbit run new (1a) ÷ uv venv + uv pip install", "1a_orbit_new", "1a_uv_new"),
    ]
    lines = [
        f"- {label}: **{bl.ratio(s[a].median, s[c].median):.1f}×**"
        for label, a, c in pairs
        if a in s and c in s
    ]
    if log := b.data.get("1c_server_log"):
        lines.append(
            f"- 1c: the server used a prewarmed kernel in {log['prewarmed']} of {log['runs']} "
            "runs (the first, untimed run finds the pool empty)"
        )
    return table + "\n\n" + "\n".join(lines)


def report_ready(b: Bench) -> str:
    s = b.series
    ref = s.get("2_orbit_warm_sum")
    rows = []
    for label, key in (
        ("orbit up + kernel, cold pool (never ran the notebook)", "2_orbit_cold"),
        ("orbit up + kernel, after a previous run (prewarmed at start)", "2_orbit_warm"),
        ("juv run (JupyterLab via uv) + kernel", "2_juv"),
    ):
        if f"{key}_sum" not in s:
            continue
        tot = s[f"{key}_sum"]
        rows.append(
            [
                label,
                fmt(s[f"{key}_server"].median),
                fmt(s[f"{key}_kernel"].median),
                f"{fmt(tot.median)} ({tot.min:.2f}–{tot.max:.2f})",
                fmt(s[f"{key}_import"].median),
                f"{bl.ratio(tot.median, ref.median):.1f}×" if ref else "–",
            ]
        )
    if not rows:
        return "(not run)"
    return md_table(
        [
            "scenario",
            "server answers",
            "then kernel_info_reply",
            "sum (min–max)",
            "+ `import numpy, pandas` done",
            "sum ÷ orbit after a run",
        ],
        rows,
    )


def report_disk(b: Bench) -> str:
    d = b.data.get("disk")
    if not d:
        return "(not run)"
    n = d["n"]
    same, od, pd_ = d["orbit_same"], d["orbit_distinct"], d["pip_distinct"]

    def per_ten(x: dict) -> str:
        if n >= 10 or n < 2:
            return "–"
        step = (x["total"] - x["one"]) / (n - 1)
        return f"{bl.mib(x['one'] + 9 * step)} ({(x['one'] + 9 * step) / x['one']:.2f}×)"

    rows = [
        [
            f"orbit: {n} notebooks, same numpy+pandas",
            str(same["env_folders"]),
            "–",
            bl.mib(same["bytes"]),
            "–",
            "–",
        ],
        [
            f"orbit: {n} distinct envs (numpy+pandas+1)",
            str(od["env_folders"]),
            bl.mib(od["one"]),
            bl.mib(od["total"]),
            f"{od['total'] / od['one']:.2f}×",
            per_ten(od),
        ],
        [
            f"pip venvs: {n} distinct (numpy pandas ipykernel +1)",
            str(pd_["venvs"]),
            bl.mib(pd_["one"]),
            bl.mib(pd_["total"]),
            f"{pd_['total'] / pd_['one']:.2f}×",
            per_ten(pd_),
        ],
    ]
    table = md_table(
        ["", "env folders", "disk, 1 env", f"disk, {n} envs", f"{n} ÷ 1", "extrapolated to 10"],
        rows,
    )
    return (
        table
        + f"\n\n- pip total ÷ orbit total ({n} distinct envs): "
        + f"**{pd_['total'] / od['total']:.1f}×**"
        + f"\n- orbit's shared bytecode store: {bl.mib(od['bytecode_store'])} of its total"
        + f"\n- orbit's per-notebook runs for 3a: {', '.join(f'{t:.1f}' for t in same['run_seconds'])} s"
        + f"\n- build time per env, median: orbit {_median(od['run_seconds']):.1f} s "
        + f"(`orbit run --yes`, incl. running the notebook), pip {_median(pd_['build_seconds']):.1f} s"
        + " (venv + pip install)"
    )


def _median(xs: list[float]) -> float:
    return Series("", list(xs)).median


# -- machine, main ----------------------------------------------------------------------------


def machine(b: Bench) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uv_cache = bl.capture([b.tools["uv"], "cache", "dir"])
    same_dev = None
    if Path(uv_cache).exists():
        same_dev = Path(uv_cache).stat().st_dev == b.tmp.stat().st_dev
    return {
        "nproc": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "cpu": cpu,
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "base_python": str(b.base_python),
        "uv": bl.capture([b.tools["uv"], "--version"]),
        "juv": bl.capture([b.tools["juv"], "--version"]),
        "orbit": bl.capture([b.tools["orbit"], "--version"]),
        "pip": bl.capture([b.base_python, "-m", "pip", "--version"]),
        "uv_python_for_juv": bl.capture([b.tools["uv"], "python", "find", ">=3.11"], cwd=b.work),
        "uv_cache_dir": uv_cache,
        "tmp_same_device_as_uv_cache": same_dev,
        "pip_config_list": bl.capture([b.base_python, "-m", "pip", "config", "list"]),
        "PYTHONDONTWRITEBYTECODE_on_machine": os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }


def machine_md(m: dict) -> str:
    return (
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, {m['platform']}; "
        f"Python {m['python']}; {m['uv']}; {m['juv']}; {m['orbit']}; "
        f"{m['pip'].split(' from ')[0]}. uv cache warm, pip cache warm. "
        f"Load average (1/5/15 min) at start {_load(m['loadavg_start'])}"
        + (f", at end {_load(m['loadavg_end'])}" if "loadavg_end" in m else "")
        + "."
    )


def _load(avg: tuple[float, ...]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


SCENARIOS: dict[str, tuple[str, Callable[[Bench], None]]] = {
    "1": ("run a notebook", scenario_run),
    "2": ("server + kernel readiness", scenario_ready),
    "3": ("disk", scenario_disk),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, help="timed repeats per measurement (default 5)")
    p.add_argument("--quick", action="store_true", help="repeat 2, 3 disk envs (~10 minutes)")
    p.add_argument("--disk-envs", type=int, help="environments in the disk scenario (default 10)")
    p.add_argument("--only", default="1,2,3", help="scenarios to run, e.g. 1,3")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    args.repeat = args.repeat or (2 if args.quick else 5)
    args.disk_envs = min(args.disk_envs or (3 if args.quick else 10), len(EXTRAS))
    if args.repeat < 1 or args.disk_envs < 1:
        p.error("--repeat and --disk-envs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := [s for s in only if s not in SCENARIOS]:
        print(f"unknown scenario(s): {unknown}; choose from {list(SCENARIOS)}", file=sys.stderr)
        return 2
    try:
        tools = bl.require_tools(["orbit", "juv", "uv"])
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="orbit-bench-"))
    b = Bench(repeat=args.repeat, disk_n=args.disk_envs, tmp=tmp, tools=tools)
    write_notebook(b.nb, ["numpy", "pandas"])
    started = datetime.now(UTC)
    errors: dict[str, str] = {}
    mach: dict = {}
    try:
        if not b.base_python.exists():
            raise BenchError(f"no base interpreter at {b.base_python} for `python -m venv`")
        mach = machine(b)
        warm_up(b)
        for key in only:
            title, fn = SCENARIOS[key]
            try:
                fn(b)
            except BenchError as e:
                errors[key] = str(e)
                say(f"scenario {key} ({title}) FAILED:\n{e}")
    except BenchError as e:
        errors["setup"] = str(e)
        say(f"FAILED before the scenarios:\n{e}")
    finally:
        for home, profile in list(b.servers):
            try:
                orbit_down(b, home, profile)
            except BenchError as e:
                say(f"could not stop the server of {home} {profile}: {e}")
        mach["loadavg_end"] = os.getloadavg()
        if args.keep:
            say(f"kept {tmp}")
        else:
            say(f"removing {tmp}")
            shutil.rmtree(tmp, ignore_errors=True)

    text = render(b, mach, started, args)
    print(text)
    out = RESULTS / f"foundation-{started:%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    bl.write_json(
        out,
        {
            "started": started.isoformat(timespec="seconds"),
            "args": {"repeat": b.repeat, "disk_envs": b.disk_n, "quick": args.quick, "only": only},
            "machine": mach,
            "series": {k: v.to_json() for k, v in b.series.items()},
            "data": b.data,
            "errors": errors,
            "markdown": text,
        },
    )
    say(f"raw results: {out}")
    for key, err in errors.items():
        print(f"\nscenario {key} failed:\n{err}", file=sys.stderr)
    return 1 if errors else 0


def render(b: Bench, mach: dict, started: datetime, args: argparse.Namespace) -> str:
    parts = [
        f"### {started:%Y-%m-%d} — repeat {b.repeat}, disk envs {b.disk_n}"
        + (" (--quick)" if args.quick else ""),
        machine_md(mach) if "nproc" in mach else "",
        "#### 1. Run the notebook (numpy + pandas), seconds",
        report_run(b),
        "#### 2. Server + kernel ready (environment built), seconds",
        report_ready(b),
        f"#### 3. Disk (hardlinked bytes counted once; uv/pip caches not counted), {b.disk_n} envs",
        report_disk(b),
    ]
    return "\n\n".join(p for p in parts if p)


if __name__ == "__main__":
    sys.exit(main())
