"""``orbit bundle TARGET… -o FILE``: one archive with everything the targets need offline.

Each target — a notebook, a project folder (each of its notebooks, or the folder itself when it
has none), ``profile:NAME``, or the recent projects — goes through the one pipeline
(``prepare``, up to its plan) exactly as ``orbit run`` would take it, so the bundle holds the
versions a build here would install:

- PyPI: the engine's pins (``Engine.pins``: the built environment's lock, or what resolving its
  spec gives), the wheel for this platform of each (an sdist is built into a wheel here), the
  packages ``uv venv --seed`` adds (pip, so ``%pip install`` works in the kernel), and
  pypiserver (the PyPI stand-in runs from the bundle's own wheels where Orbit lacks it);
- Orbit's own wheel (built from its source, or fetched from the index) and the profile's server
  environment (JupyterLab, Orbit, the extensions), pinned as the profile would build it; for an
  Orbit installed from a source folder, also its build backend;
- npm packages with their dependencies (and the npm stand-in itself, verdaccio), the Debian
  packages of ``apt.txt`` with their dependencies, the kernel images of notebooks the docker
  engine runs (``docker save``), and the data sets the notebooks declare.

The plan is computed first (``plan_bundle``: names, versions, sizes; what ``--dry-run`` prints),
then collected and written (``write``). The file is reproducible: the same inputs give the same
bytes (``bundle.archive``).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_orbit.bundle import archive, collect
from jupyter_orbit.bundle.archive import Entry, human_size
from jupyter_orbit.data.spec import DataSet
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Choices, Prepared, prepare
from jupyter_orbit.progress import NullProgress, Progress

SEED = ("pip", "setuptools", "wheel")  # what `uv venv --seed` installs (3.12+: pip only)
STAND_IN = ("pypiserver",)  # the PyPI stand-in, run from the bundle itself where Orbit lacks it
PROFILE_PREFIX = "profile:"
RECENT = "recent-projects.json"  # kept by the server (server/runtime.py) in the profile folder


@dataclass
class Part:
    """What one target needs, per ecosystem."""

    label: str  # "notebook:analysis.ipynb", "profile:default (server)"
    python: str  # "3.11": the interpreter the wheels are for
    pins: list[str] = field(default_factory=list)  # name==version
    npm: list[str] = field(default_factory=list)
    apt: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    data: list[DataSet] = field(default_factory=list)
    as_of: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class BundlePlan:
    parts: list[Part]
    files: collect.Plan  # wheels, npm tarballs, Debian packages
    npm_specs: list[str]
    apt_packages: list[str]
    images: list[str]
    data: list[DataSet]
    orbit_source: Path | None  # Orbit's own wheel is built from here (else: from the index)
    notes: list[str]
    platform: tuple[str, ...] = ()  # what the binaries are for

    def lines(self) -> list[str]:
        out = [f"target {p.label}: Python {p.python}, {len(p.pins)} PyPI pins" for p in self.parts]
        if self.orbit_source is not None:
            out.append(f"wheel  jupyter-orbit  built from {self.orbit_source}")
        out += self.files.lines()[:-1]
        out += [f"image  {i}  (docker save)" for i in self.images]
        out += [f"data   {d.name}  sha256 {d.sha256[:12]}…" for d in self.data]
        if self.npm_specs:
            out.append(f"tool   {collect.VERDACCIO} {collect.VERDACCIO_VERSION} (the npm stand-in)")
        out.append(self.files.lines()[-1] + " (before images, data and built wheels)")
        out += [f"note: {n}" for n in self.notes]
        return out


# -- targets ----------------------------------------------------------------------------------


def expand(targets: Sequence[str], paths: Paths, profile: str, *, recent: bool) -> list[str]:
    """The targets as given, with each folder's notebooks and, with ``recent``, the profile's
    recent projects (as its server recorded them)."""
    out: list[str] = []
    given = list(targets)
    if recent:
        try:
            data = json.loads((paths.profile(profile).root / RECENT).read_text())
        except (OSError, ValueError):
            data = []
        given += [str(d["notebook"]) for d in data if isinstance(d, dict) and d.get("notebook")]
        if not given:
            raise InputError(
                f"profile {profile!r} has no recent projects", "name notebooks or folders"
            )
    for t in given:
        if t.startswith(PROFILE_PREFIX):
            out.append(t)
            continue
        p = Path(t).expanduser().resolve()
        if not p.exists():
            raise InputError(f"{t}: no such notebook or folder", "give an existing path")
        if p.is_dir():
            notebooks = sorted(
                n
                for n in p.rglob("*.ipynb")
                if not any(part.startswith(".") for part in n.relative_to(p).parts)
            )
            out += [str(n) for n in notebooks] or [str(p)]
        else:
            out.append(str(p))
    return list(dict.fromkeys(out))


def _python_of(interpreter: str) -> str:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    return subprocess.run(
        [interpreter, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def target_part(target: Path, choices: Choices, paths: Paths) -> Part:
    """What one notebook or folder needs, through the pipeline up to its plan."""
    from jupyter_orbit.data.spec import read_notebook

    prepared = prepare(target, choices, paths, until="plan")
    res, plan = prepared.resolution, prepared.plan
    assert plan is not None
    choices.consent.check(paths, res, doing="bundling (sdists are built here)")
    label = f"{res.notebook or res.target} ({res.spec.env_id[:12]})"
    part = Part(label, "", as_of=res.spec.as_of)
    part.apt = [r.name for r in res.spec.packages("apt")]
    part.npm = [r.text for r in res.spec.packages("npm")]
    if res.spec.packages("conda"):
        part.notes.append(f"{label}: conda packages are not bundled (no conda collector yet)")
    if res.notebook is not None:
        part.data = read_notebook(res.notebook)
    if _runs_in_images(prepared):
        part.images = _images(prepared)
        part.python = "3"
        return part
    part.python = _python_of(str(plan.interpreter))
    part.pins = [*prepared.engine.pins(plan)]
    return part


def _runs_in_images(prepared: Prepared) -> bool:
    return prepared.engine.name == "docker"


def _images(prepared: Prepared) -> list[str]:
    """The kernel image of a docker-engine target (built first if it is not: the user asked
    for it, with the consent a run needs)."""
    from jupyter_orbit.engines.docker import image_tag

    if prepared.plan is not None and not prepared.plan.built:
        raise InputError(
            f"{prepared.resolution.target}: its kernel image is not built yet",
            f"build it first (`orbit run {prepared.resolution.target} --engine docker`), then "
            "bundle it",
        )
    return [image_tag(prepared.env_id)]


def profile_part(paths: Paths, profile: str) -> Part:
    """The profile's server environment (JupyterLab, Orbit, its extensions), pinned."""
    from jupyter_orbit import settings as st
    from jupyter_orbit.profiles import server_env

    prof = paths.profile(profile)
    settings = (
        st.read(prof.settings_file) if prof.settings_file.is_file() else st.default_settings()
    )
    engine = server_env.ServerEngine(paths)
    plan = engine.plan(server_env.server_spec(settings))
    part = Part(f"profile:{profile} (server environment)", _python_of(str(plan.interpreter)))
    part.pins = [p for p in engine.pins(plan) if not _is_orbit(p)]
    return part


