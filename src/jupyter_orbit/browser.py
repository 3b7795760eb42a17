"""Opening Orbit's pages in a browser window without putting the token in any argv.

The URL with its token goes into a 0600 redirect page in the profile's private runtime folder;
the browser is given only that file's path.

By default the page opens in an app-mode window (``--app=``) of Chromium, Chrome or Edge, with
the profile's own browser data folder (so cookies, settings and open windows of one profile
never mix with the user's browsing or another profile), no remote-debugging port, and
background networking off. ``--browser`` / ``ORBIT_BROWSER`` choose another: ``app`` (the
default), ``system`` (the desktop's default browser), ``none``, one of the names below, or the
path of a browser executable. Without an app-capable browser the system browser is used.
``ORBIT_BROWSER_FLAGS`` adds flags for app-mode windows (e.g. ``--force-device-scale-factor=2``).

Opening is honest: ``try_open`` says why no window opened — no display (a Linux session
without X11 or Wayland, where Python's fallback would be a text browser taking over the
terminal), no browser, or a browser that exited at once — so the caller can print a link that
logs in instead.
"""

from __future__ import annotations

import html
import os
import shlex
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Callable, Mapping
from pathlib import Path, PureWindowsPath

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import ProfilePaths

ENV_VAR = "ORBIT_BROWSER"
FLAGS_VAR = "ORBIT_BROWSER_FLAGS"
APP_ORDER = ("chrome", "chromium", "edge")
SETTLE = 0.7  # seconds a browser is watched after its start: one that exits by then failed

# Commands looked up on PATH, then absolute locations, per browser and platform.
LINUX: dict[str, tuple[str, ...]] = {
    "chrome": (
        "google-chrome",
        "google-chrome-stable",
        "/opt/google/chrome/chrome",
    ),
    "chromium": (
        "chromium",
        "chromium-browser",
        "/usr/bin/chromium",
        "/usr/lib/chromium/chromium",
        "/snap/bin/chromium",
        "/var/lib/flatpak/exports/bin/org.chromium.Chromium",
    ),
    "edge": (
        "microsoft-edge",
        "microsoft-edge-stable",
        "/opt/microsoft/msedge/msedge",
    ),
}
MACOS: dict[str, tuple[str, ...]] = {
    "chrome": ("Google Chrome.app/Contents/MacOS/Google Chrome",),
    "chromium": ("Chromium.app/Contents/MacOS/Chromium",),
    "edge": ("Microsoft Edge.app/Contents/MacOS/Microsoft Edge",),
}
WINDOWS: dict[str, tuple[str, ...]] = {
    "chrome": (r"Google\Chrome\Application\chrome.exe",),
    "chromium": (r"Chromium\Application\chrome.exe",),
    "edge": (r"Microsoft\Edge\Application\msedge.exe",),
}
_WINDOWS_ROOTS = ("LOCALAPPDATA", "PROGRAMFILES", "PROGRAMFILES(X86)", "PROGRAMW6432")

