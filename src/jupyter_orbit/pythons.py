"""The Python interpreters Orbit builds environments with, and every one this machine has.

uv finds the interpreters on ``PATH`` and the ones it installed itself; people also keep
Pythons where uv does not look (pyenv, asdf, conda, Homebrew's versioned names, the Windows
``py`` launcher). ``discover`` looks in all of those places, runs each interpreter found once to
ask its version, and keeps the answers in the data root's cache, keyed by the file's real path,
size and modification time, so a later look costs a ``stat`` per file. ``find`` picks the best
one for a request (``3.10``, ``3.10.4``, ``>=3.8``); its path is what uv is given.

Version managers' shims (pyenv's, asdf's) are scripts that pick a version by the current folder,
so they are skipped: the versions they point at are found where they are installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# uv makes virtual environments from CPython and PyPy 3.6 and later (it runs them with -I).
OLDEST_USABLE = (3, 6)
# Where an interpreter was found, in the order a tie between equal versions is broken.
SOURCES = ("uv", "pyenv", "asdf", "mise", "conda", "homebrew", "system", "py launcher", "PATH")
_PROBE = (
    "import json, platform, sys; print(json.dumps({'version': platform.python_version(), "
    "'implementation': platform.python_implementation().lower(), "
    "'venv': getattr(sys, 'base_prefix', sys.prefix) != sys.prefix or hasattr(sys, 'real_prefix')"
    "}))"
)
_NAME = re.compile(r"^(python|pypy)(\d(\.\d+)?)?(\.exe)?$")
_CACHE_VERSION = 1


def default_python() -> str:
    """The version Orbit itself runs on: the default when nothing asks for another."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def venv_python(prefix: Path) -> Path:
    """The interpreter of the virtual environment at ``prefix``."""
    return (
        prefix
        / ("Scripts" if os.name == "nt" else "bin")
        / ("python.exe" if os.name == "nt" else "python")
    )


def site_packages(prefix: Path) -> list[Path]:
    """The site-packages folders of the virtual environment at ``prefix``."""
    if os.name == "nt":
        return [prefix / "Lib" / "site-packages"]
    return sorted((prefix / "lib").glob("python*/site-packages"))


def minor_of(version: str) -> str:
    """``3.10`` of ``3.10.13`` (or of ``3.10``)."""
    return ".".join(version.split(".")[:2])


def version_key(version: str) -> tuple[int, ...]:
    """``3.10.13`` as numbers, for sorting (a pre-release tail such as ``0rc1`` counts as 0)."""
    return tuple(int(m.group()) if (m := re.match(r"\d+", p)) else 0 for p in version.split("."))


@dataclass(frozen=True)
class Interpreter:
    """One Python on this machine."""

    path: Path
    version: str  # "3.10.13"
    implementation: str  # "cpython", "pypy"
    source: str  # one of SOURCES

    @property
    def minor(self) -> str:
        return minor_of(self.version)

    @property
    def usable(self) -> bool:
        """Whether uv can build an environment from it."""
        return (
            self.implementation in ("cpython", "pypy")
            and version_key(self.version)[:2] >= OLDEST_USABLE
        )

    def label(self) -> str:
        """``3.10.13 (pyenv)``: for lists in messages."""
        impl = "" if self.implementation == "cpython" else f"{self.implementation} "
        return f"{impl}{self.version} ({self.source})"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "version": self.version,
            "implementation": self.implementation,
            "source": self.source,
            "usable": self.usable,
        }


# -- where Pythons live -----------------------------------------------------------------------


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())


def _names_in(folder: Path) -> Iterator[Path]:
    """``python``, ``python3``, ``python3.12`` (and ``.exe``) files in ``folder``."""
    try:  # names first, Paths only for the few that match (/usr/bin holds thousands)
        names = sorted(name for name in os.listdir(folder) if _NAME.match(name))  # noqa: PTH208
    except OSError:
        return
    for name in names:
        yield folder / name


def _installs(root: Path, pattern: str) -> Iterator[Path]:
    """Interpreters of a version manager's installs: ``root/*/<pattern>``."""
    try:
        versions = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return
    for version in versions:
        for name in (pattern, pattern.replace("python3", "python")):
            exe = version / name
            if exe.exists():
                yield exe
                break