WINDOWS = "x86_64-pc-windows-msvc"  # uv's name for 64-bit Windows


def portable_parts(
    paths: Paths, profile: str, choices: Choices, python_platform: str | None = None
) -> list[Part]:
    """For an installer: the profile's server environment and a new notebook's Python kernel,
    resolved for the oldest patch release of this Python (``3.11.0``), since the machine that
    runs the installer has a Python of its own (Debian 12's is 3.11.2). Orbit's dependencies
    are taken from its own metadata, not from the versions this machine happens to have."""
    from importlib import metadata

    from packaging.requirements import Requirement as Req

    from jupyter_orbit import settings as st

    prof = paths.profile(profile)
    settings = (
        st.read(prof.settings_file) if prof.settings_file.is_file() else st.default_settings()
    )
    python = settings.server.python.split(".")
    oldest = ".".join([*python[:2], "0"])
    # Orbit's own requirements but its extras' (uv evaluates the other markers for the platform)
    own = [r for r in metadata.requires("jupyter-orbit") or [] if "extra" not in str(Req(r).marker)]
    server = [f"jupyterlab=={settings.server.jupyterlab}", *own]
    server += list(settings.server.extension_names().values())
    with tempfile.TemporaryDirectory(prefix="orbit-installer-") as tmp:
        new = prepare(
            Path(tmp), dataclasses.replace(choices, kernel="python"), paths, until="resolve"
        )
        kernel = [r.text for r in new.resolution.spec.packages("pypi")]
        parts = []
        for label, lines in (
            (f"profile:{profile} (server environment)", server),
            (f"profile:{profile} (a new notebook's Python kernel)", kernel),
        ):
            part = Part(label, ".".join(python[:2]))
            pins = _resolve(lines, oldest, None, Path(tmp), python_platform)
            part.pins = [p for p in pins if not _is_orbit(p)]
            parts.append(part)
    return parts


def _is_orbit(pin: str) -> bool:
    from packaging.utils import canonicalize_name

    name = pin.split("==")[0].split(" @ ")[0].split("[")[0].strip()
    return canonicalize_name(name) == "jupyter-orbit"


