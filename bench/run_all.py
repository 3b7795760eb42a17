"""Issue 15's table in one command: Orbit against its anchors, measured in the same run.

    bench/run-all [--rounds N]       # the full table (medians of N interleaved rounds)
    bench/run-all --smoke            # every row once, smallest inputs: proves the harness works

Every row times Orbit (the worktree's `.venv/bin/orbit`) and its anchor(s) in interleaved rounds
(one round runs each side once), so a change of load weighs on both alike; the 1-minute load
average is read before and after each group of rows. The anchors (papermill, juv, JupyterLab)
live in a venv made once from PyPI under the cache folder; their versions are in the output.
Output: Markdown on stdout and in `<results>/run-all-<date>.md`, everything (every sample, what
each row ran, versions, load) in `<results>/run-all-<date>.json`. Exit code 1 if a row failed.
The measuring itself is the other benchmarks' (foundation, soak, bazaar, kernels); this script
only arranges it. See bench/README.md, "run-all".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.conftest import UV_CACHE  # noqa: E402
from tests.support.kernelws import Server  # noqa: E402

import bazaar  # noqa: E402
import benchlib as bl  # noqa: E402
import foundation as fd  # noqa: E402
import kernels  # noqa: E402
import soak  # noqa: E402
from benchlib import BenchError, Series  # noqa: E402

# What the anchor venv holds (from PyPI, unpinned: the versions it got are recorded). ipykernel,
# numpy and pandas make its `python3` kernel able to run the benchmark notebook.
ANCHORS = ["papermill", "juv", "jupyterlab", "ipykernel", "numpy", "pandas"]
SETTLE = 3.0  # seconds around a server-side run, while the server refills its pool


# -- the run's state ---------------------------------------------------------------------------


@dataclass
class Run:
    b: fd.Bench  # foundation's state: tmp folder, tools, series of samples
    smoke: bool
    rounds: int
    anchors: Path  # the anchor venv
    notebooks: int  # notebooks of the "many notebooks" row
    deps: list[str] = field(default_factory=lambda: ["numpy", "pandas"])  # the notebook's
    versions: dict = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """One ORBIT_HOME for every row: the benchmark notebook's environment is built in it."""
        return self.b.built_home

    @property
    def nb(self) -> Path:
        return self.b.nb

    @property
    def code(self) -> str:
        """The notebook's code cell (it prints 3); the smoke notebook needs no package."""
        return fd.CODE if self.deps else "print(1 + 2)"

    @property
    def probe(self) -> str:
        """What a kernel runs after kernel_info to show the notebook's packages are there."""
        return "import " + ", ".join(self.deps) if self.deps else "import sys"

    def anchor_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The anchors' environment: their venv first on PATH, uv's cache and Python as Orbit's."""
        env = bl.tool_env({"UV_CACHE_DIR": UV_CACHE, "UV_PYTHON": str(self.b.base_python)})
        env.pop("JUPYTER_TOKEN", None)
        env.update(extra or {})
        env["PATH"] = os.pathsep.join([str(self.anchors / "bin"), env["PATH"]])
        return env

    def add(self, key: str, value: float) -> None:
        self.b.add(key, value)

    def s(self, key: str) -> Series:
        return self.b.series[key]


@dataclass
class Row:
    what: str
    orbit: str
    anchors: str
    target: str
    met: bool | None
    ratio: str
    measured: str  # the commands / calls behind the numbers
    load: tuple[float, float] = (float("nan"), float("nan"))
    error: str = ""

    def cells(self) -> list[str]:
        met = "FAILED" if self.error else {True: "met", False: "not met", None: "–"}[self.met]
        return [
            self.what,
            self.orbit,
            self.anchors,
            self.target,
            met,
            self.ratio,
            f"{self.load[0]:.1f} → {self.load[1]:.1f}",
        ]


def say(msg: str) -> None:
    fd.say(msg)


def sec(x: float) -> str:
    return f"{x:.2f} s"


def med(r: Run, key: str) -> float:
    return r.s(key).median


# -- setup -------------------------------------------------------------------------------------


