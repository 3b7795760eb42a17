"""Every call Orbit makes to uv goes through here.

uv always runs with ``--no-config`` (nothing in a project folder configures it) and from a
working directory Orbit owns, so no ``pyproject.toml`` or ``uv.toml`` nearby is picked up.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit.errors import AsOfError, BuildError, DiskError, InputError

if TYPE_CHECKING:
    from jupyter_orbit import uvfailure

# Variables that would point uv at some other environment or project than the one we name.
_SCRUB = ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT", "UV_PROJECT", "PYTHONHOME")


_FINDING = threading.Lock()


@functools.cache
def _find_uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def uv_bin() -> str:
    # One thread at a time: the first call reads sysconfig's variables, which Python 3.11 fills
    # in without a lock (a second thread could see "EXE" missing), and the date fit asks uv from
    # two threads at once.
    with _FINDING:
        return _find_uv()


def uv_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["UV_NO_CONFIG"] = "1"
    env.setdefault("NO_COLOR", "1")
    env.update(extra or {})
    from jupyter_orbit import offline

    return offline.uv_environ(env)  # installed bundles: their stand-in index, nothing else


def run_uv(
    args: Sequence[str],
    *,
    cwd: Path,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> str:
    """Run ``uv ARGS`` and return its stdout; stderr lines go to ``on_line`` as they come.

    A failure the package index may have caused — a network error, a timeout, a version it
    listed and then lacked — is tried again after a pause, with fresh index data for the
    packages it named (``uvfailure``); ``on_retry`` (else ``on_line``) hears of each retry.
    Every failure raises a ``BuildError`` (a subclass saying what it is) carrying uv's own
    explanation.
    """
    from jupyter_orbit import offline, uvfailure

    args = offline.uv_args(args)  # a bundle is already dated: see offline's doc
    environ = uv_environ(env)
    refresh: list[str] = []
    tries = 0
    while True:
        tries += 1
        code, out, err_lines = _run_once([*args, *refresh], cwd, environ, stdin, on_line)
        if code == 0:
            return out
        found = _diagnose(args, err_lines, environ, cwd)
        if isinstance(found, BuildError | DiskError):
            raise found
        total = found.retries(args) + 1
        if tries >= total:
            raise found.final(args, tries)
        delay = uvfailure.BACKOFF[min(tries, len(uvfailure.BACKOFF)) - 1]
        if say := on_retry or on_line:
            say(found.notice(tries, total, delay))
        time.sleep(delay)
        refresh = [f"--refresh-package={name}" for name in found.refresh]


def _run_once(
    args: Sequence[str],
    cwd: Path,
    environ: dict[str, str],
    stdin: str | None,
    on_line: Callable[[str], None] | None,
) -> tuple[int, str, list[str]]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [uv_bin(), *args, "--no-config"],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        text=True,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    err_lines: list[str] = []
    assert proc.stderr is not None and proc.stdout is not None
    # uv writes little to stdout, so reading stderr first cannot deadlock on a full pipe.
    for line in proc.stderr:
        err_lines.append(line.rstrip("\n"))
        if on_line:
            on_line(line.rstrip("\n"))
    out = proc.stdout.read()
    code = proc.wait()
    _trace(args, time.perf_counter() - started, code)
    return code, out, err_lines


def _trace(args: Sequence[str], seconds: float, code: int) -> None:
    """With ``ORBIT_UV_TRACE=FILE``: one JSON line per uv call (its arguments, wall time and
    exit code), appended to FILE, for profiling builds (bench/build_profile.py)."""
    if not (where := os.environ.get("ORBIT_UV_TRACE")):
        return
    line = json.dumps({"args": list(args), "seconds": round(seconds, 4), "code": code})
    try:
        with Path(where).open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass  # a trace is only a trace


def uv_failure(
    what: Sequence[str],
    lines: list[str],
    *,
    args: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> BuildError | DiskError:
    """Turn uv's error output into one message and a fix."""
    found = _diagnose(args or what, lines, environ or {}, cwd)
    return found if isinstance(found, BuildError | DiskError) else found.final(args or what, 1)