def orbit_source() -> Path | None:
    """The source folder the running Orbit was installed from (None: from an index)."""
    from importlib import metadata
    from urllib.parse import unquote, urlsplit

    try:
        raw = metadata.distribution("jupyter-orbit").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    url = (json.loads(raw) if raw else {}).get("url", "")
    if not url.startswith("file:"):
        return None
    path = Path(unquote(urlsplit(url).path))
    return path if (path / "pyproject.toml").is_file() else None


def _build_backend(source: Path) -> list[str]:
    """What building Orbit from ``source`` needs (an editable install: its backend's
    editable hook too; hatchling's is ``editables``)."""
    import tomllib

    data = tomllib.loads((source / "pyproject.toml").read_text())
    requires = list(data.get("build-system", {}).get("requires", []))
    if any(r.strip().startswith("hatchling") for r in requires):
        requires.append("editables")
    return requires


def _resolve(
    lines: Sequence[str],
    python: str,
    as_of: str | None,
    cwd: Path,
    python_platform: str | None = None,
) -> list[str]:
    from jupyter_orbit.ecosystems.pypi import pin_lines

    text = collect.resolve_pins(
        lines, python=python, as_of=as_of, cwd=cwd, python_platform=python_platform
    )
    return pin_lines(text)


# -- planning ---------------------------------------------------------------------------------


def plan_bundle(
    targets: Sequence[str],
    *,
    paths: Paths,
    profile: str,
    choices: Choices,
    server: bool = True,
    portable: bool = False,
    windows: bool = False,
    progress: Progress | None = None,
) -> BundlePlan:
    """What the bundle of ``targets`` holds (a few index requests; nothing downloaded);
    ``portable``: the profile's parts for any patch release of its Python (an installer)."""
    from jupyter_orbit import __version__

    progress = progress or NullProgress()
    parts: list[Part] = []
    profiles = [t.removeprefix(PROFILE_PREFIX) for t in targets if t.startswith(PROFILE_PREFIX)]
    platform = WINDOWS if windows else None
    if windows and targets:
        raise InputError(
            "an installer for Windows carries Orbit and the profile only",
            "leave the targets out (their environments are resolved for this machine)",
        )
    if portable or windows:
        progress.step("resolving", f"profile {profile}'s server and a new notebook's kernel")
        parts += portable_parts(paths, profile, choices, platform)
        profiles = [p for p in profiles if p != profile]
    elif server and profile not in profiles:
        profiles.insert(0, profile)
    for name in profiles:
        progress.step("resolving", f"the server environment of profile {name}")
        parts.append(profile_part(paths, name))
    for t in targets:
        if not t.startswith(PROFILE_PREFIX):
            progress.step("resolving", t)
            parts.append(target_part(Path(t), choices, paths))
    notes = [n for p in parts for n in p.notes]
    dates = sorted(p.as_of for p in parts if p.as_of)
    seed_date = dates[-1] if dates else None
    source = orbit_source() if server or portable or windows else None  # with its server
    target_of = {}
    items: list[collect.Planned] = []
    with tempfile.TemporaryDirectory(prefix="orbit-bundle-plan-") as tmp:
        work = Path(tmp)
        for python in sorted({p.python for p in parts if p.pins}):
            extra = [*SEED, *STAND_IN]
            if source is not None:
                extra += _build_backend(source)
            progress.step("resolving", f"pip and the build backend for Python {python}")
            pins_here = _resolve(extra, python, seed_date, work, platform)
            if source is None and server:
                pins_here += [f"jupyter-orbit=={__version__}"]
            wanted = [*pins_here, *(x for p in parts if p.python == python for x in p.pins)]
            here = collect.Target.windows(python) if windows else collect.Target.current(python)
            target = target_of.setdefault(python, here)
            pins = _unique(collect.parse_pins("\n".join(wanted), environment=target.environment))
            progress.step("looking up", f"{len(pins)} PyPI files for Python {python}")
            pages = collect.pypi_pages(p.name for p in pins)
            labels = tuple(p.label for p in parts if p.python == python)
            items += collect.plan_pypi(pins, pages, target, needed_by=labels)
        npm_specs = sorted({s for p in parts for s in p.npm})
        if npm_specs:
            progress.step("resolving", f"{len(npm_specs)} npm packages")
            lock = collect.npm_lock(npm_specs, as_of=seed_date, progress=progress)
            items += collect.plan_npm(lock, needed_by=("npm",))
        apt_packages = sorted({a for p in parts for a in p.apt})
        if apt_packages:
            progress.step("resolving", f"{len(apt_packages)} Debian packages")
            uris = collect.apt_uris(apt_packages, work=work / "apt")
            items += collect.plan_apt(uris, needed_by=("apt",))
    data = {d.sha256: d for p in parts for d in p.data}
    return BundlePlan(
        parts,
        collect.Plan(tuple(_dedupe(items))),
        npm_specs,
        apt_packages,
        sorted({i for p in parts for i in p.images}),
        sorted(data.values(), key=lambda d: d.name),
        source,
        notes,
        next(iter(target_of.values())).label if target_of else collect.Target.current().label,
    )