def candidates(environ: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """Every file that may be a Python, with where it was found (not yet run)."""
    environ = os.environ if environ is None else environ
    home = _home(environ)
    windows = os.name == "nt"
    exe = "python.exe" if windows else "bin/python3"
    out: list[tuple[Path, str]] = []

    uv_dir = environ.get("UV_PYTHON_INSTALL_DIR")
    if uv_dir:
        uv_root = Path(uv_dir)
    elif windows:
        uv_root = Path(environ.get("APPDATA") or home / "AppData" / "Roaming") / "uv" / "python"
    else:
        data = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        uv_root = Path(data) / "uv" / "python"
    out += [(p, "uv") for p in _installs(uv_root, exe)]

    pyenv = Path(environ.get("PYENV_ROOT") or home / ".pyenv")
    if windows:
        pyenv = Path(environ.get("PYENV_ROOT") or home / ".pyenv" / "pyenv-win")
    out += [(p, "pyenv") for p in _installs(pyenv / "versions", exe)]
    asdf = Path(environ.get("ASDF_DATA_DIR") or home / ".asdf")
    out += [(p, "asdf") for p in _installs(asdf / "installs" / "python", exe)]
    mise = Path(environ.get("MISE_DATA_DIR") or home / ".local" / "share" / "mise")
    out += [(p, "mise") for p in _installs(mise / "installs" / "python", exe)]

    conda_roots = [
        home / name
        for name in ("miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda")
    ]
    conda_roots += [Path("/opt/conda"), Path("/opt/miniconda3"), Path("/opt/miniforge3")]
    for key in ("CONDA_EXE", "MAMBA_EXE"):
        if environ.get(key):  # <root>/bin/conda or <root>/condabin/conda
            conda_roots.insert(0, Path(environ[key]).parent.parent)
    if environ.get("MAMBA_ROOT_PREFIX"):
        conda_roots.insert(0, Path(environ["MAMBA_ROOT_PREFIX"]))
    for root in dict.fromkeys(conda_roots):
        base = root / ("python.exe" if windows else "bin/python")
        if base.exists():
            out.append((base, "conda"))
        out += [(p, "conda") for p in _installs(root / "envs", exe.replace("python3", "python"))]

    if not windows:
        for prefix in ("/opt/homebrew", "/usr/local", "/home/linuxbrew/.linuxbrew"):
            brew = Path(prefix)
            out += [(p, "homebrew") for p in _installs(brew / "opt", "bin/python3")]
            if (brew / "Cellar").is_dir():
                out += [(p, "homebrew") for p in _names_in(brew / "bin")]
        for folder in ("/usr/bin", "/usr/local/bin"):
            out += [(p, "system") for p in _names_in(Path(folder))]
    else:
        out += [(p, "py launcher") for p in _py_launcher()]

    for folder in environ.get("PATH", "").split(os.pathsep):
        if folder:
            out += [(p, "PATH") for p in _names_in(Path(folder))]
    return out


def _py_launcher() -> list[Path]:
    """The interpreters Windows' ``py`` launcher knows (``py -0p``)."""
    py = shutil.which("py")
    if py is None:
        return []
    try:
        out = subprocess.run([py, "-0p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_py_list(out)


def parse_py_list(text: str) -> list[Path]:
    """The paths in ``py -0p`` output, old (`` -3.8-64  C:\\…``) and new (`` -V:3.12 *  C:\\…``)."""
    found = []
    for line in text.splitlines():
        m = re.match(r"^\s*-\S+(?:\s+\*)?\s+(.+?\.exe)\s*$", line, re.IGNORECASE)
        if m:
            found.append(Path(m.group(1)))
    return found


# -- asking each one ---------------------------------------------------------------------------


def _is_script(path: Path) -> bool:
    """Shims of version managers are scripts (``#!``); interpreters are binaries."""
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def probe(path: Path) -> dict[str, object] | None:
    """Run ``path`` once and ask its version; None when it is not a working Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        r = subprocess.run(
            [str(path), "-E", "-s", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        answer = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("version"), str):
        return None
    return answer


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def discover(
    cache: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[Interpreter]:
    """Every working Python on this machine, newest first, each real file once.

    ``cache`` is a folder of the data root's cache: answers are kept there (written atomically)
    and reused while the file's size and modification time stay the same. Virtual
    environments are left out: they belong to someone else's project.
    """
    found: dict[Path, str] = {}
    for path, source in candidates(environ):
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real not in found and real.is_file() and not _is_script(real):
            found[real] = source
    known = _load(cache)
    answers: dict[str, dict[str, object]] = {}
    todo = []
    for real in found:
        stamp = _stamp(real)
        entry = known.get(str(real))
        if stamp is not None and entry is not None and entry.get("stamp") == stamp:
            answers[str(real)] = entry
        elif stamp is not None:
            todo.append((real, stamp))
    if todo:
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            probed = list(pool.map(lambda item: probe(item[0]), todo))
        for (real, stamp), answer in zip(todo, probed, strict=True):
            answers[str(real)] = {"stamp": stamp, **(answer or {"version": None})}
        _save(cache, answers)
    out = []
    for real, source in found.items():
        entry = answers.get(str(real)) or {}
        if not isinstance(entry.get("version"), str) or entry.get("venv"):
            continue
        impl = str(entry.get("implementation") or "cpython")
        out.append(Interpreter(real, str(entry["version"]), impl, source))
    return sorted(out, key=_rank)


def _rank(i: Interpreter) -> tuple:
    source = SOURCES.index(i.source) if i.source in SOURCES else len(SOURCES)
    return (i.implementation != "cpython", tuple(-n for n in version_key(i.version)), source)


def _cache_file(cache: Path) -> Path:
    return cache / "pythons.json"


def _load(cache: Path | None) -> dict[str, dict[str, object]]:
    if cache is None:
        return {}
    try:
        data = json.loads(_cache_file(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("v") != _CACHE_VERSION:
        return {}
    entries = data.get("interpreters")
    return entries if isinstance(entries, dict) else {}


def _save(cache: Path | None, answers: dict[str, dict[str, object]]) -> None:
    """Keep the answers (only those for files that still exist: a removed Python goes away)."""
    if cache is None:
        return
    from jupyter_orbit import atomic

    with contextlib.suppress(OSError):  # only a cache: the next look asks again
        atomic.write_text(
            _cache_file(cache),
            json.dumps({"v": _CACHE_VERSION, "interpreters": answers}, indent=1, sort_keys=True),
        )


# -- choosing one ----------------------------------------------------------------------------


def matches(interpreter: Interpreter, request: str) -> bool:
    """Whether ``interpreter`` is what ``request`` asks for: ``3``, ``3.10``, ``3.10.4`` (that
    version exactly) or a specifier such as ``>=3.8,<3.11``."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    request = request.strip()
    if re.fullmatch(r"\d+(\.\d+){0,2}", request):
        asked = request.split(".")
        return interpreter.version.split(".")[: len(asked)] == asked
    try:
        spec = SpecifierSet(request)
    except InvalidSpecifier:
        return False
    return spec.contains(interpreter.version, prereleases=True)


def find(
    request: str, interpreters: list[Interpreter], *, prefer: str | None = None
) -> Interpreter | None:
    """The best usable interpreter for ``request``: one of the ``prefer`` minor version when
    the request allows it (a range such as ``>=3.10`` is met by the Python Orbit runs on, as
    uv would), else the newest that matches (CPython first)."""
    usable = [i for i in interpreters if i.usable and matches(i, request)]
    preferred = [i for i in usable if prefer and i.minor == prefer]
    return next(iter(preferred or usable), None)


def by_minor(interpreters: list[Interpreter]) -> dict[str, Interpreter]:
    """The best usable CPython of each minor version, newest minor first."""
    out: dict[str, Interpreter] = {}
    for i in interpreters:
        if i.usable and i.implementation == "cpython":
            out.setdefault(i.minor, i)
    return dict(sorted(out.items(), key=lambda kv: version_key(kv[0]), reverse=True))


def how_to_get(version: str, environ: Mapping[str, str] | None = None) -> str:
    """How a person gets a Python uv cannot install: the version manager they have, else the
    system's packages."""
    environ = os.environ if environ is None else environ
    home = _home(environ)
    pyenv = shutil.which("pyenv", path=environ.get("PATH", ""))
    if Path(environ.get("PYENV_ROOT") or home / ".pyenv").is_dir() or pyenv:
        return f"install it with pyenv (`pyenv install {version}`) or your system's packages"
    if Path(environ.get("ASDF_DATA_DIR") or home / ".asdf").is_dir():
        return f"install it with asdf (`asdf install python {version}`) or your system's packages"
    return f"install Python {version} with pyenv, conda or your system's packages"
