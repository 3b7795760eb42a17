"""What goes into a bundle, planned first, then fetched.

Each ecosystem has two steps, the same shape as the engines' plan/realize:

- a **plan** (``plan_pypi``, ``plan_npm``, ``plan_apt``): a pure function from metadata already
  in hand (the index's PEP 691 pages, an npm lock, apt's ``--print-uris`` answer) to a list of
  ``Planned`` files with names, versions, sizes and published hashes — what ``--dry-run`` prints;
- a **collect** (``collect_pypi``, ``collect_npm``, ``collect_apt``, ``collect_images``): fetches
  exactly the planned files into a folder, checks each against the hash its source published,
  reports progress, and returns ``archive.Entry`` values ready for ``archive.write_bundle``.

The metadata look-ups (``pypi_pages``, ``npm_lock``, ``apt_uris``) are separate small functions,
so a dry run costs a few HTTP requests and no downloads.

Wheels come straight from the index the user configured (never from a project), chosen by the
target interpreter's tags; a pin with no wheel for the target is built from its sdist into a
wheel here, at bundle time (``uv build``), so the offline machine never builds anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit.bundle.archive import Entry, human_size
from jupyter_orbit.errors import BuildError, InputError, OrbitError
from jupyter_orbit.progress import NullProgress, Progress

PYPI_SIMPLE = "https://pypi.org/simple/"
_PEP691 = "application/vnd.pypi.simple.v1+json"
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01: zip's earliest date, for reproducible builds


@dataclass(frozen=True)
class Planned:
    """One file a bundle will hold."""

    kind: str  # an archive kind: wheel, npm, deb, image
    name: str
    version: str
    filename: str
    size: int | None = None
    url: str | None = None
    sha256: str | None = None  # as published by the source, checked after download
    integrity: str | None = None  # npm's Subresource Integrity string
    build: bool = False  # an sdist, built into a wheel at bundle time
    needed_by: tuple[str, ...] = ()

    def describe(self) -> str:
        size = human_size(self.size) if self.size is not None else "size unknown"
        extra = " (built from its sdist)" if self.build else ""
        return f"{self.kind:<6} {self.name} {self.version}  {self.filename}  {size}{extra}"


@dataclass(frozen=True)
class Plan:
    items: tuple[Planned, ...]

    @property
    def known_size(self) -> int:
        return sum(i.size or 0 for i in self.items)

    def lines(self) -> list[str]:
        unknown = sum(1 for i in self.items if i.size is None)
        total = f"{len(self.items)} files, {human_size(self.known_size)}"
        if unknown:
            total += f" (+{unknown} of unknown size)"
        return [i.describe() for i in self.items] + [total]


# -- PyPI -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    hashes: frozenset[str] = frozenset()  # sha256 hex digests from --hash options
    line: int = 0


def parse_pins(
    text: str, *, source: str = "requirements", environment: Mapping[str, str] | None = None
) -> list[Pin]:
    """Exact pins (``name==version``) from a ``uv pip compile`` output, for one environment.

    Lines whose marker does not apply to ``environment`` are left out; anything but an exact
    pin (ranges, URLs, index options) is an error naming the line.
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins: list[Pin] = []
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            logical.append((start, buf.strip()))
        buf = ""
    for n, line in logical:
        parts = line.split()
        hashes = {p.split(":", 1)[1] for p in parts if p.startswith("--hash=sha256:")}
        rest = " ".join(p for p in parts if not p.startswith("--hash="))
        if rest.startswith("-"):
            raise InputError(
                f"{source}:{n}: {rest.split()[0]} is not allowed in a bundle's pins",
                "bundles fetch from the index in your own configuration; remove the option",
            )
        try:
            req = Requirement(rest)
        except InvalidRequirement as e:
            raise InputError(
                f"{source}:{n}: not a requirement: {rest} ({e})", "fix the line"
            ) from None
        if req.marker is not None and not req.marker.evaluate(dict(environment or {}) or None):
            continue
        specs = list(req.specifier)
        if (
            req.url
            or len(specs) != 1
            or specs[0].operator not in ("==", "===")
            or "*" in specs[0].version
        ):
            raise InputError(
                f"{source}:{n}: {rest} is not an exact pin",
                "bundle a resolved list (`uv pip compile`), where every line is name==version",
            )
        pins.append(Pin(canonicalize_name(req.name), specs[0].version, frozenset(hashes), n))
    return pins


