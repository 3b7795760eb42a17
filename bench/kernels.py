"""Benchmark: the kernel menu. Run with `python bench/kernels.py [--runs N] [--recipes a,b]`.

1. Cold start: from running `orbit launcher` (no server yet) until the menu page is interactive
   (cards rendered), against `jupyter lab` until its own Launcher shows kernel cards.
2. Launcher click until the kernel answers (kernel_info_reply), per recipe, with the prewarmed
   pool and without it (environments already built, caches warm), against a plain Jupyter
   server starting an ipykernel session (POST /api/sessions until kernel_info_reply).

The page itself reports click-to-ready (performance.now() at the click and at the server's
"done" event, which is sent once the kernel has answered). A real browser: Playwright driving
Debian's Chromium, already running (a browser's own start is not counted). Every tool runs with
PYTHONDONTWRITEBYTECODE unset. Results: a table on stdout and bench/results/kernels.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.kernelws import KernelWS, Server  # noqa: E402
from tests.support.launcher import configure  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--disable-background-networking", "--no-first-run"] + (
    ["--no-sandbox"] if os.geteuid() == 0 else []
)


def env_for(home: Path, user_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBIT_", "JUPYTER_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(ORBIT_HOME=str(home), HOME=str(user_home), ORBIT_BROWSER="none")
    return env


def orbit(env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def server_info(home: Path) -> dict:
    return json.loads((home / "profiles" / "default" / "server.json").read_text())


def cold_launcher(browser, env: dict, home: Path, root: Path) -> float:
    """Seconds from `orbit launcher` until the menu's cards are on screen."""
    orbit(env, "down", cwd=root)
    page = browser.new_page()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_orbit", "launcher", str(root), "--no-browser"],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    proc.stdout.readline()  # the menu's address: the server answers
    info = server_info(home)
    page.goto(f"{info['url']}orbit/launcher?token={info['token']}")
    page.wait_for_selector("body[data-state=ready] .card")
    elapsed = time.perf_counter() - t0
    page.close()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    return elapsed


def cold_jupyterlab(browser, env: dict, root: Path) -> float:
    """Seconds from `jupyter lab` until its Launcher shows kernel cards."""
    token = secrets.token_urlsafe(16)
    jenv = {**env, "JUPYTER_TOKEN": token}
    jenv.update(
        JUPYTER_CONFIG_DIR=str(root / ".jcfg"),
        JUPYTER_DATA_DIR=str(root / ".jdata"),
        JUPYTER_RUNTIME_DIR=str(root / ".jrun"),
    )
    page = browser.new_page()
    t0 = time.perf_counter()
    proc, url = start_plain("jupyterlab", jenv, root)
    try:
        page.goto(f"{url}lab?token={token}")
        page.wait_for_selector(".jp-LauncherCard")
        elapsed = time.perf_counter() - t0
    finally:
        page.close()
        stop_plain(proc)
    return elapsed