def anchor_venv(cache: Path, base_python: Path) -> tuple[Path, dict[str, str]]:
    """The anchors' venv under ``cache``, made once (uv, from PyPI); their versions."""
    venv = cache / "anchors"
    stamp = venv / "run-all-anchors.json"
    uv = str(bl.VENV_BIN / "uv")
    env = bl.tool_env({"UV_CACHE_DIR": UV_CACHE})
    if not stamp.exists() or json.loads(stamp.read_text()) != ANCHORS:
        say(f"making the anchors' venv {venv} ({', '.join(ANCHORS)}) from PyPI")
        shutil.rmtree(venv, ignore_errors=True)
        cache.mkdir(parents=True, exist_ok=True)
        bl.run([uv, "venv", "--seed", "--python", base_python, venv], cwd=cache, env=env)
        bl.run(
            [uv, "pip", "install", "--python", venv / "bin" / "python", *ANCHORS],
            cwd=cache,
            env=env,
            timeout=900,
        )
        stamp.write_text(json.dumps(ANCHORS))
    listed = bl.run(
        [uv, "pip", "list", "--format", "json", "--python", venv / "bin" / "python"],
        cwd=cache,
        env=env,
    ).stdout
    have = {p["name"].lower(): p["version"] for p in json.loads(listed)}
    return venv, {name: have.get(name, "?") for name in [*ANCHORS, "uv", "nbclient"]}


# -- rows 1 and 2: orbit run, with and without the server ---------------------------------------


def papermill(r: Run) -> float:
    out = r.b.tmp / "papermill-out.ipynb"
    done = bl.run(
        [r.anchors / "bin" / "papermill", r.nb, out, "-k", "python3", "--no-progress-bar"],
        cwd=r.b.work,
        env=r.anchor_env(),
        timeout=fd.T_RUN,
    )
    cells = json.loads(out.read_text())["cells"]
    if fd.EXPECT not in "".join("".join(o.get("text", "")) for o in cells[1]["outputs"]):
        raise BenchError(f"papermill's output notebook lacks {fd.EXPECT!r}")
    return done.seconds


def juv_exec(r: Run) -> float:
    return bl.run(
        [r.anchors / "bin" / "juv", "exec", r.nb],
        cwd=r.b.work,
        env=r.anchor_env(),
        timeout=fd.T_RUN,
        expect=fd.EXPECT,
    ).seconds


def uv_run_execute(r: Run) -> float:
    """`uv run --with jupyter … jupyter execute NB` (fails on a cell error; it saves nothing)."""
    withs = [a for w in ["jupyter", *r.deps] for a in ("--with", w)]
    return bl.run(
        [r.anchors / "bin" / "uv", "run", "--no-project", *withs, "jupyter", "execute", r.nb],
        cwd=r.b.work,
        env=r.anchor_env(),
        timeout=fd.T_RUN,
    ).seconds


def kernel_floor(r: Run, packages: bool = True) -> list[str]:
    """What no way of starting the notebook's kernel here can go below: the built environment's
    Python importing ipykernel's kernel (and, with ``packages``, the notebook's packages); no
    kernel started, no Orbit."""
    where = json.loads(fd.orbit(r.b, r.home, "env", r.nb, "--json").stdout)["location"]
    names = [d.replace("-", "_") for d in r.deps] if packages else []
    return [
        str(Path(where) / "bin" / "python"),
        "-c",
        f"import {', '.join(['ipykernel.kernelapp', *names])}",
    ]


ANCHOR_RUNS: dict[str, Callable[[Run], float]] = {
    "papermill": papermill,
    "juv_exec": juv_exec,
    "uv_run": uv_run_execute,
}