def resolve_pins(
    requirements: Sequence[str],
    *,
    python: str,
    as_of: str | None,
    cwd: Path,
    python_platform: str | None = None,
) -> str:
    """``uv pip compile`` of ``requirements`` for ``python`` (on ``python_platform``, uv's
    name for another platform, e.g. ``x86_64-pc-windows-msvc``), as of a date: the pins."""
    from jupyter_orbit.uvcli import run_uv

    args = ["pip", "compile", "-", "--no-header", "--python-version", python, "--quiet"]
    if python_platform:
        args += ["--python-platform", python_platform]
    if as_of:
        args += ["--exclude-newer", as_of]
    return run_uv(args, cwd=cwd, stdin="\n".join(requirements) + "\n")


@dataclass(frozen=True)
class Target:
    """The interpreter and platform a bundle's wheels are for."""

    python: str  # "3.11"
    tags: tuple[str, ...]  # most preferred first
    environment: Mapping[str, str] = field(default_factory=dict)  # PEP 508 marker values
    platform: str = ""  # e.g. "win32-AMD64"; empty: this machine's

    @classmethod
    def current(cls, python: str | None = None) -> Target:
        """This machine's platform, for ``python`` (default: the running interpreter)."""
        from packaging import tags
        from packaging.markers import default_environment

        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        python = python or here
        env = default_environment()
        if python == here:
            found = tags.sys_tags()
        else:
            version = tuple(int(p) for p in python.split("."))[:2]
            plats = list(tags.platform_tags())
            found = [
                *tags.cpython_tags(python_version=version, platforms=plats),
                *tags.compatible_tags(python_version=version, platforms=plats),
            ]
            env = {**env, "python_version": python, "python_full_version": f"{python}.0"}
        return cls(python, tuple(str(t) for t in found), env)

    @classmethod
    def windows(cls, python: str) -> Target:
        """64-bit Windows (``win_amd64``), for ``python`` (an installer made elsewhere)."""
        from packaging import tags

        version = tuple(int(p) for p in python.split("."))[:2]
        plats = ["win_amd64"]
        found = [
            *tags.cpython_tags(python_version=version, platforms=plats),
            *tags.compatible_tags(python_version=version, platforms=plats),
        ]
        env = {
            "os_name": "nt",
            "sys_platform": "win32",
            "platform_system": "Windows",
            "platform_machine": "AMD64",
            "platform_release": "",
            "platform_version": "",
            "implementation_name": "cpython",
            "implementation_version": f"{python}.0",
            "platform_python_implementation": "CPython",
            "python_version": python,
            "python_full_version": f"{python}.0",
        }
        return cls(python, tuple(str(t) for t in found), env, "win32-AMD64")

    @property
    def label(self) -> tuple[str, ...]:
        here = self.platform or f"{sys.platform}-{platform.machine()}"
        return (here, f"python{self.python}")


def pypi_pages(
    names: Iterable[str], *, index_url: str = PYPI_SIMPLE, client: Any = None
) -> dict[str, dict[str, Any]]:
    """The PEP 691 JSON page of each project on the index (one request each)."""
    import httpx

    own = client is None
    client = client or httpx.Client(timeout=60, follow_redirects=True)
    pages = {}
    try:
        for name in sorted(set(names)):
            url = index_url.rstrip("/") + f"/{name}/"
            try:
                r = client.get(url, headers={"Accept": _PEP691})
            except httpx.HTTPError as e:
                raise OrbitError(
                    f"cannot reach the package index {index_url} ({e})",
                    "bundles are built online: connect, or check the index in your configuration",
                ) from None
            if r.status_code == 404:
                raise InputError(f"no project named {name} on {index_url}", "fix the pin")
            r.raise_for_status()
            pages[name] = r.json()
    finally:
        if own:
            client.close()
    return pages