def _diagnose(
    args: Sequence[str], lines: list[str], environ: Mapping[str, str], cwd: Path | None
) -> BuildError | DiskError | uvfailure.Diagnosis:
    """A full or forbidden disk, else the date's failure, else what ``uvfailure`` recognises,
    else uv's own words."""
    from jupyter_orbit import uvfailure

    text = "\n".join(lines).strip()
    body = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("Using ", "Resolved"))]
    if disk := _disk_failure(text):
        return disk
    from jupyter_orbit import offline

    if missing := offline.not_bundled("pypi", text):
        return missing
    if dated := _as_of_failure(text, body):
        return dated
    if found := uvfailure.diagnose(args, lines, environ, cwd):
        return found
    summary = " ".join(body[-6:])[:600] if body else "uv failed"
    for prefix in ("error: ", "× "):
        summary = summary.replace(prefix, "")
    hint = "see uv's message above; fix the requirement and try again"
    return BuildError(f"uv {' '.join(args[0:2])} failed: {summary}", hint)


# uv (Rust) spells OS errors "<strerror> (os error N)"; the path it failed on is in backticks.
_OS_ERROR = re.compile(r"\(os error (?P<errno>\d+)\)")
_PATH = re.compile(r"`(?P<path>/[^`]+)`")


def _disk_failure(text: str) -> DiskError | None:
    """A full, read-only or forbidden disk under uv, said as such (with the path uv names)."""
    from jupyter_orbit.errors import from_os_error

    for m in _OS_ERROR.finditer(text):
        number = int(m.group("errno"))
        before = text[: m.start()]
        paths = _PATH.findall(before)
        said = from_os_error(OSError(number, os.strerror(number), paths[-1] if paths else None))
        if said is not None:
            return said
    return None


# uv's hint when --exclude-newer removed what was asked for (uv 0.8 and later).
_FILTERED = re.compile(
    r"`(?P<name>[^`]+)` was filtered by `exclude-newer` to only include packages uploaded before "
    r"(?P<cutoff>\S+?)\.(?: The requested version, v(?P<pinned>\S+), was published at "
    r"(?P<pinned_at>\S+?)\.| The latest version satisfying the requirement is v(?P<latest>\S+), "
    r"published at (?P<latest_at>\S+?)\.)?"
)


_NO_WHEEL = re.compile(
    r"(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+) has no wheels with a matching Python ABI tag "
    r"\(e\.g\., `(?P<tag>[^`]+)`\)"
)


def _as_of_failure(text: str, body: list[str]) -> AsOfError | None:
    """The resolution date, not the requirements, is what uv could not satisfy."""
    m = _FILTERED.search(" ".join(text.split()))
    if m is None:
        return None
    name, cutoff = m.group("name"), m.group("cutoff").removesuffix("T00:00:00Z")
    hint = "resolve as of a later date, or today's versions with `--as-of now`"
    if m.group("pinned"):
        message = (
            f"{name} {m.group('pinned')} was published on {m.group('pinned_at')[:10]}, "
            f"after the as-of date {cutoff}"
        )
        return AsOfError(message, hint + ", or loosen the pin")
    failed = next((ln for ln in body if ln.startswith(("error: Failed", "× Failed"))), "")
    no_wheel = _NO_WHEEL.search(" ".join(text.split()))
    if no_wheel:
        message = (
            f"{no_wheel.group('name')} {no_wheel.group('version')}, the newest as of {cutoff}, "
            f"has no wheel for this Python ({no_wheel.group('tag')})"
        )
    elif failed:
        what = failed.split(": ", 1)[-1].replace("`", "")
        message = f"{what}: its build needs {name} newer than the as-of date {cutoff}"
    elif m.group("latest"):
        message = (
            f"no version of {name} that fits had been published by the as-of date {cutoff} "
            f"(the newest, {m.group('latest')}, is from {m.group('latest_at')[:10]})"
        )
    else:
        message = f"{name}: nothing that fits had been published by the as-of date {cutoff}"
    return AsOfError(message, hint)