def group_run(r: Run) -> list[Row]:
    b, home = r.b, r.home
    fd.orbit_up(b, home, "default")
    try:
        if not r.smoke:
            say("run: untimed first runs (the server learns the environment; anchors' caches)")
            fd.orbit(b, home, "run", r.nb, expect=fd.EXPECT)
            for fn in ANCHOR_RUNS.values():
                fn(r)
        floor = kernel_floor(r)
        for i in range(r.rounds):
            say(f"run: round {i + 1}/{r.rounds}")
            time.sleep(0 if r.smoke else SETTLE)
            r.add("run_server", fd.orbit(b, home, "run", r.nb, expect=fd.EXPECT).seconds)
            time.sleep(0 if r.smoke else SETTLE)
            done = fd.orbit(b, home, "run", r.nb, "--no-server", expect=fd.EXPECT)
            r.add("run_no_server", done.seconds)
            r.add("kernel_floor", bl.run(floor, cwd=b.work, env=bl.tool_env({})).seconds)
            for key, fn in ANCHOR_RUNS.items():
                r.add(key, fn(r))
    finally:
        fd.orbit_down(b, home, "default")
    pm, juv, uvr = med(r, "papermill"), med(r, "juv_exec"), med(r, "uv_run")
    anchors = f"papermill {sec(pm)}; juv exec {sec(juv)}; uv run … jupyter execute {sec(uvr)}"
    measured_anchors = (
        f"`papermill NB OUT -k python3`; `juv exec NB`; "
        f"`uv run --no-project {' '.join('--with ' + w for w in ['jupyter', *r.deps])} "
        "jupyter execute NB` "
        "(anchor venv; the same samples serve both rows)"
    )
    up, no, low = med(r, "run_server"), med(r, "run_no_server"), med(r, "kernel_floor")
    return [
        Row(
            f"`orbit run`, server up ({' + '.join(r.deps) or 'no package'} notebook, env built)",
            sec(up),
            anchors,
            "≤ 0.2 s, ≥ 6× papermill",
            up <= 0.2 and pm / up >= 6,
            f"papermill ÷ orbit {pm / up:.1f}×; juv {juv / up:.1f}×; uv run {uvr / up:.1f}×",
            "`orbit run NB` with `orbit up` serving the folder"
            + ("" if r.smoke else f", {SETTLE:.0f} s pauses around it")
            + "; "
            + measured_anchors,
        ),
        Row(
            "`orbit run --no-server` (env built)",
            sec(no),
            anchors,
            "≤ 0.6 s, ≥ 2× papermill, ≥ 2× uv run",
            no <= 0.6 and pm / no >= 2 and uvr / no >= 2,
            f"papermill ÷ orbit {pm / no:.1f}×; juv {juv / no:.1f}×; uv run {uvr / no:.1f}×; "
            f"floor {sec(low)} (orbit − floor {sec(no - low)})",
            "`orbit run NB --no-server`; floor: the environment's Python importing what a "
            "kernel and the notebook import (`python -c 'import ipykernel.kernelapp, "
            f"{', '.join(r.deps) or '…'}'`), no kernel, no Orbit; " + measured_anchors,
        ),
    ]


# -- rows 3 and 5: open → kernel_info_reply, idle memory ------------------------------------------


def _session(url: str, token: str, nb: str, code: str) -> float:
    """POST /api/sessions for ``nb`` until kernel_info_reply; the session is closed after."""
    k = bl.kernel_ready(url, token, nb, code=code)
    kernels.stop_kernels(Server(url, token))
    return k.kernel_info


def _pool(url: str, token: str) -> list[dict]:
    r = Server(url, token).get("/orbit/api/status")
    r.raise_for_status()
    return r.json().get("pool", [])