def plan_pypi(
    pins: Iterable[Pin],
    pages: Mapping[str, Mapping[str, Any]],
    target: Target,
    *,
    needed_by: tuple[str, ...] = (),
    index_url: str = PYPI_SIMPLE,
) -> list[Planned]:
    """The best wheel for ``target`` of each pin, else its sdist to build (pure)."""
    from urllib.parse import urljoin

    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        canonicalize_version,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    rank = {t: i for i, t in enumerate(target.tags)}
    out = []
    for pin in pins:
        want = canonicalize_version(pin.version)
        best: tuple[int, Mapping[str, Any]] | None = None
        sdist = None
        for f in pages.get(pin.name, {}).get("files", []):
            fname = f.get("filename", "")
            try:
                if fname.endswith(".whl"):
                    _, ver, _, tags = parse_wheel_filename(fname)
                    if canonicalize_version(str(ver)) != want:
                        continue
                    score = min((rank[str(t)] for t in tags if str(t) in rank), default=None)
                    if score is not None and (best is None or score < best[0]):
                        best = (score, f)
                elif fname.endswith((".tar.gz", ".zip")):
                    _, ver = parse_sdist_filename(fname)
                    if canonicalize_version(str(ver)) == want:
                        sdist = f
            except (InvalidWheelFilename, InvalidSdistFilename):
                continue
        chosen = best[1] if best else sdist
        if chosen is None:
            raise InputError(
                f"{pin.name} {pin.version}: no wheel for {' '.join(target.label)} and no sdist "
                "on the index",
                "pin a version that has one, or bundle for another Python",
            )
        sha = chosen.get("hashes", {}).get("sha256")
        if pin.hashes and sha not in pin.hashes and best is not None:
            raise InputError(
                f"{pin.name} {pin.version}: the index's {chosen['filename']} matches none of the "
                "pinned hashes",
                "lock again (`uv pip compile --generate-hashes`)",
            )
        out.append(
            Planned(
                "wheel",
                pin.name,
                pin.version,
                chosen["filename"],
                size=chosen.get("size"),
                url=urljoin(index_url.rstrip("/") + f"/{pin.name}/", chosen["url"]),
                sha256=sha,
                build=best is None,
                needed_by=needed_by,
            )
        )
    return out


