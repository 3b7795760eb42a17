"""``orbit add`` / ``orbit remove``: plan an edit of the native files, check it, then write.

Planning is pure apart from reading: it decides the ecosystem and the file (see
docs/bazaar.md), and computes the new bytes of every file it would change. Checking asks the
registries (does the name exist?) and resolves the new environment with uv (can it be
installed?). Only then are the files written, each atomically; if one write fails, the files
already written are put back, so the project is either as it was or completely changed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit import atomic
from jupyter_orbit.bazaar import get_ecosystem, kernel_ecosystems
from jupyter_orbit.bazaar.base import Ecosystem
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import ECOSYSTEMS, EnvSpec, Requirement, Resolution, dedupe
from jupyter_orbit.paths import Paths

# Where a bare `orbit add NAME` goes for each kernel; kernels missing here (R: conda or apt?)
# need --in, as do files that hold two ecosystems (environment.yml: conda or pip?).
DEFAULT_ECOSYSTEM = {
    "python": "pypi",
    "typescript": "npm",
    "javascript": "npm",
    "bash": "apt",
    "octave": "apt",
}
NEW_FILES = {
    "pypi": "requirements.txt",
    "npm": "package.json",
    "apt": "apt.txt",
    "conda": "environment.yml",
}
EMPTY = {"package.json": '{\n  "private": true\n}\n', "environment.yml": "dependencies:\n"}


@dataclass(frozen=True)
class FileChange:
    path: Path
    before: bytes | None  # None: the file is new
    after: bytes

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class Change:
    """A planned add or remove: which packages, which files, and the spec it leads to."""

    action: str  # "add" | "remove"
    target: Path
    notebook: Path | None
    ecosystem: str
    requirements: list[Requirement]
    names: list[str]
    files: list[FileChange]
    before: Resolution
    spec: EnvSpec  # the spec after the change (in memory; the files say the same once written)
    notes: list[str] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    locked: bool = False  # the notebook carries a lock, to be renewed after the change

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": str(self.target),
            "notebook": str(self.notebook) if self.notebook else None,
            "ecosystem": self.ecosystem,
            "packages": [r.text for r in self.requirements] or self.names,
            "names": self.names,
            "files": [str(f.path) for f in self.files if f.changed],
            "env_id": self.spec.env_id,
            "notes": self.notes,
        }


def _split_prefix(text: str) -> tuple[str | None, str]:
    """``npm:lodash`` → ("npm", "lodash"); ``lodash`` → (None, "lodash")."""
    head, sep, rest = text.partition(":")
    if sep and head in ECOSYSTEMS and rest:
        return head, rest
    return None, text


def _choose_ecosystem(
    specs: Sequence[str], ecosystem: str | None, file: Path | None, kernel: str, paths: Paths
) -> str:
    prefixed = {p for p, _ in map(_split_prefix, specs) if p}
    if len(prefixed) > 1 or (prefixed and ecosystem and prefixed != {ecosystem}):
        raise InputError(
            f"packages from several ecosystems in one command: {', '.join(sorted(prefixed))}",
            "add the packages of each ecosystem with a command of their own",
        )
    if prefixed:
        return prefixed.pop()
    if ecosystem:
        get_ecosystem(ecosystem, paths)  # an unknown name lists the valid ones
        return ecosystem
    if file is not None:
        owners = [n for n in ECOSYSTEMS if get_ecosystem(n, paths).owns(file)]
        if len(owners) == 1:
            return owners[0]
        if not owners:
            raise InputError(
                f"Orbit does not know which packages {file.name} holds",
                "name a requirements.txt, pyproject.toml, environment.yml, package.json or "
                "apt.txt, or say --in ECOSYSTEM",
                path=file,
            )
        raise InputError(
            f"{file.name} holds packages of several ecosystems ({', '.join(owners)})",
            f"say which with --in ({' or '.join(f'--in {o}' for o in owners)})",
            path=file,
        )
    from jupyter_orbit.bazaar import kernel_family

    default = DEFAULT_ECOSYSTEM.get(kernel_family(kernel))
    if default is None:
        usable = ", ".join(kernel_ecosystems(kernel))
        raise InputError(
            f"the {kernel} kernel can use packages from several ecosystems ({usable})",
            "say which with --in ECOSYSTEM, or write it as ECOSYSTEM:NAME",
        )
    return default


def _project_file(res: Resolution, eco: str, folder: Path) -> Path:
    """The file a project keeps its ``eco`` packages in (new if it has none)."""
    used = {s.path.name: s.path for s in res.sources if s.path and f"packages.{eco}" in s.provides}
    here = res.project_dir or folder
    if eco == "pypi":
        for name in ("pyproject.toml", "requirements.txt", "environment.yml", "environment.yaml"):
            if name in used:
                return used[name]
        if "Pipfile" in used:
            raise InputError(
                "this project's PyPI packages come from its Pipfile, which Orbit does not write",
                "use `pipenv install NAME`, or name another file with --file",
                path=used["Pipfile"],
            )
        for name in ("environment.yml", "environment.yaml"):
            if (here / name).is_file():
                return here / name
    if eco != "pypi":
        from jupyter_orbit.bazaar import ecosystem_class

        for name in ecosystem_class(eco).files:
            if (here / name).is_file():
                return here / name
    return here / NEW_FILES[eco]


def plan(
    paths: Paths,
    target: Path,
    specs: Sequence[str],
    *,
    action: str = "add",
    ecosystem: str | None = None,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Change:
    """Work out what ``orbit add``/``remove`` would change. Reads files, writes nothing."""
    from jupyter_orbit import asof
    from jupyter_orbit.engines.local import default_python
    from jupyter_orbit.manifests import resolve

    if not specs:
        raise InputError("no packages given", f"e.g. `orbit {action} numpy`")
    target = Path(target).expanduser().resolve()
    if not target.exists():
        raise InputError(f"{target}: no such file or folder", "check the path")
    is_notebook = target.is_file() and target.suffix == ".ipynb"
    if target.is_file() and not is_notebook and file is None:
        file, target = target, target.parent
    res = resolve(target, default_python=default_python(), recall=asof.recall_now(paths))
    eco_name = _choose_ecosystem(specs, ecosystem, file, res.spec.kernel, paths)
    eco = get_ecosystem(eco_name, paths, environ)
    texts = [_split_prefix(s)[1] for s in specs]
    if action == "add":
        reqs = [eco.normalise(t) for t in texts]
        names = [r.name for r in reqs]
        if len(set(names)) != len(names):
            raise InputError(f"a package is named twice: {', '.join(texts)}", "name each once")
    else:
        reqs, names = [], [eco.normalise(t).name for t in texts]
    add, gone = (reqs, []) if action == "add" else ([], names)

    notes: list[str] = []
    if file is None and is_notebook:
        changes, locked = [_notebook_change(res, target, eco_name, add, gone, notes)], False
        locked = bool(_orbit_meta(target).get("lock"))
    else:
        path = (file if file is not None else _project_file(res, eco_name, target)).resolve()
        if file is not None and not eco.owns(path):
            eco.edit(path, "", add=add, remove=gone)  # raises: names the files it can write
        changes, locked = [_file_change(eco, path, add, gone, action)], False
    new_spec = _spec_after(res.spec, eco_name, add, gone)
    return Change(
        action,
        target,
        res.notebook if is_notebook else None,
        eco_name,
        reqs,
        names,
        changes,
        res,
        new_spec,
        notes,
        locked=locked,
    )


def _orbit_meta(notebook: Path) -> dict[str, Any]:
    from jupyter_orbit.manifests.notebook import load_notebook

    meta = load_notebook(notebook).get("metadata") or {}
    orbit = meta.get("orbit") if isinstance(meta, dict) else None
    return orbit if isinstance(orbit, dict) else {}


def _file_change(
    eco: Ecosystem, path: Path, add: list[Requirement], gone: list[str], action: str
) -> FileChange:
    if path.exists():
        before = path.read_bytes()
        text = before.decode("utf-8")
    elif action == "add":
        before, text = None, EMPTY.get(path.name, "")
    else:
        raise InputError(f"{path.name} does not exist", "check the path", path=path)
    after = eco.edit(path, text, add=add, remove=gone)
    return FileChange(path, before, after.encode("utf-8"))


def _notebook_change(
    res: Resolution,
    notebook: Path,
    eco: str,
    add: list[Requirement],
    gone: list[str],
    notes: list[str],
) -> FileChange:
    from jupyter_orbit.manifests.notebook import load_notebook
    from jupyter_orbit.manifests.notebook_edit import JsonStyle, edit_packages

    before = notebook.read_bytes()
    nb = load_notebook(notebook)
    seed = []
    for r in res.spec.packages(eco):
        if r.origin is None or r.origin.rank >= 5:
            continue  # the kernel's own packages (ipykernel) stay the recipe's
        if r.text.startswith(("-e ", "/")):
            notes.append(f"{r.text} (a local path in {r.origin}) is not copied into the notebook")
            continue
        seed.append(r.text)
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    declared = isinstance(meta.get("orbit"), dict) and eco in (meta["orbit"].get("packages") or {})
    if not declared and seed:
        where = sorted(
            {
                str(r.origin.path.name)
                for r in res.spec.packages(eco)
                if r.origin and r.origin.path and r.origin.rank >= 2 and r.origin.rank < 5
            }
        )
        notes.append(
            f"the notebook now lists its own {eco} packages (copied from {', '.join(where)}), "
            "so it rebuilds from the notebook alone"
        )
    edit_packages(nb, notebook, eco, add=add, remove=gone, seed=seed)
    text = before.decode("utf-8-sig")
    after = JsonStyle.of(text, nb).dumps(nb)
    if before.startswith(b"\xef\xbb\xbf"):
        after = "\ufeff" + after
    return FileChange(notebook, before, after.encode("utf-8"))


def _spec_after(spec: EnvSpec, eco: str, add: list[Requirement], gone: list[str]) -> EnvSpec:
    keep = [r for r in spec.requirements if not (r.ecosystem == eco and r.name in set(gone))]
    replaced = {r.name for r in add}
    keep = [r for r in keep if not (r.ecosystem == eco and r.name in replaced)]
    return dataclasses.replace(spec, requirements=dedupe([*keep, *add]), lock=None)


def check(change: Change, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
    """Ask the registry about new names, then resolve the new spec; refuse what cannot work."""
    eco = get_ecosystem(change.ecosystem, paths, environ)
    if change.ecosystem == "conda" and change.action == "add":
        from jupyter_orbit.bazaar.conda import Conda

        assert isinstance(eco, Conda)
        if not eco.reachable():
            _check_as_pypi(change, paths, environ)
            return
    if change.ecosystem != "pypi":
        if change.action == "add":
            eco.check(change.requirements)
        return
    try:
        change.pins = resolve_pins(change.spec, paths, environ)
    except InputError:
        if change.action == "add":
            eco.check(change.requirements)  # a missing name: say so, with "did you mean"
        raise


def _check_as_pypi(change: Change, paths: Paths, environ: Mapping[str, str] | None) -> None:
    """No conda channel answers: check the PyPI packages environment.yml will be read as."""
    from jupyter_orbit.bazaar.pypi import CLI, PyPI
    from jupyter_orbit.manifests.base import pypi_requirement
    from jupyter_orbit.manifests.conda_env import RENAMES, _skipped, parse_match_spec

    mapped = []
    for r in change.requirements:
        name, terms = parse_match_spec(r.text, CLI)
        if _skipped(name):
            change.notes.append(f"{name} has no PyPI equivalent; it is not checked")
            continue
        mapped.append(pypi_requirement(RENAMES.get(name.lower(), name) + ",".join(terms), CLI))
    change.notes.append(
        "no conda channel answered; conda packages are checked (and installed) as their PyPI "
        "equivalents: " + (", ".join(m.text for m in mapped) or "none")
    )
    if mapped:
        spec = dataclasses.replace(
            change.spec, requirements=dedupe([*change.spec.requirements, *mapped])
        )
        try:
            change.pins = resolve_pins(spec, paths, environ)
        except InputError:
            PyPI(paths, environ).check(mapped)
            raise


def resolve_pins(
    spec: EnvSpec,
    paths: Paths,
    environ: Mapping[str, str] | None = None,
    *,
    constraints: Sequence[str] = (),
) -> list[str]:
    """The versions uv would install for ``spec`` (as ``name==version`` lines)."""
    from jupyter_orbit.bazaar.pypi import PyPI
    from jupyter_orbit.engines.local import _split_options, default_python
    from jupyter_orbit.uvcli import find_python

    eco = PyPI(paths, environ)
    work = paths.cache_dir / "bazaar" / "resolve"
    work.mkdir(parents=True, exist_ok=True)
    python = find_python(spec.python or default_python(), cwd=work)
    flags, lines = _split_options(spec.index_options)
    try:
        out = eco.compile(
            lines + [r.text for r in spec.packages("pypi")],
            python=str(python),
            cwd=work,
            constraints=[*[c.text for c in spec.constraints], *constraints],
            flags=flags,
            extra=eco.date_args(spec, str(python), flags, lines),
            prefer_cache=True,
        )
    except BuildError as e:
        raise InputError(f"cannot install: {e.message}", e.hint) from None
    return [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.startswith(("#", " "))]


def apply(change: Change) -> list[Path]:
    """Write every changed file atomically; on failure put back those already written."""
    done: list[FileChange] = []
    try:
        for f in change.files:
            if f.changed:
                atomic.write_bytes(f.path, f.after)
                done.append(f)
    except BaseException:
        for f in reversed(done):
            if f.before is None:
                f.path.unlink(missing_ok=True)
            else:
                atomic.write_bytes(f.path, f.before)
        raise
    return [f.path for f in done]


def report(change: Change) -> str:
    return json.dumps(change.to_dict())


def run(
    paths: Paths,
    target: Path,
    specs: Sequence[str],
    *,
    action: str = "add",
    ecosystem: str | None = None,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> Change:
    """Plan, check and (unless ``dry_run``) write; a locked notebook gets its lock renewed."""
    from jupyter_orbit.bazaar import lockfile
    from jupyter_orbit.bazaar.lock import lock_notebook
    from jupyter_orbit.errors import OrbitError

    change = plan(
        paths, target, specs, action=action, ecosystem=ecosystem, file=file, environ=environ
    )
    check(change, paths, environ)
    for f in change.files:
        if f.path.name == "package.json" and (f.path.parent / "package-lock.json").exists():
            change.notes.append(
                f"{f.path.parent / 'package-lock.json'} is not updated by Orbit (npm would read "
                "the project's .npmrc): run `npm install` there once you trust the project"
            )
    if dry_run:
        return change
    apply(change)
    if change.locked and change.notebook is not None:
        old = change.before.spec.lock
        keep = lockfile.pins(old.text) if old and old.format == "requirements" else []
        try:
            lock_notebook(paths, change.notebook, environ=environ, keep=keep)
        except OrbitError as e:
            change.notes.append(
                f"the notebook's lock could not be renewed ({e.message}); it is stale now: "
                f"run `orbit lock {change.notebook}`"
            )
        else:
            change.notes.append("renewed the notebook's lock")
    return change


def diff(change: Change) -> str:
    """A unified diff of every file the change writes (what ``--dry-run`` prints)."""
    import difflib

    out = []
    for f in change.files:
        if not f.changed:
            continue
        a = (f.before or b"").decode("utf-8").splitlines(keepends=True)
        b = f.after.decode("utf-8").splitlines(keepends=True)
        name = str(f.path)
        out += difflib.unified_diff(a, b, "/dev/null" if f.before is None else name, name)
    return "".join(out)
