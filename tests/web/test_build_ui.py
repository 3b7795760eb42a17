"""A notebook whose kernel is being prepared, in a real JupyterLab: its build shown step by step,
cells run meanwhile held and run once the kernel answers, a kernel that cannot start explained."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Orbit, make_notebook, snapshot
from tests.support.broken_packages import add_dies_at_start
from tests.support.gitrepo import commit_all, git, init
from tests.support.indexes import IndexedOrbit, indexed
from tests.support.pypi_index import LocalIndex
from tests.support.slow_index import SlowIndex

pytestmark = pytest.mark.integration

NOTEBOOK = ".jp-NotebookPanel:visible"
ASKED_FOR_A_KERNEL = """() => {
  const panel = [...document.querySelectorAll(".jp-NotebookPanel")].find(
    (p) => p.offsetParent !== null);
  if (!panel) return false;
  const build = panel.querySelector(".jp-OrbitBuild");
  if (build && ["building", "ready"].includes(build.dataset.state)) return true;
  const status = panel.querySelector(".jp-Notebook-ExecutionIndicator");
  const kernel = panel.querySelector(".jp-Toolbar-kernelName");
  return !!status && status.dataset.status === "idle" && !!kernel
    && !/No Kernel|Select Kernel/i.test(kernel.textContent);
}"""
AS_OF = "2025-06-01"
HELD = 15  # seconds the slow index holds back orbit-slow's wheel: the build takes at least that


@pytest.fixture
def slow_orbit(tmp_path: Path, server_env_seed) -> Iterator[IndexedOrbit]:
    with LocalIndex(tmp_path) as idx:
        idx.add("orbit-slow", "1.0", {"orbit_slow/__init__.py": "ANSWER = 42\n"})
        add_dies_at_start(idx)
        with SlowIndex(idx, {"orbit-slow": HELD}) as slow:
            o = indexed(tmp_path, slow)  # type: ignore[arg-type]
            server_env_seed.plant(o.home)
            yield o
            o.down_all()


def open_lab(chromium, info: dict, path: str):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{info['url']}lab/tree/{path}?token={info['token']}")
    page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(timeout=120_000)
    return context, page, errors


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def test_run_all_during_a_build_runs_every_cell_once_the_kernel_is_ready(
    slow_orbit, tmp_path: Path, chromium, shots
):
    root = tmp_path / "work"
    make_notebook(
        root / "slow.ipynb",
        "import orbit_slow\nx = orbit_slow.ANSWER",
        "x += 1\nprint('second', x)",
        "print('third', x * 10)",
        markdown="# held, then run",
        metadata={"orbit": {"as_of": AS_OF, "packages": {"pypi": ["orbit-slow"]}}},
    )
    info = slow_orbit.up(root)
    context, page, errors = open_lab(chromium, info, "slow.ipynb")
    shots.pages.append(page)
    status = page.locator(f"{NOTEBOOK} .jp-OrbitBuild")
    # The build is told beside the kernel's status: "step n of m" and the step's name.
    status.filter(has_text=" of ").wait_for(timeout=300_000)
    text = status.inner_text()
    assert text.startswith("Orbit: step ") and ": " in text[len("Orbit: step ") :], text
    toast = page.locator(".Toastify__toast", has_text="slow.ipynb")
    toast.first.wait_for(timeout=30_000)
    shots(page, "building")

    menu(page, "Run", "Run All Cells")
    # Pressed while the environment was still building (its wheel is being held back):
    assert status.get_attribute("data-state") == "building"
    prompts = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt")
    assert prompts.count() == 3
    page.wait_for_function(
        "n => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-CodeCell .jp-InputPrompt')].filter(p => p.textContent.includes('*')).length === n",
        arg=3,
        timeout=30_000,
    )
    shots(page, "held")

    outputs = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-OutputArea-output")
    outputs.nth(1).wait_for(timeout=600_000)
    assert [outputs.nth(i).inner_text().strip() for i in range(2)] == ["second 43", "third 430"]
    assert [p.inner_text().strip() for p in prompts.all()] == ["[1]:", "[2]:", "[3]:"]
    # the build's end arrives too (it may trail the kernel's first answer a little)
    page.locator(f"{NOTEBOOK} .jp-OrbitBuild:not([data-state=building])").wait_for(
        state="attached", timeout=30_000
    )
    assert status.get_attribute("data-state") in ("ready", "idle")
    shots(page, "ran")
    assert errors == []
    context.close()


def test_a_kernel_that_exits_at_start_shows_its_stderr_in_the_notebook(
    slow_orbit, tmp_path: Path, chromium, shots
):
    root = tmp_path / "work"
    make_notebook(
        root / "dies.ipynb",
        "print('never printed')",
        metadata={"orbit": {"as_of": AS_OF, "packages": {"pypi": ["orbit-dies-at-start"]}}},
    )
    info = slow_orbit.up(root)
    context, page, errors = open_lab(chromium, info, "dies.ipynb")
    shots.pages.append(page)
    # once JupyterLab has asked for the kernel: a run before that has no session to go to and
    # JupyterLab clears it (seen on a loaded machine, the notebook shown before its session)
    page.wait_for_function(ASKED_FOR_A_KERNEL, timeout=120_000)
    editor = page.locator(f"{NOTEBOOK} .jp-Cell .cm-content").first
    editor.click()
    editor.press("Shift+Enter")  # run while the kernel is still being prepared: held
    status = page.locator(f"{NOTEBOOK} .jp-OrbitBuild[data-state=failed]")
    status.wait_for(timeout=600_000)
    assert status.inner_text() == "Orbit: the kernel could not start"
    toast = page.locator(".Toastify__toast", has_text="exited as it started")
    toast.first.wait_for(timeout=30_000)
    # The cell ran once the server had the explaining kernel up: the reason is in the notebook.
    output = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-OutputArea-output").first
    output.filter(has_text="ImportError: frobnicate").wait_for(timeout=120_000)
    text = output.inner_text()
    assert "This notebook's kernel could not start" in text
    assert "the kernel exited as it started (exit code 3)" in text
    assert "orbit-test: refusing to start" in text and "never printed" not in text
    shots(page, "explained")
    status.click()  # the details: the same lines
    dialog = page.locator(".jp-Dialog .jp-OrbitBuild-details")
    dialog.wait_for(timeout=10_000)
    assert "ImportError: frobnicate" in dialog.inner_text()
    shots(page, "details")
    assert errors == []
    context.close()


def test_opening_examples_hello_leaves_a_clean_checkout_clean(
    orbit: Orbit, tmp_path: Path, chromium, shots
):
    checkout = init(tmp_path / "checkout")
    shutil.copytree(REPO / "examples" / "hello", checkout / "examples" / "hello")
    commit_all(checkout, "2025-06-01T12:00:00Z")  # the date numpy is resolved as of
    before = snapshot(checkout)
    info = orbit.up(checkout / "examples" / "hello")  # `orbit up examples/hello`
    context, page, errors = open_lab(chromium, info, "hello.ipynb")
    shots.pages.append(page)
    # once JupyterLab has asked for the kernel (a click before that gets its kernel chooser):
    # its build shows, or (a page slower than the build, on a loaded machine) the kernel is there
    page.wait_for_function(ASKED_FOR_A_KERNEL, timeout=120_000)
    menu(page, "Run", "Run All Cells")
    outputs = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-OutputArea-output")
    outputs.nth(1).wait_for(timeout=600_000)
    assert "numpy 2." in outputs.nth(0).inner_text()
    assert outputs.nth(1).inner_text().strip() == "15"
    shots(page, "ran")
    context.close()  # leaving without saving, as one does after a look
    assert snapshot(checkout) == before
    assert git(checkout, "status", "--porcelain", "--ignored") == ""
    assert errors == []