def group_open(r: Run) -> list[Row]:
    b, home, name = r.b, r.home, r.nb.name
    fd.orbit(b, home, "config", "set", "OrbitExtension.pool_per_env", "0", "--profile", "nopool")
    notes: list[str] = []
    lab = None
    try:
        say("open: servers up (pooled, pool off, plain JupyterLab)")
        pooled, _ = fd.orbit_up(b, home, "pooled")
        nopool, _ = fd.orbit_up(b, home, "nopool")
        token = os.urandom(16).hex()
        lab, lab_url = kernels.start_plain(
            "jupyterlab",
            r.anchor_env({"JUPYTER_TOKEN": token}),
            b.work,
            python=str(r.anchors / "bin" / "python"),
        )
        # One session in the pooled profile: its environment is now recently used.
        bl.kernel_ready(pooled["url"], pooled["token"], name, code=r.probe)
        kids = fd.orbit_status(b, home, "pooled").get("kernels", [])
        env_id = next(k["env_id"] for k in kids if k.get("env_id"))
        kernels.stop_kernels(Server(pooled["url"], pooled["token"]))
        if not r.smoke:
            say("open: priming the 'first after up' profile (up, one session, down)")
            fd._orbit_ready(b, home, "first", None, code=r.probe)
            _session(lab_url, token, name, r.probe)  # JupyterLab's first kernel start, untimed
        floor = kernel_floor(r, packages=False)
        for i in range(r.rounds):
            say(f"open: round {i + 1}/{r.rounds}")
            r.add("open_floor", bl.run(floor, cwd=b.work, env=bl.tool_env({})).seconds)
            kernels.wait_warm(Server(pooled["url"], pooled["token"]), env_id, timeout=300)
            time.sleep(0 if r.smoke else 1)
            mem = soak.memory(pooled["pid"])
            r.add("idle_orbit_rss", mem["rss_mib"])
            r.b.data.setdefault("idle_orbit", []).append(mem)
            r.add("open_pooled", _session(pooled["url"], pooled["token"], name, r.probe))
            if any(p.get("ready") for p in _pool(nopool["url"], nopool["token"])):
                notes.append("the pool-off profile had a warm kernel: pool_per_env=0 not honoured")
            r.add("idle_nopool_rss", soak.memory(nopool["pid"])["rss_mib"])
            r.add("open_built", _session(nopool["url"], nopool["token"], name, r.probe))
            mem = soak.memory(lab.pid)
            r.add("idle_lab_rss", mem["rss_mib"])
            r.b.data.setdefault("idle_lab", []).append(mem)
            r.add("open_lab", _session(lab_url, token, name, r.probe))
            fd._orbit_ready(b, home, "first", "first", code=r.probe)
    finally:
        if lab is not None:
            kernels.stop_plain(lab)
        for profile in ("pooled", "nopool"):
            if (home, profile) in b.servers:
                fd.orbit_down(b, home, profile)
    lab_t, low = med(r, "open_lab"), med(r, "open_floor")
    anchor = f"JupyterLab {sec(lab_t)}; floor {sec(low)}"
    how = (
        "POST /api/sessions for the notebook, then kernel_info over the kernel's websocket "
        "until the reply (tests/support/kernelws.py); anchor: the same against `jupyter lab` "
        "from the anchor venv (its python3 kernel); floor: the environment's Python importing "
        "ipykernel's kernel (`python -c 'import ipykernel.kernelapp'`), no kernel, no server"
    )
    rows = []
    for key, what, extra in (
        ("open_pooled", "open → kernel_info_reply, env in the warm pool", "pool warm (waited)"),
        (
            "open_built",
            "open → kernel_info_reply, env built, not pooled",
            "`orbit config set OrbitExtension.pool_per_env 0` in its profile"
            + "".join(f"; {n}" for n in sorted(set(notes))),
        ),
        (
            "first_kernel",
            "open → kernel_info_reply, first notebook right after `orbit up`",
            ("a new profile" if r.smoke else "a profile that opened the notebook before")
            + "; `orbit up` returned, then the session"
            + f" (orbit up itself: {sec(med(r, 'first_server'))})",
        ),
    ):
        t = med(r, key)
        rows.append(
            Row(
                what,
                sec(t),
                anchor,
                "≤ 0.3 s",
                t <= 0.3,
                f"orbit ÷ JupyterLab {t / lab_t:.2f}×",
                f"{extra}; {how}",
            )
        )
    o, lab_m = med(r, "idle_orbit_rss"), med(r, "idle_lab_rss")
    last = r.b.data["idle_orbit"][-1]
    procs, alone = last["processes"], last["server_rss_mib"]
    rows.append(
        Row(
            "idle server RSS (with its pool)",
            f"{o:.0f} MiB ({procs} processes)",
            f"JupyterLab {lab_m:.0f} MiB",
            "≤ 1.5× JupyterLab",
            o <= 1.5 * lab_m,
            f"orbit ÷ JupyterLab {o / lab_m:.2f}×; the server process alone {alone:.0f} MiB "
            f"({alone / lab_m:.2f}×), the rest its warm kernels",
            "RSS summed over the server and every process under it (/proc smaps_rollup), no "
            "session open, pool warm; PSS and every process's own RSS in the JSON",
        )
    )
    off = med(r, "idle_nopool_rss")
    rows.append(
        Row(
            "idle server RSS, pool off (`pool_per_env 0`): what its pool costs",
            f"{off:.0f} MiB",
            f"JupyterLab {lab_m:.0f} MiB",
            "–",
            None,
            f"orbit ÷ JupyterLab {off / lab_m:.2f}×",
            "the same, for the profile whose pool is off (as the row 'built, not pooled'), "
            "before its session",
        )
    )
    return rows