def start_plain(
    module: str, env: dict, root: Path, python: str = sys.executable
) -> tuple[subprocess.Popen, str]:
    """``python -m MODULE`` (jupyterlab or jupyter_server) on a free loopback port, with the
    token in ``env``; returns once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [
            python,
            "-m",
            module,
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--allow-root",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    params = {"token": env["JUPYTER_TOKEN"]}
    while True:
        try:
            if httpx.get(url + "api/status", params=params, timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{module} exited with code {proc.returncode}")
        time.sleep(0.02)


def stop_plain(proc: subprocess.Popen) -> None:
    # SIGTERM: a server started where SIGINT is ignored (CI, a background job) ignores it too
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def click_to_ready(page, info: dict, recipe: str) -> float:
    """Seconds from a click on the card until the kernel answered (as the page saw it)."""
    page.goto(f"{info['url']}orbit/launcher")
    page.wait_for_selector("body[data-state=ready]")
    page.click(f".card[data-kernel={recipe}]")
    page.wait_for_selector("body[data-click-to-ready-ms]", timeout=600_000)
    return int(page.get_attribute("body", "data-click-to-ready-ms")) / 1000


def wait_warm(server: Server, env_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = {p["env_id"]: p for p in server.get("/orbit/api/status").json()["pool"]}
        if pool.get(env_id, {}).get("ready"):
            return
        time.sleep(0.1)
    raise TimeoutError(env_id)


def stop_kernels(server: Server) -> None:
    for s in server.get("/api/sessions").json():
        server.delete(f"/api/sessions/{s['id']}")


def launches(browser, env, home, root, recipes, runs, pool: bool) -> dict[str, list[float]]:
    configure(home, pool_per_env=1 if pool else 0, pool_max_envs=len(recipes), prewarm_kernels=[])
    r = orbit(env, "up", str(root), "--detach", "--no-browser", cwd=root)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    server = Server(info["url"], info["token"])
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{info['url']}orbit/launcher?token={info['token']}")
    # a 204 answer keeps the menu page where it is (an aborted navigation shows an error page)
    page.route("**/lab/tree/**", lambda route: route.fulfill(status=204, body=""))
    out: dict[str, list[float]] = {}
    state = server.get("/orbit/api/launcher").json()
    env_ids = {k["name"]: k["env_id"] for k in state["kernels"]}
    for recipe in recipes:
        click_to_ready(page, info, recipe)  # builds the environment once; not counted
        stop_kernels(server)
        times = []
        for _ in range(runs):
            if pool:
                wait_warm(server, env_ids[recipe])
            times.append(click_to_ready(page, info, recipe))
            stop_kernels(server)
        out[recipe] = times
    context.close()
    orbit(env, "down", cwd=root)
    return out


async def _plain_session(url: str, token: str) -> float:
    server = Server(url, token)
    t0 = time.perf_counter()
    session = server.new_session(f"n{secrets.token_hex(3)}.ipynb", kernel="python3")
    async with KernelWS(server, session["kernel"]["id"]) as k:
        await k.kernel_info()
    elapsed = time.perf_counter() - t0
    server.delete(f"/api/sessions/{session['id']}")
    return elapsed


def plain_jupyter_sessions(env: dict, root: Path, runs: int) -> list[float]:
    token = secrets.token_urlsafe(16)
    jenv = {**env, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(root / ".jrun")}
    proc, url = start_plain("jupyter_server", jenv, root)
    try:
        for nb in range(runs + 1):
            (root / f"plain{nb}.ipynb").write_text(
                json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
            )
        asyncio.run(_plain_session(url, token))  # warm-up
        return [asyncio.run(_plain_session(url, token)) for _ in range(runs)]
    finally:
        stop_plain(proc)


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}"


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--recipes", default="python,xpython,bash,deno,r,octave")
    parser.add_argument("--cold-only", action="store_true", help="Only the cold-start part.")
    args = parser.parse_args()
    recipes = args.recipes.split(",")
    base = Path(tempfile.mkdtemp(prefix="orbit-bench-kernels-"))
    home, user_home, root = base / "orbit-home", base / "home", base / "work"
    user_home.mkdir()
    root.mkdir()
    env = env_for(home, user_home)
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "chromium": subprocess.run(
                [CHROMIUM, "--version"], capture_output=True, text=True
            ).stdout.strip(),
        },
        "runs": args.runs,
    }
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            # the profile's defaults: the Python card's kernel is warmed as the server starts
            cold_launcher(browser, env, home, root)  # first start writes the profile, builds
            results["cold_launcher"] = [
                cold_launcher(browser, env, home, root) for _ in range(args.runs)
            ]
            results["cold_jupyterlab"] = [
                cold_jupyterlab(browser, env, root) for _ in range(args.runs)
            ]
            if not args.cold_only:
                results["pool"] = launches(browser, env, home, root, recipes, args.runs, True)
                results["no_pool"] = launches(browser, env, home, root, recipes, args.runs, False)
            browser.close()
        if not args.cold_only:
            results["plain_jupyter_session"] = plain_jupyter_sessions(env, root, args.runs)
    finally:
        orbit(env, "down", cwd=root)
        shutil.rmtree(base, ignore_errors=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "kernels-cold.json" if args.cold_only else "kernels.json"
    (out / name).write_text(json.dumps(results, indent=2))

    cl, cj = results["cold_launcher"], results["cold_jupyterlab"]
    print(f"\nmachine: {results['machine']}\nmedians of {args.runs} runs, seconds\n")
    print("| cold start until the menu is interactive | median | ratio |")
    print("|---|---|---|")
    print(f"| `orbit launcher` (server start + menu page) | {med(cl)} | 1.0 |")
    ratio = statistics.median(cj) / statistics.median(cl)
    print(f"| `jupyter lab` until its Launcher shows cards | {med(cj)} | {ratio:.2f} |")
    if args.cold_only:
        return
    plain = statistics.median(results["plain_jupyter_session"])
    print("\n| launcher click until the kernel answers | with pool | without pool |")
    print("|---|---|---|")
    for r in recipes:
        print(f"| {r} | {med(results['pool'][r])} | {med(results['no_pool'][r])} |")
    print(f"| plain Jupyter server, ipykernel session (no Orbit) | | {plain:.2f} |")


if __name__ == "__main__":
    main()
