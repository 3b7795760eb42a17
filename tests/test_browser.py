"""Where Orbit looks for an app-capable browser on each platform, and how it starts one."""

import sys
from pathlib import Path

import pytest

from jupyter_orbit import browser
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths


def test_linux_looks_on_path_then_in_usual_places():
    which = {
        "chromium": "/usr/local/bin/chromium",
        "google-chrome-stable": "/usr/bin/google-chrome-stable",
    }.get
    assert browser.candidates("chrome", "linux", {}, which) == [
        "/usr/bin/google-chrome-stable",
        "/opt/google/chrome/chrome",
    ]
    chromium = browser.candidates("chromium", "linux", {}, which)
    assert chromium[0] == "/usr/local/bin/chromium"
    assert "/snap/bin/chromium" in chromium and "/usr/bin/chromium" in chromium
    assert browser.candidates("edge", "linux", {}, lambda n: None) == [
        "/opt/microsoft/msedge/msedge"
    ]


def test_macos_application_bundles():
    found = browser.candidates("chrome", "darwin", {"HOME": "/Users/ada"})
    assert found == [
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "/Users/ada/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ]
    assert browser.candidates("edge", "darwin", {}) == [
        "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge"
    ]


def test_windows_program_folders():
    env = {
        "LOCALAPPDATA": r"C:\Users\ada\AppData\Local",
        "PROGRAMFILES": r"C:\Program Files",
        "PROGRAMFILES(X86)": r"C:\Program Files (x86)",
    }
    assert browser.candidates("edge", "win32", env) == [
        r"C:\Users\ada\AppData\Local\Microsoft\Edge\Application\msedge.exe",
        r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    ]
    assert browser.candidates("chromium", "win32", {"PROGRAMFILES": r"C:\P"}) == [
        r"C:\P\Chromium\Application\chrome.exe"
    ]


def test_first_installed_in_preference_order():
    present = {
        r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    }
    found = browser.find_app_browser(
        platform="win32",
        environ={"PROGRAMFILES": r"C:\Program Files"},
        is_file=present.__contains__,
    )
    assert found == r"C:\Program Files\Google\Chrome\Application\chrome.exe"
    assert browser.find_app_browser(platform="darwin", environ={}, is_file=lambda p: False) is None


def test_app_window_flags(tmp_path):
    argv = browser.app_argv(
        "/usr/bin/chromium", "file:///x/open.html", tmp_path, extra="--headless=new", as_root=True
    )
    assert argv[:3] == [
        "/usr/bin/chromium",
        "--app=file:///x/open.html",
        f"--user-data-dir={tmp_path}",
    ]
    assert "--disable-background-networking" in argv and "--no-first-run" in argv
    assert "--no-sandbox" in argv and argv[-1] == "--headless=new"
    assert not [a for a in argv if "remote-debugging" in a]


def test_redirect_page_is_private(tmp_path):
    profile = Paths(tmp_path).profile().ensure()
    page = browser.redirect_page(profile, "http://127.0.0.1:1/lab?token=secret&x=<y>")
    assert page.stat().st_mode & 0o777 == 0o600
    text = page.read_text()
    assert "token=secret&amp;x=&lt;y&gt;" in text and "no-referrer" in text


def test_choices(tmp_path, monkeypatch):
    profile = Paths(tmp_path).profile().ensure()
    assert browser.open_url(profile, "http://127.0.0.1:1/", browser="none") is False
    with pytest.raises(InputError, match="browser '/no/such/browser' not found"):
        browser.open_url(profile, "http://127.0.0.1:1/", browser="/no/such/browser")
    monkeypatch.setattr(browser, "find_app_browser", lambda *a, **k: None)
    with pytest.raises(InputError, match="no edge browser found"):
        browser.open_url(profile, "http://127.0.0.1:1/", browser="edge", environ=DESKTOP)
    # no app-capable browser: the system's default is used
    opened = []
    monkeypatch.setattr(browser.webbrowser, "open", lambda url: opened.append(url) or True)
    assert browser.open_url(profile, "http://127.0.0.1:1/?token=t", environ=DESKTOP) is True
    assert opened == [Path(profile.runtime_dir / "orbit-open.html").as_uri()]


DESKTOP = {"DISPLAY": ":0"}


def fake_browser(folder: Path, body: str) -> Path:
    """A browser program: a script that records its arguments, then does ``body``."""
    exe = folder / "fake-browser"
    exe.write_text(f'#!/bin/sh\necho "$@" >> {folder / "argv.txt"}\n{body}\n')
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(sys.platform != "linux", reason="X11/Wayland sessions")
def test_no_display_is_said_and_nothing_is_started(tmp_path, monkeypatch):
    profile = Paths(tmp_path).profile().ensure()
    started = []
    monkeypatch.setattr(browser.webbrowser, "open", lambda url: started.append(url) or True)
    monkeypatch.setattr(browser, "_spawn", lambda *a: started.append(a))
    for choice in ("app", "system", "chromium"):
        why = browser.try_open(profile, "http://127.0.0.1:1/", browser=choice, environ={})
        assert why == "no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    assert started == []
    assert browser.display_missing("linux", {"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert browser.display_missing("darwin", {}) is None
    assert browser.display_missing("win32", {}) is None


def test_a_browser_that_exits_at_once_is_reported_with_what_it_said(tmp_path):
    profile = Paths(tmp_path).profile().ensure()
    exe = fake_browser(tmp_path, "echo 'Missing X server or $DISPLAY' >&2; exit 1")
    url = "http://127.0.0.1:1/lab?token=secret-token"
    why = browser.try_open(profile, url, browser=str(exe), environ=DESKTOP)
    assert why == "fake-browser exited at once (exit code 1): Missing X server or $DISPLAY"
    assert "secret-token" not in (tmp_path / "argv.txt").read_text()  # it got the 0600 page


def test_a_browser_that_stays_or_hands_over_has_opened_the_page(tmp_path):
    profile = Paths(tmp_path).profile().ensure()
    for body in ("exec sleep 5", "exit 0"):  # a new window / handed to an open one
        exe = fake_browser(tmp_path, body)
        assert browser.try_open(profile, "http://127.0.0.1:1/", browser=str(exe)) is None