# -- row 4: a new environment -------------------------------------------------------------------


def group_new_env(r: Run) -> list[Row]:
    b, uv = r.b, str(bl.VENV_BIN / "uv")
    extras = fd.EXTRAS[: r.rounds]
    if not r.smoke:
        say("new env: warming uv's cache with every extra package (untimed)")
        warm = fd.write_notebook(b.tmp / "new-warm" / "nb.ipynb", [*r.deps, *extras], r.code)
        fd.orbit(b, b.tmp / "home-new-warm", "run", warm, "--yes", "--no-server", timeout=900)
        shutil.rmtree(b.tmp / "home-new-warm", ignore_errors=True)
    for i, extra in enumerate(extras):
        say(f"new env: round {i + 1}/{r.rounds} ({' + '.join([*r.deps, extra])})")
        nb = fd.write_notebook(b.tmp / f"new-{i}" / "nb.ipynb", [*r.deps, extra], r.code)
        new = fd.orbit(b, r.home, "run", nb, "--yes", "--no-server", timeout=900, expect=fd.EXPECT)
        built = fd.orbit(b, r.home, "run", nb, "--no-server", expect=fd.EXPECT)
        r.add("new_orbit_run", new.seconds)
        r.add("new_orbit_rerun", built.seconds)
        r.add("new_orbit", new.seconds - built.seconds)
        env = bl.tool_env({"UV_CACHE_DIR": UV_CACHE})
        # the same packages as Orbit's environment (a kernel needs ipykernel), and without it
        for key, kernel in (("new_uv", ["ipykernel"]), ("new_uv_bare", [])):
            venv = b.tmp / f"uv-new-{i}"
            t_venv = bl.run([uv, "venv", "--python", b.base_python, venv], cwd=b.work, env=env)
            t_pip = bl.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--python",
                    venv / "bin" / "python",
                    *r.deps,
                    extra,
                    *kernel,
                ],
                cwd=b.work,
                env=env,
                timeout=900,
            )
            r.add(key, t_venv.seconds + t_pip.seconds)
            shutil.rmtree(venv, ignore_errors=True)
    o, a, bare = med(r, "new_orbit"), med(r, "new_uv"), med(r, "new_uv_bare")
    return [
        Row(
            f"new environment, {' + '.join([*r.deps, '1'])} (warm uv cache)",
            f"{sec(o)} (run with build {sec(med(r, 'new_orbit_run'))})",
            f"uv venv && uv pip install {sec(a)} (without ipykernel {sec(bare)})",
            "≤ 1.3× uv",
            o <= 1.3 * a,
            f"orbit ÷ uv {o / a:.2f}× (÷ without ipykernel {o / bare:.2f}×)",
            "`orbit run NB --yes --no-server` of a notebook with a new extra each round, minus the "
            "same command right after (environment built) = the build's share; in the ORBIT_HOME "
            "every row uses (its caches warm); anchor: `uv venv --python BASE V && uv pip install "
            f"--python V {' '.join(r.deps)} EXTRA ipykernel` with Orbit's own uv binary (the "
            "packages of Orbit's environment; before 2026-12-06 19:00 the anchor left ipykernel "
            "out, still measured)",
        )
    ]