def _download(client: Any, url: str, dest: Path, sha256: str | None, integrity: str | None) -> None:
    """Stream ``url`` into ``dest`` (atomically), checking the published hash."""
    import httpx

    tmp = dest.with_name(f".{dest.name}.part")
    h256, h512 = hashlib.sha256(), hashlib.sha512()
    try:
        with client.stream("GET", url) as r, tmp.open("wb") as f:
            r.raise_for_status()
            for chunk in r.iter_bytes(2**20):
                h256.update(chunk)
                h512.update(chunk)
                f.write(chunk)
        if sha256 and h256.hexdigest() != sha256:
            raise OrbitError(f"{url} does not match its published sha256", "try again later")
        if integrity and not _integrity_ok(integrity, h512.digest()):
            raise OrbitError(f"{url} does not match its published integrity", "try again later")
        tmp.replace(dest)
    except httpx.HTTPError as e:
        raise OrbitError(
            f"cannot download {url} ({e})", "check the network and try again"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _integrity_ok(integrity: str, sha512: bytes) -> bool:
    want = [p.split("-", 1)[1] for p in integrity.split() if p.startswith("sha512-")]
    return not want or base64.b64encode(sha512).decode() in want


def collect_pypi(
    items: Iterable[Planned],
    dest: Path,
    *,
    progress: Progress | None = None,
    python: str | None = None,
    as_of: str | None = None,
    client: Any = None,
) -> list[Entry]:
    """Download the planned wheels (building planned sdists into wheels) into ``dest``."""
    import httpx

    progress = progress or NullProgress()
    dest.mkdir(parents=True, exist_ok=True)
    own = client is None
    client = client or httpx.Client(timeout=300, follow_redirects=True)
    entries = []
    try:
        for item in items:
            progress.step("downloading", f"{item.filename} ({human_size(item.size or 0)})")
            if item.build:
                with tempfile.TemporaryDirectory(prefix="orbit-sdist-") as tmp:
                    sdist = Path(tmp) / item.filename
                    _download(client, item.url or "", sdist, item.sha256, None)
                    progress.step("building a wheel", f"from {item.filename}")
                    wheel = _build_wheel(sdist, dest, python=python, as_of=as_of, progress=progress)
            else:
                wheel = dest / item.filename
                if not (wheel.is_file() and _sha256(wheel) == item.sha256):
                    _download(client, item.url or "", wheel, item.sha256, None)
            meta = {"name": item.name, "version": item.version}
            entries.append(Entry(wheel, "wheel", needed_by=item.needed_by, meta=meta))
    finally:
        if own:
            client.close()
    return entries


def _build_wheel(
    sdist: Path, dest: Path, *, python: str | None, as_of: str | None, progress: Progress
) -> Path:
    from jupyter_orbit.uvcli import run_uv

    with tempfile.TemporaryDirectory(prefix="orbit-wheel-") as out:
        args = ["build", "--wheel", str(sdist), "--out-dir", out]
        if python:
            args += ["--python", python]
        if as_of:
            args += ["--exclude-newer", as_of]
        run_uv(
            args,
            cwd=sdist.parent,
            on_line=progress.log,
            env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
        )
        built = sorted(Path(out).glob("*.whl"))
        if len(built) != 1:
            raise BuildError(f"building {sdist.name} gave no single wheel", "see uv's output")
        target = dest / built[0].name
        shutil.move(str(built[0]), target)
        return target


def _sha256(path: Path) -> str:
    from jupyter_orbit.bundle.archive import sha256_file

    return sha256_file(path)[0]


# -- npm --------------------------------------------------------------------------------------


def _npm(args: Sequence[str], *, cwd: Path, on_line: Callable[[str], None] | None = None) -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise OrbitError(
            "npm is not installed", "install Node.js (with npm) to bundle npm packages"
        )
    proc = subprocess.run(
        [npm, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    for line in proc.stderr.splitlines():
        if on_line:
            on_line(line)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-4:])[:500]
        raise BuildError(f"npm {args[0]} failed: {tail}", "check the package specs and the network")
    return proc.stdout


def npm_lock(
    specs: Iterable[str], *, as_of: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Resolve npm ``specs`` (``name``, ``name@version`` or ``name@range``; as of ``as_of``,
    when given) with their dependencies: a package-lock, made in a private folder (no
    project's ``.npmrc`` is read)."""
    from jupyter_orbit.manifests.package_json import split_npm

    deps = {}
    for spec in specs:
        name, version = split_npm(spec)
        if not name:
            raise InputError(f"{spec}: not an npm package spec", "give name or name@version")
        deps[name] = version or "*"
    with tempfile.TemporaryDirectory(prefix="orbit-npm-lock-") as tmp:
        folder = Path(tmp)
        pkg = {"name": "orbit-bundle", "version": "0.0.0", "private": True, "dependencies": deps}
        (folder / "package.json").write_text(json.dumps(pkg))
        args = ["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"]
        if as_of:
            args.append(f"--before={as_of}")
        _npm(args, cwd=folder, on_line=(progress or NullProgress()).log)
        return json.loads((folder / "package-lock.json").read_text())


def node_platform() -> tuple[str, str]:
    """This machine as npm's ``os`` and ``cpu`` fields name it."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
    return sys.platform, arch.get(platform.machine().lower(), platform.machine().lower())


def npm_tarball_name(name: str, version: str) -> str:
    """The file name ``npm pack`` gives a package (``@scope/x`` -> ``scope-x-1.0.0.tgz``)."""
    return f"{name.removeprefix('@').replace('/', '-')}-{version}.tgz"


def plan_npm(
    lock: Mapping[str, Any],
    *,
    needed_by: tuple[str, ...] = (),
    here: tuple[str, str] | None = None,
) -> list[Planned]:
    """Every package in an npm lock (v2/v3) that this platform installs, once each (pure)."""
    os_name, cpu = here or node_platform()
    found: dict[tuple[str, str], Planned] = {}
    for path, entry in sorted(lock.get("packages", {}).items()):
        if not path or entry.get("link") or entry.get("inBundle"):
            continue
        name = entry.get("name") or path.rsplit("node_modules/", 1)[-1]
        version = entry.get("version")
        resolved = entry.get("resolved", "")
        if not version or (resolved and not resolved.startswith(("http://", "https://"))):
            raise InputError(
                f"{name} comes from {resolved or 'nowhere'}, not from a registry",
                "bundles carry registry packages only",
            )
        if not _platform_ok(entry.get("os"), os_name) or not _platform_ok(entry.get("cpu"), cpu):
            continue
        found.setdefault(
            (name, version),
            Planned(
                "npm",
                name,
                version,
                npm_tarball_name(name, version),
                integrity=entry.get("integrity"),
                url=resolved or None,
                needed_by=needed_by,
            ),
        )
    return list(found.values())


def _platform_ok(allowed: list[str] | None, value: str) -> bool:
    if not allowed:
        return True
    if any(a == f"!{value}" for a in allowed):
        return False
    positive = [a for a in allowed if not a.startswith("!")]
    return not positive or value in positive


def collect_npm(
    items: Iterable[Planned], dest: Path, *, progress: Progress | None = None, batch: int = 50
) -> list[Entry]:
    """``npm pack`` the planned packages into ``dest`` (npm's own cache and registry settings),
    checking each tarball's integrity against the lock."""
    progress = progress or NullProgress()
    items = list(items)
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory(prefix="orbit-npm-pack-") as tmp:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            progress.step("npm pack", f"{start + len(chunk)}/{len(items)} packages")
            out = _npm(
                ["pack", "--json", "--pack-destination", str(dest)]
                + [f"{i.name}@{i.version}" for i in chunk],
                cwd=Path(tmp),
                on_line=progress.log,
            )
            packed = {(p["name"], p["version"]): p for p in json.loads(out)}
            for item in chunk:
                p = packed.get((item.name, item.version))
                if p is None:
                    raise BuildError(f"npm pack did not produce {item.name}@{item.version}", None)
                tgz = dest / p["filename"]
                if item.integrity and not _integrity_ok(
                    item.integrity, hashlib.sha512(tgz.read_bytes()).digest()
                ):
                    raise OrbitError(
                        f"{tgz.name} does not match the integrity in the lock", "try again"
                    )
                meta = {"name": item.name, "version": item.version}
                entries.append(Entry(tgz, "npm", needed_by=item.needed_by, meta=meta))
    return entries


# -- Debian packages --------------------------------------------------------------------------

_URI = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+)(?: (?P<hash>\S+))?$")


def _apt_options(cache: Path, state: Path) -> list[str]:
    """A private archive cache and an empty package status: apt then fetches every dependency,
    including those this machine already has, and touches nothing of the system's."""
    (cache / "partial").mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    opts = {
        "Dir::Cache::archives": str(cache),
        "Dir::State::status": str(state / "status"),
        "Dir::State::extended_states": str(state / "extended_states"),
        "Debug::NoLocking": "1",
        "APT::Install-Recommends": "0",
    }
    if os.geteuid() == 0:
        opts["APT::Sandbox::User"] = "root"
    return [f"-o{k}={v}" for k, v in opts.items()]


def apt_uris(packages: Iterable[str], *, work: Path) -> str:
    """apt's list of what installing ``packages`` on an empty system downloads (no download)."""
    packages = list(packages)
    args = [
        "apt-get",
        *_apt_options(work / "archives", work / "state"),
        "install",
        "-qq",
        "--print-uris",
        "-y",
        *packages,
    ]
    if shutil.which("apt-get") is None:
        raise OrbitError("apt-get is not available here", "bundle Debian packages on Debian")
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise InputError(
            f"apt cannot plan {' '.join(packages)}: {tail}",
            "check the names in apt.txt; run `apt-get update` if the lists are old",
        )
    return proc.stdout


def plan_apt(uris: str, *, needed_by: tuple[str, ...] = ()) -> list[Planned]:
    """Parse ``apt-get --print-uris`` (pure)."""
    out = []
    for line in uris.splitlines():
        m = _URI.match(line.strip())
        if not m or not m.group("file").endswith(".deb"):
            continue
        name, version, _ = ([*m.group("file")[:-4].split("_"), "", ""])[:3]
        algo, _, digest = (m.group("hash") or "").partition(":")
        out.append(
            Planned(
                "deb",
                name,
                version.replace("%3a", ":"),
                m.group("file"),
                size=int(m.group("size")),
                url=m.group("url"),
                sha256=digest.lower() if algo.upper() == "SHA256" else None,
                needed_by=needed_by,
            )
        )
    return out


def collect_apt(
    packages: Iterable[str],
    items: Iterable[Planned],
    dest: Path,
    *,
    work: Path,
    progress: Progress | None = None,
) -> list[Entry]:
    """Download the planned Debian packages with apt itself into ``dest`` (a private cache)."""
    progress = progress or NullProgress()
    items = list(items)
    progress.step("apt download", f"{len(items)} packages")
    args = [
        "apt-get",
        *_apt_options(dest, work / "state"),
        "install",
        "-q",
        "--download-only",
        "-y",
        *packages,
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        progress.log(line.rstrip())
    if proc.wait() != 0:
        raise OrbitError(f"apt could not download: {' '.join(lines[-3:])}", "check the network")
    shutil.rmtree(dest / "partial", ignore_errors=True)
    (dest / "lock").unlink(missing_ok=True)
    entries = []
    for item in items:
        deb = dest / item.filename
        if not deb.is_file():
            raise OrbitError(f"apt did not download {item.filename}", "run `apt-get update`")
        if item.sha256 and _sha256(deb) != item.sha256:
            raise OrbitError(f"{item.filename} does not match apt's sha256", "try again")
        meta = {"name": item.name, "version": item.version}
        entries.append(Entry(deb, "deb", needed_by=item.needed_by, meta=meta))
    return entries


# -- container images -------------------------------------------------------------------------


def image_filename(image: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", image)
    return f"{safe}.tar"


def collect_images(
    images: Iterable[str],
    dest: Path,
    *,
    progress: Progress | None = None,
    needed_by: tuple[str, ...] = (),
) -> list[Entry]:
    """``docker save`` each named image into its own file in ``dest``."""
    progress = progress or NullProgress()
    docker = shutil.which("docker")
    if docker is None:
        raise OrbitError("docker is not installed", "bundle images where the docker engine runs")
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for image in images:
        progress.step("docker save", image)
        out = dest / image_filename(image)
        tmp = out.with_name(f".{out.name}.part")
        proc = subprocess.run(
            [docker, "save", "-o", str(tmp), image], capture_output=True, text=True
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise OrbitError(
                f"docker save {image} failed: {proc.stderr.strip()[-300:]}",
                "build or pull the image first",
            )
        tmp.replace(out)
        entries.append(Entry(out, "image", needed_by=needed_by, meta={"name": image}))
    return entries


# -- the npm registry server itself -----------------------------------------------------------

VERDACCIO = "verdaccio"
VERDACCIO_VERSION = "6.8.0"  # the last release that runs on Node 20
# its dependencies are resolved as of a fixed date after its release (2026-07-15), so the
# server carried in a bundle is the same whenever the bundle is built
VERDACCIO_AS_OF = "2026-08-01"


def collect_verdaccio(
    dest: Path,
    *,
    version: str = VERDACCIO_VERSION,
    as_of: str | None = VERDACCIO_AS_OF,
    progress: Progress | None = None,
) -> Entry:
    """verdaccio and its dependencies as one prepared folder (a ``tool`` member), so the npm
    stand-in starts on a machine that has no network and no npm registry."""
    from jupyter_orbit.bundle.archive import pack_folder

    progress = progress or NullProgress()
    progress.step("preparing the npm registry server", f"{VERDACCIO} {version}")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orbit-verdaccio-") as tmp:
        folder = Path(tmp) / "prefix"
        folder.mkdir()
        (folder / "package.json").write_text(
            json.dumps({"name": "orbit-verdaccio", "private": True, "version": "0.0.0"})
        )
        args = [
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "--save-exact",
            f"{VERDACCIO}@{version}",
        ]
        if as_of:
            args.append(f"--before={as_of}")
        _npm(args, cwd=folder, on_line=progress.log)
        out = dest / f"{VERDACCIO}-{version}.tar"
        pack_folder(folder, out)
    return Entry(
        out, "tool", meta={"name": VERDACCIO, "version": version}, needed_by=("registry:npm",)
    )
