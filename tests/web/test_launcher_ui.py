"""The kernel menu in a real browser: click a card, get JupyterLab with a working kernel."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_orbit.kernels.recipes import recipe_classes
from tests.conftest import Orbit
from tests.support.browser import CHROMIUM, require_chromium
from tests.support.kernelws import Server

RECIPES = recipe_classes()

pytestmark = pytest.mark.integration

VISIBLE_NOTEBOOK = ".jp-NotebookPanel:visible"
# An image's width once it has loaded and decoded (0 when it is broken), however busy the machine.
LOADED = "img => img.decode().then(() => img.naturalWidth, () => 0)"


def open_menu(chromium, info: dict):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    # What counts as the page breaking: a Content-Security-Policy violation or an uncaught
    # error (resources failing to load, e.g. the search probe's 404, are not)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(info["url"] + "orbit/launcher?token=" + info["token"])
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)
    return context, page, problems


@pytest.mark.parametrize("name", ["python", "bash"])
def test_card_to_a_running_cell(orbit: Orbit, tmp_path: Path, chromium, shots, name):
    root = tmp_path / "work"
    root.mkdir()
    info = orbit.up(root)
    context, page, problems = open_menu(chromium, info)
    shots.pages.append(page)
    cards = page.locator(".card")
    assert cards.count() == len(RECIPES)
    card = page.locator(f".card[data-kernel={name}]")
    assert card.locator(".name").inner_text() == RECIPES[name].display_name
    assert card.locator("img").evaluate(LOADED) > 0  # the logo loaded
    shots(page, "menu")
    notebook = "Untitled.ipynb"
    if name == "bash":  # new notebooks go where the folder picker says
        page.click("#folder-button")
        page.fill("#new-folder-name", "analysis")
        page.click("#new-folder")
        page.locator("#crumbs", has_text="analysis").wait_for()
        shots(page, "folder-picker")
        page.click("#picker-choose")
        page.locator("#folder-button", has_text=str(root / "analysis")).wait_for()
        page.wait_for_selector("body[data-state=ready]")
        assert (root / "analysis").is_dir()
        notebook = "analysis/Untitled.ipynb"

    card.click()
    page.wait_for_url(f"**/lab/tree/{notebook}", timeout=600_000)
    assert (root / notebook).is_file()
    editor = page.locator(f"{VISIBLE_NOTEBOOK} .jp-Cell .cm-content").first
    editor.wait_for(timeout=120_000)
    page.wait_for_selector(
        f"{VISIBLE_NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status=idle]", timeout=120_000
    )
    recipe = RECIPES[name]()
    # JupyterLab has joined the session the launcher started (not "No Kernel")
    kernel_name = page.locator(f"{VISIBLE_NOTEBOOK} .jp-Toolbar-kernelName").first
    kernel_name.filter(has_text=recipe.display_name).wait_for(timeout=120_000)
    editor.click()
    editor.fill(recipe.smoke_code)
    editor.press("Shift+Enter")
    output = page.locator(f"{VISIBLE_NOTEBOOK} .jp-OutputArea-output").first
    output.wait_for(timeout=120_000)
    assert output.inner_text().strip() == recipe.smoke_output
    shots(page, "notebook")
    assert problems == []
    context.close()


def test_jupyterlab_tile_opens_the_menu(orbit: Orbit, tmp_path: Path, chromium, shots):
    root = tmp_path / "work"
    root.mkdir()
    info = orbit.up(root)
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    lab = context.new_page()
    shots.pages.append(lab)
    lab.goto(info["url"] + "lab?token=" + info["token"])
    tile = lab.locator(".jp-LauncherCard", has_text="Kernel menu")
    tile.wait_for(timeout=120_000)
    shots(lab, "lab-launcher")
    with context.expect_page() as opened:
        tile.click()
    menu = opened.value
    menu.wait_for_selector("body[data-state=ready]", timeout=60_000)
    assert menu.url == info["url"] + "orbit/launcher"
    shots(menu, "menu")
    # the Help menu has it too
    lab.locator(".lm-MenuBar-itemLabel", has_text="Help").click()
    assert lab.locator(".lm-Menu-itemLabel", has_text="Orbit Kernel Menu").count() == 1
    context.close()


def _browser_processes(data_dir: Path) -> dict[int, str]:
    found = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"--user-data-dir={data_dir}" in cmd:
            found[int(p.name)] = cmd
    return found


@pytest.mark.parametrize("command", ["launcher", "up"])
def test_app_window_keeps_the_token_out_of_argv(orbit: Orbit, tmp_path: Path, command):
    require_chromium()
    root = tmp_path / "work"
    root.mkdir()
    info = orbit.up(root)
    server = Server(info["url"], info["token"])
    data_dir = orbit.home / "profiles" / "default" / "browser"
    args = [] if command == "launcher" else [str(root), "--detach"]
    # headless only because CI has no display: otherwise the very same app-window command line
    env = {**orbit.env, "ORBIT_BROWSER_FLAGS": "--headless=new"}
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_orbit", command, *args, "--browser", str(CHROMIUM)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    if command == "launcher":  # (`up --detach` prints it on purpose, for scripts)
        assert info["token"] not in r.stdout + r.stderr
    try:
        deadline = time.monotonic() + 60
        if command == "launcher":
            while server.get("/orbit/api/launcher").json()["visits"] < 1:
                assert time.monotonic() < deadline, "the app window never loaded the menu"
                time.sleep(0.2)
        procs = {}
        while not procs and time.monotonic() < deadline:
            procs = _browser_processes(data_dir)
            time.sleep(0.2)
        assert procs, "no browser process with the profile's data folder"
        main = [c for c in procs.values() if "--app=file://" in c]
        assert main and "orbit-open.html" in main[0]
        assert "--disable-background-networking" in main[0]
        for cmd in procs.values():
            assert "remote-debugging" not in cmd
        for p in Path("/proc").iterdir():  # no process at all has the token in its argv
            if p.name.isdigit():
                with contextlib.suppress(OSError):
                    assert info["token"] not in (p / "cmdline").read_text(errors="replace")
        page = orbit.home / "profiles" / "default" / "jupyter" / "runtime" / "orbit-open.html"
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
    finally:
        for pid, cmd in _browser_processes(data_dir).items():
            if "--app=file://" in cmd:  # the one we started leads its own process group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