# -- row 6: many notebooks ----------------------------------------------------------------------


def group_many(r: Run) -> list[Row]:
    b, home, n = r.b, r.home, r.notebooks
    root = b.tmp / "many"
    root.mkdir(parents=True, exist_ok=True)
    names = soak.write_notebooks(root, n)

    def orbit_round() -> tuple[float, dict]:
        info, _ = fd.orbit_up(b, home, "many", root)
        try:
            server = Server(info["url"], info["token"])
            t = time.perf_counter()
            asyncio.run(soak.open_all(server, names))
            return time.perf_counter() - t, soak.memory(info["pid"])
        finally:
            fd.orbit_down(b, home, "many")

    def lab_round() -> tuple[float, dict]:
        token = os.urandom(16).hex()
        env = r.anchor_env({"JUPYTER_TOKEN": token})
        proc, url = kernels.start_plain("jupyterlab", env, root, str(r.anchors / "bin" / "python"))
        try:
            t = time.perf_counter()
            asyncio.run(soak.open_all(Server(url, token), names, check=False))
            return time.perf_counter() - t, soak.memory(proc.pid)
        finally:
            kernels.stop_plain(proc)

    if not r.smoke:
        say(f"many: building the {n} environments (untimed)")
        orbit_round()
    for i in range(r.rounds):
        say(f"many: round {i + 1}/{r.rounds} ({n} notebooks)")
        for key, fn in (("many_orbit", orbit_round), ("many_lab", lab_round)):
            t, mem = fn()
            r.add(f"{key}_s", t)
            r.add(f"{key}_rss", mem["rss_mib"])
            b.data.setdefault(key, []).append({"seconds": t, **mem})
    ot, lt = med(r, "many_orbit_s"), med(r, "many_lab_s")
    om, lm = med(r, "many_orbit_rss"), med(r, "many_lab_rss")
    how = (
        f"{n} notebook(s), each pinning another attrs (as of {soak.AS_OF}): a session for every "
        "one at once until each kernel has imported attrs (soak.open_all), server already up"
        + (" (smoke: includes building the environments)" if r.smoke else ", environments built")
        + "; memory: RSS summed over the server's process tree right after; anchor: `jupyter lab`"
        " from the anchor venv, the same notebooks, its python3 kernel"
    )
    return [
        Row(
            f"{n} notebook(s) / {n} env(s): memory",
            f"{om:.0f} MiB",
            f"JupyterLab {lm:.0f} MiB",
            "≤ 1.1× JupyterLab",
            om <= 1.1 * lm,
            f"orbit ÷ JupyterLab {om / lm:.2f}×",
            how,
        ),
        Row(
            f"{n} notebook(s) / {n} env(s): time to open all",
            sec(ot),
            f"JupyterLab {sec(lt)}",
            "≤ 1.1× JupyterLab",
            ot <= 1.1 * lt,
            f"orbit ÷ JupyterLab {ot / lt:.2f}×",
            how,
        ),
    ]


# -- row 7: hot add -----------------------------------------------------------------------------


