"""``orbit doctor``: is this machine and this profile ready, and if not, how to make them so.

Each check says ok, warn (Orbit works, something is missing or odd) or fail (something will not
work), and every problem comes with a fix: a command to run, or — for what Orbit can put right
itself without asking anything of the system — an automatic repair that ``--fix`` carries out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.paths import Paths, ProfilePaths

if TYPE_CHECKING:
    from jupyter_orbit.model import Environment
    from jupyter_orbit.profiles.store import ProfileStore
    from jupyter_orbit.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
GIB = 2**30
_BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "microsoft-edge-stable",
    "brave-browser",
)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None
    repair: Callable[[], str] | None = None  # what --fix does; returns what it did

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "automatic": self.repair is not None,
        }


def _sudo() -> str:
    return "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "


# -- the machine ------------------------------------------------------------------------------


def check_python() -> Check:
    v = sys.version_info
    detail = f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 11):
        return Check("python", FAIL, detail, "Orbit needs Python 3.11 or newer")
    return Check("python", OK, detail)


def check_uv() -> Check:
    from jupyter_orbit.uvcli import uv_bin

    reinstall = (
        "reinstall Orbit: `uv tool install --reinstall jupyter-orbit` "
        "(or `pipx reinstall jupyter-orbit`)"
    )
    try:
        uv = uv_bin()
        out = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30)
    except (ImportError, FileNotFoundError, OSError, subprocess.SubprocessError) as e:
        return Check("uv", FAIL, f"uv does not run: {e}", reinstall)
    if out.returncode != 0:
        return Check("uv", FAIL, f"uv does not run: {out.stderr.strip()[:200]}", reinstall)
    return Check("uv", OK, f"{out.stdout.strip()} ({uv})")


def check_pythons(paths: Paths) -> Check:
    """Every Python on this machine (pyenv, asdf, conda, Homebrew, uv's, the system's …): the
    ones an old notebook's environment can be built with."""
    from jupyter_orbit import pythons

    found = pythons.discover(paths.cache_dir)
    usable = [i for i in found if i.usable]
    shown = ", ".join(i.label() for i in usable)
    old = [i.label() for i in found if not i.usable]
    if old:
        shown += f"; too old for uv: {', '.join(old)}"
    if not usable:
        return Check(
            "pythons",
            WARN,
            "no Python Orbit can build environments with was found",
            "install one with uv (`uv python install 3.12`), pyenv or your system's packages",
        )
    return Check("pythons", OK, shown)


def find_browser() -> str | None:
    for name in _BROWSERS:
        if found := shutil.which(name):
            return found
    if sys.platform == "darwin":
        for app in ("Google Chrome", "Chromium", "Microsoft Edge", "Brave Browser"):
            exe = Path("/Applications") / f"{app}.app" / "Contents" / "MacOS" / app
            if exe.exists():
                return str(exe)
    if os.name == "nt":
        for base in (os.environ.get("PROGRAMFILES", ""), os.environ.get("PROGRAMFILES(X86)", "")):
            for rel in (
                "Microsoft/Edge/Application/msedge.exe",
                "Google/Chrome/Application/chrome.exe",
            ):
                if base and (Path(base) / rel).exists():
                    return str(Path(base) / rel)
    return None


def check_browser() -> Check:
    if found := find_browser():
        return Check("browser", OK, f"{found} (JupyterLab opens in a window of its own)")
    import webbrowser

    try:
        fallback = webbrowser.get().name
    except webbrowser.Error:
        fallback = None
    fix = {
        "linux": f"{_sudo()}apt-get install chromium (or your distribution's Chromium package)",
        "darwin": "install Google Chrome, Chromium or Microsoft Edge",
        "win32": "install Microsoft Edge or Google Chrome",
    }.get(sys.platform, "install Chromium, Chrome or Edge")
    if fallback:
        return Check(
            "browser",
            WARN,
            f"no Chromium, Chrome or Edge: JupyterLab opens in {fallback}, not a window of its own",
            fix,
        )
    return Check(
        "browser", WARN, "no browser found; open the address `orbit up` prints yourself", fix
    )


