"""A real browser for the tests: Playwright (from PyPI) driving Debian's Chromium.

Never a browser download: the executable is /usr/bin/chromium, which .ci/run installs. Where it
is missing, these tests skip, except on CI where that is a failure. Screenshots go to
test-artifacts/browser/ (git-ignored) so a failing run can be looked at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "browser"
# Background networking off, as in Orbit's own app windows; no sandbox when running as root.
FLAGS = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    FLAGS.append("--no-sandbox")


def require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[object]:
    """``shots(page, "stage")`` saves a screenshot named after the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")

    def take(page: object, stage: str) -> Path:
        path = ARTIFACTS / f"{name}-{stage}.png"
        page.screenshot(path=str(path), full_page=False)  # type: ignore[attr-defined]
        return path

    pages: list[object] = []
    take.pages = pages  # type: ignore[attr-defined]
    yield take
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        for i, page in enumerate(pages):
            with contextlib.suppress(Exception):
                take(page, f"failed-{i}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