def group_hot_add(r: Run, cache: Path) -> list[Row]:
    work = r.b.tmp / "hot-add"
    work.mkdir(parents=True, exist_ok=True)
    for i in range(r.rounds):
        say(f"hot add: round {i + 1}/{r.rounds}")
        warm = i == 0 and not r.smoke
        for t in bazaar.bench_orbit_add(work, 1, warm=warm, home=r.home):
            r.add("add_orbit", t)
        for t in bazaar.bench_orbit_add(work, 1, warm=False, home=r.home, settled=False):
            r.add("add_orbit_fresh", t)
        for t in bazaar.bench_pip(work, 1, warm=warm, venv=cache / "pip-kernel"):
            r.add("add_pip", t)
    o, p, f = med(r, "add_orbit"), med(r, "add_pip"), med(r, "add_orbit_fresh")
    how = (
        f"bench/bazaar.py: `orbit add {bazaar.PACKAGES[1]} --to nb.ipynb` through the running "
        "server, then `import` in the same kernel until it works; anchor: `%pip install` + "
        "import in a kernel of a plain venv (python -m venv + pip install ipykernel, cached)"
    )
    return [
        Row(
            "hot add until importable",
            sec(o),
            f"%pip install {sec(p)}",
            "≤ %pip (≤ 0.8 s here)",
            o <= p,
            f"orbit ÷ %pip {o / p:.2f}×",
            how + "; the kernel open for a few seconds (its environment's clone kept ready)",
        ),
        Row(
            "hot add at once after the kernel answered",
            sec(f),
            f"%pip install {sec(p)}",
            "–",
            None,
            f"orbit ÷ %pip {f / p:.2f}×",
            how + "; before the server has a clone ready (it clones while the add is checked)",
        ),
    ]


# -- row 8: search ------------------------------------------------------------------------------


def group_search(r: Run) -> list[Row]:
    work = r.b.tmp / "search"
    work.mkdir(parents=True, exist_ok=True)
    runs = 1 if r.smoke else 5
    queries = bazaar.QUERIES[:1] if r.smoke else bazaar.QUERIES
    times = bazaar.search_times(work, runs, cold_runs=1 if r.smoke else 3, queries=queries)
    for label, values in times.items():
        r.b.series[f"search: {label}"] = Series(label, values)
    cold = Series("", times[bazaar.SEARCH_COLD]).median
    warm = Series("", times[bazaar.SEARCH_WARM] + times[bazaar.SEARCH_MERGED]).median
    apt = times.get(bazaar.SEARCH_APT)
    ref = f"apt-cache search {sec(Series('', apt).median)} (reference)" if apt else "–"
    floor = Series("", times[bazaar.SEARCH_FLOOR]).median
    warm_ref = f"{ref}; floor {sec(floor)}"
    how = (
        "bench/bazaar.py: `orbit search Q --in pypi` as a CLI process; cold = a fresh "
        "ORBIT_HOME (name index fetched); warm = PyPI alone and PyPI + apt, "
        f"{len(queries)} queries cycled; floor: the same Python starting and importing click "
        "(`python -c 'import click'`), after each warm search"
    )
    return [
        Row("first `orbit search`, cold", sec(cold), ref, "≤ 1 s", cold <= 1, "–", how),
        Row(
            "`orbit search`, warm p50",
            sec(warm),
            warm_ref,
            "≤ 0.15 s",
            warm <= 0.15,
            f"orbit − floor {sec(warm - floor)}",
            how,
        ),
    ]


# -- main ---------------------------------------------------------------------------------------


GROUPS = ["run", "open", "new_env", "many", "hot_add", "search"]