def check_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Check:
    """Can a browser window open in this session at all?"""
    from jupyter_orbit.browser import display_missing

    if why := display_missing(platform, environ):
        return Check(
            "display",
            WARN,
            f"{why}: no browser window can open in this session; `orbit up` prints a login "
            "link that works once instead",
            "open that link in a browser on this machine, or from another one through an SSH "
            "tunnel (`ssh -L PORT:127.0.0.1:PORT HOST`, PORT as `orbit status` shows it)",
        )
    shown = environ.get("WAYLAND_DISPLAY") or environ.get("DISPLAY") or "the desktop"
    return Check("display", OK, f"{shown} (browser windows can open)")


def check_containers() -> Check:
    for tool in ("docker", "podman"):
        if exe := shutil.which(tool):
            break
    else:
        return Check(
            "container engine",
            WARN,
            "neither docker nor podman is installed (needed only for the docker engine and hubs)",
            "install Docker Engine (https://docs.docker.com/engine/install/) or Podman",
        )
    try:
        r = subprocess.run(
            [exe, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        r = None
    if r is not None and r.returncode == 0 and r.stdout.strip():
        return Check("container engine", OK, f"{tool} {r.stdout.strip()} ({exe})")
    err = (r.stderr if r is not None else "no answer within 20 s").strip()
    if "permission denied" in err.lower():
        fix = f"{_sudo()}usermod -aG docker $USER, then log in again"
    elif tool == "docker":
        fix = f"start the daemon: {_sudo()}systemctl start docker (or run dockerd)"
    else:
        fix = "start it: `podman machine start` or `systemctl --user start podman.socket`"
    return Check(
        "container engine",
        WARN,
        f"{tool} is installed but its engine does not answer: {err[:160]}",
        fix,
    )


def check_disk(paths: Paths) -> Check:
    where = paths.home
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    free = usage.free / GIB
    detail = f"{free:.1f} GiB free where Orbit keeps environments ({paths.home})"
    fix = "free space on that disk, or move Orbit's data to a bigger one with ORBIT_HOME=/path"
    if free < 1:
        return Check("disk space", FAIL, detail, fix)
    if free < 5:
        return Check("disk space", WARN, detail + "; an environment can take a few GiB", fix)
    return Check("disk space", OK, detail)


# -- the profile ------------------------------------------------------------------------------


def check_profile(paths: Paths, name: str) -> list[Check]:
    from jupyter_orbit.profiles import server_env
    from jupyter_orbit.profiles.store import ProfileStore

    store = ProfileStore(paths)
    label = f"profile {name}"
    checks: list[Check] = []
    checks += _check_store(store)
    if not store.exists(name):
        checks.append(
            Check(
                label,
                WARN,
                "does not exist yet (`orbit up` makes it)",
                f"orbit profile create {name}",
                lambda: (store.settings(name, create=True), f"created profile {name}")[1],
            )
        )
        return checks
    prof = store.profile(name)
    try:
        settings = store.settings(name)
    except OrbitError as e:
        checks.append(Check(label, FAIL, f"{e}", e.hint))
        return checks
    checks.append(Check(label, OK, f"{prof.root}"))

    env = server_env.lookup(paths, settings)
    what = (
        f"JupyterLab {settings.server.jupyterlab}, {len(settings.server.extensions)} extension(s)"
    )
    if env is None:
        checks.append(_unbuilt(paths, settings, what))
    else:
        checks += _check_env(paths, prof, settings, env, what)
    checks += _check_server_state(prof)
    checks += _check_kernelspecs(store, prof, settings)
    return checks


def _check_store(store: ProfileStore) -> list[Check]:
    out = []
    chosen = store.default()
    if chosen != "default" and not store.exists(chosen):
        out.append(
            Check(
                "default profile",
                WARN,
                f"`orbit profile use` chose {chosen!r}, which no longer exists",
                "orbit profile use default",
                lambda: (store.use_default(), "the default profile is `default` again")[1],
            )
        )
    if left := store.leftovers():

        def clean() -> str:
            for p in left:
                shutil.rmtree(p, ignore_errors=True)
            return f"removed {len(left)} leftover folder(s)"

        out.append(
            Check(
                "profiles",
                WARN,
                f"left by an interrupted command: {', '.join(p.name for p in left)}",
                f"remove them from {store.root}",
                clean,
            )
        )
    return out


def _unbuilt(paths: Paths, settings: Settings, what: str) -> Check:
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.profiles import server_env
    from jupyter_orbit.uvcli import find_python

    python = settings.server.python
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
        find_python(python, cwd=paths.home)
    except InputError as e:
        return Check("server environment", FAIL, f"not built, and {e.message}", e.hint)
    return Check(
        "server environment",
        WARN,
        f"not built yet ({what}); the next `orbit up` builds it",
        "orbit doctor --fix builds it now",
        lambda: f"built {server_env.ensure(paths, settings).env_id}",
    )


def _check_env(
    paths: Paths, prof: ProfilePaths, settings: Settings, env: Environment, what: str
) -> list[Check]:
    """Does the server environment run Orbit's code, and is every stored setting valid there?
    (One run of the environment's Python answers both.)"""
    from jupyter_orbit.profiles import config, server_env

    out = []
    try:
        values = config.flatten(config.read_file(prof))
    except OrbitError as e:
        out.append(Check("server config", FAIL, str(e), e.hint))
        values = {}
    try:
        answer = config.ask(
            paths, prof, settings, {"check": [{"key": k, "value": v} for k, v in values.items()]}
        )
    except (OrbitError, OSError, ValueError) as e:

        def rebuild() -> str:
            shutil.rmtree(env.location, ignore_errors=True)
            return f"rebuilt {server_env.ensure(paths, settings).env_id}"

        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        fix = "orbit doctor --fix rebuilds it"
        return [Check("server environment", FAIL, f"{env.env_id} is broken: {why}", fix, rebuild)]
    out.insert(0, Check("server environment", OK, f"{env.env_id} ({what})"))
    bad = [r for r in answer["results"] if not r["ok"]]
    for r in bad:
        out.append(
            Check(
                "server config",
                FAIL,
                f"{r['error']} (in {prof.server_config})",
                f"orbit config unset {r['key']} --profile {prof.name}   ({r['hint']})",
            )
        )
    if values and not bad:
        out.append(Check("server config", OK, f"{len(values)} setting(s), all valid"))
    elif not values and len(out) == 1:
        out.append(Check("server config", OK, "nothing changed from Jupyter's defaults"))
    return out


def _check_server_state(prof: ProfilePaths) -> list[Check]:
    import json

    from jupyter_orbit.state import forget_state, read_state

    out = []
    state_file = prof.server_state
    if state_file.exists():
        try:
            data = json.loads(state_file.read_text())
            pid = int(data["pid"])
        except (ValueError, KeyError, TypeError):
            pid = None
        state = read_state(prof)
        if pid is None or state is None or not state.alive():  # gone, or its pid reused

            def forget() -> str:
                forget_state(prof, state)
                return "removed the stale server state"

            out.append(
                Check(
                    "server",
                    WARN,
                    f"{state_file} describes a server that is no longer running",
                    "orbit doctor --fix removes it",
                    forget,
                )
            )
        else:
            out.append(Check("server", OK, f"running at {data.get('url')} (pid {pid})"))
    loose = [
        p for p in (prof.server_state, prof.token_file) if p.exists() and p.stat().st_mode & 0o077
    ]
    if loose:

        def tighten() -> str:
            for p in loose:
                if p.exists():  # the stale-state repair may have removed it
                    p.chmod(0o600)
            return f"made {', '.join(p.name for p in loose)} private (0600)"

        out.append(
            Check(
                "token files",
                FAIL,
                f"{', '.join(str(p) for p in loose)} can be read by other users",
                f"chmod 600 {' '.join(str(p) for p in loose)}",
                tighten,
            )
        )
    return out


def _check_kernelspecs(store: ProfileStore, prof: ProfilePaths, settings: Settings) -> list[Check]:
    from jupyter_orbit.kernels.recipes import recipe_classes

    classes = recipe_classes()
    wanted = settings.defaults.kernels
    names = [classes[k].kernelspec_name for k in (wanted or classes) if k in classes]
    missing = [n for n in names if not (prof.kernels_dir / n / "kernel.json").exists()]
    if not missing:
        return [Check("kernelspecs", OK, ", ".join(names) or "none (defaults.kernels is empty)")]
    return [
        Check(
            "kernelspecs",
            WARN,
            f"missing: {', '.join(missing)} (the next `orbit up` writes them)",
            "orbit doctor --fix writes them now",
            lambda: "wrote " + ", ".join(store.install_kernelspecs(prof, settings)),
        )
    ]


def run(paths: Paths, profile: str) -> list[Check]:
    checks = [check_python(), check_uv(), check_pythons(paths), check_display(), check_browser()]
    checks += [check_containers(), check_disk(paths)]
    checks += check_profile(paths, profile)
    return checks


def verify(paths: Paths) -> list[Check]:
    """``orbit doctor --verify``: every built environment's package files against the hashes
    their ``RECORD`` lists (see ``engines.integrity``): changed or missing files fail, files
    still shared by hardlink (environments built before Orbit copied them, or with
    ``UV_LINK_MODE=hardlink``) warn."""
    import json

    from jupyter_orbit.engines import bytecode, integrity

    checks = []
    intact = files = 0
    for kind in ("local", "server"):
        root = paths.envs_dir(kind)
        if not root.is_dir():
            continue
        for location in sorted(p for p in root.iterdir() if (p / "orbit-env.json").is_file()):
            try:
                env_id = json.loads((location / "orbit-env.json").read_text())["env_id"]
            except (OSError, ValueError, KeyError, TypeError):
                env_id = location.name
            name = f"{kind} env {env_id[:12]}"
            report = integrity.verify(location)
            files += report.checked
            rebuild = (
                f"remove it (`rm -rf {location}`; restart kernels using it) and Orbit builds it "
                "again, with files of its own, when a notebook needs it"
            )
            if not report.intact:
                bad = [*report.changed, *(f"{m} (missing)" for m in report.missing)]
                shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                checks.append(
                    Check(
                        name,
                        FAIL,
                        f"{len(bad)} files differ from what was installed: {shown}",
                        rebuild,
                    )
                )
            elif report.shared and not bytecode.pending(location):
                # (while its background job runs, a new environment's files are still linked)
                checks.append(
                    Check(
                        name,
                        WARN,
                        f"{report.shared} package files are hardlinked with uv's cache or other "
                        "environments: an edit in one changes them all",
                        rebuild,
                    )
                )
            else:
                intact += 1
    checks.insert(0, Check("environments", OK, f"{intact} intact ({files} package files checked)"))
    return checks


def repair(checks: list[Check]) -> list[tuple[Check, str]]:
    """Carry out every automatic repair; returns what each did (or why it could not)."""
    done = []
    for c in checks:
        if c.status != OK and c.repair is not None:
            try:
                done.append((c, c.repair()))
            except OrbitError as e:
                done.append((c, f"could not: {e}" + (f" ({e.hint})" if e.hint else "")))
            except OSError as e:
                done.append((c, f"could not: {e}"))
    return done