def find_python(request: str, *, cwd: Path, cache: Path | None = None) -> Path:
    """The interpreter for ``request`` (a version or specifier), never downloading.

    Orbit's own look (``pythons.discover``: PATH, uv's, pyenv, asdf, conda, Homebrew, the system,
    ``py``) comes first, since uv does not look in most of those places; then uv's own. ``cache``
    is the data root's cache folder, where the answers are kept.
    """
    from jupyter_orbit import pythons

    found = pythons.discover(cache)
    if (best := pythons.find(request, found, prefer=pythons.default_python())) is not None:
        return best.path
    try:
        out = run_uv(["python", "find", "--no-python-downloads", "--no-project", request], cwd=cwd)
    except BuildError:
        raise missing_python(request, found) from None
    return Path(out.strip().splitlines()[-1])


def missing_python(request: str, found: list, *, downloads: bool = True) -> InputError:
    """Python ``request`` is not here: which ones are, and only ways out that can work."""
    from jupyter_orbit import pythons

    usable = [i for i in found if i.usable]
    present = ", ".join(i.label() for i in usable) or "none Orbit can use"
    message = f"Python {request} is not on this machine (found: {present})"
    exact = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", request.strip())
    if any(pythons.matches(i, request) for i in found if not i.usable):
        message += f"; the Python {request} here is too old for uv, which needs 3.6 or newer"
    elif exact and downloads and pythons.minor_of(request) in python_downloads():
        return InputError(message, f"install it with `uv python install {request}`")
    asked = pythons.minor_of(request) if exact else request
    fixes = [
        ("uv cannot install it; " if exact else "")
        + pythons.how_to_get(asked if exact else "VERSION")
    ]
    if other := pythons.find(pythons.default_python(), usable) or (usable[0] if usable else None):
        fixes.append(f"or try `--python {other.minor} --as-of now`")
    return InputError(message, ", ".join(fixes))


@functools.cache
def python_downloads() -> frozenset[str]:
    """The CPython minor versions uv can download (uv's own list; nothing is fetched)."""
    import tempfile

    args = ["python", "list", "--all-versions", "--only-downloads", "--output-format", "json"]
    with tempfile.TemporaryDirectory(prefix="orbit-uv-") as tmp:
        try:  # the list is long: read both pipes at once (run_uv reads stderr first)
            r = subprocess.run(
                [uv_bin(), *args, "--no-config"],
                cwd=tmp,
                env=uv_environ(),
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            rows = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        except (OSError, subprocess.SubprocessError, ValueError):
            return frozenset()
    return frozenset(
        ".".join(str(row["version"]).split(".")[:2])
        for row in rows
        if row.get("implementation") == "cpython" and row.get("variant", "default") == "default"
    )


def install_python(
    request: str, *, cwd: Path, on_line: Callable[[str], None] | None = None
) -> None:
    """``uv python install REQUEST``: needs the network; failure is told with the way out."""
    from jupyter_orbit import pythons

    try:
        run_uv(["python", "install", request], cwd=cwd, on_line=on_line)
    except BuildError as err:
        found = ", ".join(i.label() for i in pythons.discover() if i.usable) or "none"
        raise BuildError(
            f"uv could not download Python {request} ({err.message}); found here: {found}",
            f"connect and try again, or {pythons.how_to_get(pythons.minor_of(request))}",
        ) from None


def installed_pythons(*, cwd: Path) -> list[str]:
    try:
        out = run_uv(
            [
                "python",
                "list",
                "--only-installed",
                "--output-format",
                "json",
                "--no-python-downloads",
            ],
            cwd=cwd,
        )
    except BuildError:
        return []
    versions = {d["version"] for d in json.loads(out or "[]")}
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")[:3] if p.isdigit()))