def render(r: Run, rows: list[Row], meta: dict) -> str:
    head = ["what", "Orbit now", "anchor(s), same run", "target", "met?", "ratio", "load 1m"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(row.cells()) + " |" for row in rows),
    ]
    mode = (
        "smoke (every row once, smallest inputs: not a measurement)"
        if r.smoke
        else (f"medians of {r.rounds} interleaved rounds")
    )
    v = meta["versions"]
    text = [
        f"### run-all {meta['started'][:10]} — {mode}",
        f"Machine: {meta['machine']}. Orbit: {meta['orbit']}. uv {meta['uv']}. Anchors (from "
        "PyPI): "
        + ", ".join(f"{k} {v[k]}" for k in v)
        + ". Load average (1/5/15) at start "
        + "/".join(f"{x:.1f}" for x in meta["load_start"])
        + ", at end "
        + "/".join(f"{x:.1f}" for x in meta["load_end"])
        + ". `PYTHONDONTWRITEBYTECODE` unset for every command.",
        "\n".join(lines),
        "What each row measured:\n\n"
        + "\n".join(f"- **{row.what}**: {row.measured}" for row in rows),
    ]
    if errors := [row for row in rows if row.error]:
        text.append("Failed:\n\n" + "\n".join(f"- {row.what}: {row.error}" for row in errors))
    return "\n\n".join(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="every row once, smallest inputs")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per row (default 5)")
    p.add_argument("--notebooks", type=int, default=10, help="notebooks in the 'many' row")
    p.add_argument("--only", default=",".join(GROUPS), help=f"groups, from {','.join(GROUPS)}")
    p.add_argument("--results", type=Path, default=HERE / "results", help="where output goes")
    p.add_argument("--cache", type=Path, help="anchor venvs (default RESULTS/cache)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    if bad := [g for g in only if g not in GROUPS]:
        p.error(f"unknown group(s) {bad}; choose from {GROUPS}")
    rounds = 1 if args.smoke else max(1, args.rounds)
    nbs = 1 if args.smoke else min(args.notebooks, len(soak.ATTRS))
    cache = args.cache or args.results / "cache"
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # in-process kernels inherit this
    # Only the report goes to stdout: whatever the measured tools print (a kernel's %pip output,
    # pip's warnings) goes to stderr with the progress.
    sys.stdout.flush()
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    started = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="orbit-run-all-"))
    tools = {"orbit": str(bl.VENV_BIN / "orbit"), "uv": str(bl.VENV_BIN / "uv")}
    b = fd.Bench(repeat=rounds, disk_n=1, tmp=tmp, tools=tools)
    r = Run(b, args.smoke, rounds, Path(), nbs, deps=[] if args.smoke else ["numpy", "pandas"])
    fd.write_notebook(b.nb, r.deps, r.code)
    rows: list[Row] = []
    meta: dict = {
        "started": started.isoformat(timespec="seconds"),
        "load_start": os.getloadavg(),
        "args": {"smoke": args.smoke, "rounds": rounds, "notebooks": nbs, "only": only},
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}",
        "orbit": bl.capture([tools["orbit"], "--version"]),
        "uv": bl.capture([tools["uv"], "--version"]).removeprefix("uv "),
        "versions": {},
    }
    try:
        r.anchors, meta["versions"] = anchor_venv(cache, b.base_python)
        say("setup: building the notebook's environment (untimed)")
        fd.orbit(b, r.home, "run", r.nb, "--yes", "--no-server", timeout=900, expect=fd.EXPECT)
    except BenchError as e:
        say(f"setup FAILED:\n{e}")
        rows.append(Row("setup", "–", "–", "–", None, "–", "", error=str(e)))
        only = []
    table: dict[str, Callable[[], list[Row]]] = {
        "run": lambda: group_run(r),
        "open": lambda: group_open(r),
        "new_env": lambda: group_new_env(r),
        "many": lambda: group_many(r),
        "hot_add": lambda: group_hot_add(r, cache),
        "search": lambda: group_search(r),
    }
    for group in only:
        before = os.getloadavg()[0]
        try:
            got = table[group]()
        except Exception as e:  # a failed group is reported; the others still run
            say(f"{group} FAILED:\n{traceback.format_exc()}")
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            got = [Row(group, "–", "–", "–", None, "–", "", error=f"{type(e).__name__}: {msg}")]
            meta.setdefault("errors", {})[group] = traceback.format_exc()
        for row in got:
            row.load = (before, os.getloadavg()[0])
        rows.extend(got)
    for home, profile in list(b.servers):
        try:
            fd.orbit_down(b, home, profile)
        except BenchError as e:
            say(f"could not stop {profile}: {e}")
    meta["load_end"] = os.getloadavg()
    if args.keep:
        say(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)

    text = render(r, rows, meta)
    print(text, file=report, flush=True)
    name = f"run-all{'-smoke' if args.smoke else ''}-{started:%Y-%m-%d}"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{name}.md").write_text(text + "\n")
    bl.write_json(
        args.results / f"{name}.json",
        {
            **meta,
            "rows": [row.__dict__ for row in rows],
            "series": {k: v.to_json() for k, v in b.series.items()},
            "data": b.data,
            "markdown": text,
        },
    )
    say(f"written: {args.results / name}.md and .json")
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