def _unique(pins: Iterable[collect.Pin]) -> list[collect.Pin]:
    out: dict[tuple[str, str], collect.Pin] = {}
    for p in pins:
        out.setdefault((p.name, p.version), p)
    return sorted(out.values(), key=lambda p: (p.name, p.version))


def _dedupe(items: Iterable[collect.Planned]) -> list[collect.Planned]:
    out: dict[tuple[str, str], collect.Planned] = {}
    for i in items:
        key = (i.kind, i.filename)
        if key in out:
            old = out[key]
            merged = tuple(dict.fromkeys([*old.needed_by, *i.needed_by]))
            i = dataclasses.replace(old, needed_by=merged)
        out[key] = i
    return list(out.values())


# -- collecting and writing -------------------------------------------------------------------


def write(
    plan: BundlePlan,
    out: Path,
    *,
    paths: Paths,
    name: str = "",
    progress: Progress | None = None,
) -> archive.Manifest:
    """Fetch everything ``plan`` names (each file checked against its published hash) and
    write the bundle file ``out`` (atomically, reproducibly)."""
    from jupyter_orbit.data.store import DataStore

    progress = progress or NullProgress()
    with tempfile.TemporaryDirectory(prefix="orbit-bundle-") as tmp:
        work = Path(tmp)
        by_kind: dict[str, list[collect.Planned]] = {}
        for item in plan.files.items:
            by_kind.setdefault(item.kind, []).append(item)
        entries: list[Entry] = []
        if wheels := by_kind.get("wheel"):
            entries += collect.collect_pypi(wheels, work / "wheels", progress=progress)
        if plan.orbit_source is not None:
            entries.append(orbit_wheel(plan.orbit_source, work / "own", progress))
        if npm := by_kind.get("npm"):
            entries += collect.collect_npm(npm, work / "npm", progress=progress)
            entries.append(collect.collect_verdaccio(work / "tools", progress=progress))
        if debs := by_kind.get("deb"):
            entries += collect.collect_apt(
                plan.apt_packages, debs, work / "debs", work=work / "apt", progress=progress
            )
        if plan.images:
            entries += collect.collect_images(plan.images, work / "images", progress=progress)
        store = DataStore(paths.datasets_dir)
        for d in plan.data:
            file = store.fetch(d, progress=progress)
            meta = {"name": d.name, "sha256": d.sha256} | ({"unpack": d.unpack} if d.unpack else {})
            entries.append(Entry(file, "dataset", name=d.sha256, meta=meta))
        labels = sorted({p.label.split(" (")[0] for p in plan.parts})
        platform = plan.platform
        try:
            return archive.write_bundle(
                out,
                entries,
                name=name or ", ".join(labels)[:200],
                platform=platform,
                progress=progress,
            )
        except OSError as e:
            raise OrbitError(f"cannot write {out}: {e.strerror or e}", "check the folder") from None


def orbit_wheel(source: Path, dest: Path, progress: Progress) -> Entry:
    """Orbit's own wheel, built from ``source`` reproducibly (``SOURCE_DATE_EPOCH``)."""
    from jupyter_orbit.uvcli import run_uv

    dest.mkdir(parents=True, exist_ok=True)
    progress.step("building", f"Orbit's own wheel from {source}")
    run_uv(
        ["build", "--wheel", str(source), "--out-dir", str(dest)],
        cwd=dest,
        on_line=progress.log,
        env={"SOURCE_DATE_EPOCH": collect.SOURCE_DATE_EPOCH},
    )
    built = sorted(dest.glob("jupyter_orbit-*.whl"))
    if len(built) != 1:
        raise OrbitError(f"building Orbit's wheel from {source} gave {len(built)} wheels", None)
    return Entry(built[0], "wheel", needed_by=("orbit",), meta={"name": "jupyter-orbit"})


def summary(manifest: archive.Manifest, out: Path) -> str:
    kinds: dict[str, int] = {}
    for m in manifest.members:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    size = out.stat().st_size
    return f"wrote {out} ({human_size(size)}; {what}); sha256 of its manifest {manifest.digest}"