# Flags for the app window: no first-run pages, nothing fetched in the background, no sync.
APP_FLAGS = (
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


def candidates(
    name: str,
    platform: str,
    environ: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """Where browser ``name`` may be installed on ``platform`` (``sys.platform`` values)."""
    if platform.startswith("linux") or platform.startswith("freebsd"):
        out = []
        for entry in LINUX.get(name, ()):
            if entry.startswith("/"):
                out.append(entry)
            elif found := which(entry):
                out.append(found)
        return out
    if platform == "darwin":
        homes = ["/Applications"]
        if home := environ.get("HOME"):
            homes.append(f"{home}/Applications")
        return [f"{base}/{rel}" for base in homes for rel in MACOS.get(name, ())]
    if platform in ("win32", "cygwin"):
        roots = [environ[v] for v in _WINDOWS_ROOTS if environ.get(v)]
        return [str(PureWindowsPath(r) / rel) for r in roots for rel in WINDOWS.get(name, ())]
    return []


def find_app_browser(
    names: tuple[str, ...] = APP_ORDER,
    *,
    platform: str = sys.platform,
    environ: Mapping[str, str] = os.environ,
    which: Callable[[str], str | None] = shutil.which,
    is_file: Callable[[str], bool] = os.path.isfile,
) -> str | None:
    """The first installed Chromium-family browser, in the order of ``names``."""
    for name in names:
        for path in candidates(name, platform, environ, which):
            if is_file(path):
                return path
    return None


def app_argv(
    executable: str,
    target: str,
    data_dir: Path,
    *,
    extra: str = "",
    as_root: bool = False,
) -> list[str]:
    """The command opening ``target`` in an app-mode window with its own data folder."""
    argv = [executable, f"--app={target}", f"--user-data-dir={data_dir}", *APP_FLAGS]
    if as_root:
        argv.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox on
    argv += shlex.split(extra)
    return argv


def redirect_page(profile: ProfilePaths, url: str) -> Path:
    page = profile.runtime_dir / "orbit-open.html"
    target = html.escape(url, quote=True)
    page.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(
        page,
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<meta http-equiv='refresh' content='0;url={target}'><title>Orbit</title></head>"
        f"<body><a href='{target}'>Open Jupyter Orbit</a></body></html>\n",
        mode=0o600,
    )
    return page


def display_missing(
    platform: str = sys.platform, environ: Mapping[str, str] = os.environ
) -> str | None:
    """Why no browser window can open in this session, if none can: on Linux and the BSDs,
    a window needs X11 or Wayland (macOS and Windows always have their desktop)."""
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not (
        environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")
    ):
        return "no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def try_open(
    profile: ProfilePaths,
    url: str,
    *,
    browser: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """Open ``url`` (which may carry a token) in a browser: None when one opened it, else why
    not, in a few words."""
    choice = (browser or environ.get(ENV_VAR) or "app").strip()
    if choice == "none":
        return "no browser was asked for (--browser none)"
    if choice in ("app", "system", *APP_ORDER) and (why := display_missing(environ=environ)):
        return why
    page = redirect_page(profile, url).as_uri()
    if choice == "system":
        return None if _system(page) else "the system has no default browser"
    executable = _executable(choice, environ)
    if executable is None:  # no app-capable browser here: the desktop's default
        return None if _system(page) else "no browser found (Chromium, Chrome or Edge)"
    if not _chromium_like(executable):
        return _spawn([executable, page], profile)
    profile.browser_dir.mkdir(parents=True, exist_ok=True)
    argv = app_argv(
        executable,
        page,
        profile.browser_dir,
        extra=environ.get(FLAGS_VAR, ""),
        as_root=sys.platform.startswith("linux") and os.geteuid() == 0,
    )
    return _spawn(argv, profile)


def open_url(
    profile: ProfilePaths,
    url: str,
    *,
    browser: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Open ``url`` (which may carry a token); False if no browser could be started."""
    return try_open(profile, url, browser=browser, environ=environ) is None


def _executable(choice: str, environ: Mapping[str, str]) -> str | None:
    if choice == "app":
        return find_app_browser(environ=environ)
    if choice in APP_ORDER:
        found = find_app_browser((choice,), environ=environ)
        if found is None:
            raise InputError(
                f"no {choice} browser found in its usual places",
                f"give its path with --browser PATH (or {ENV_VAR}), or use --browser system",
            )
        return found
    path = shutil.which(choice) or (choice if Path(choice).is_file() else None)
    if path is None:
        raise InputError(
            f"browser {choice!r} not found",
            "use app, system, none, chrome, chromium, edge, or the path of a browser program",
        )
    return path


def _chromium_like(executable: str) -> bool:
    name = Path(executable).name.lower()
    return any(k in name for k in ("chrom", "msedge", "edge", "brave", "vivaldi"))


def _system(page: str) -> bool:
    try:
        return webbrowser.open(page)
    except webbrowser.Error:
        return False


def _spawn(argv: list[str], profile: ProfilePaths) -> str | None:
    """Start the browser detached from this terminal (its chatter goes to the profile's log);
    None once it runs, else why it does not. A browser that hands the page to a window it
    already has open exits at once, with success."""
    profile.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = profile.logs_dir / "browser.log"
    name = Path(argv[0]).name
    try:
        with log_path.open("ab") as log:
            start = log.tell()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as e:
        return f"{name} could not be started ({e.strerror or e})"
    try:
        code = proc.wait(timeout=SETTLE)
    except subprocess.TimeoutExpired:
        return None  # still running: its window is open
    if code == 0:
        return None
    said = _last_line(log_path, start)
    return f"{name} exited at once (exit code {code})" + (f": {said}" if said else "")


def _last_line(log_path: Path, start: int) -> str:
    """The last thing a browser said in this start (its log may be long)."""
    try:
        with log_path.open("rb") as f:
            f.seek(start)
            lines = f.read(64 * 1024).decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""
