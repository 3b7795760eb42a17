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

from jupyter_orbit import atomic, untrusted
from jupyter_orbit.ecosystems import ecosystem_class, ecosystem_names, get_ecosystem
from jupyter_orbit.ecosystems.base import Ecosystem
from jupyter_orbit.errors import InputError
from jupyter_orbit.indexes import IndexPolicy
from jupyter_orbit.indexes import check as check_indexes
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.manifests.base import Manifest
from jupyter_orbit.model import EnvSpec, Level, Requirement, Resolution, dedupe
from jupyter_orbit.paths import Paths


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
    if sep and rest and head in ecosystem_names():
        return head, rest
    return None, text


def _format_of(path: Path) -> Manifest:
    """The format of a file ``orbit add --file`` names; refused when Orbit knows none."""
    from jupyter_orbit.manifests.formats import manifest_for

    found = manifest_for(path)
    if found is None or not found.ecosystems:
        raise InputError(
            f"Orbit does not know which packages {path.name} holds",
            "name a requirements.txt, pyproject.toml, environment.yml, package.json or "
            "apt.txt, or say --in ECOSYSTEM",
            path=path,
        )
    return found


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
        ecosystem_class(ecosystem)  # an unknown name lists the valid ones
        return ecosystem
    if file is not None:
        owners = _format_of(file).ecosystems
        if len(owners) == 1:
            return owners[0]
        raise InputError(
            f"{file.name} holds packages of several ecosystems ({', '.join(owners)})",
            f"say which with --in ({' or '.join(f'--in {o}' for o in owners)})",
            path=file,
        )
    recipe = get_recipe(kernel)
    default = recipe.default_ecosystem()
    if default is None:
        usable = ", ".join(recipe.package_ecosystems())
        raise InputError(
            f"the {kernel} kernel can use packages from several ecosystems ({usable})",
            "say which with --in ECOSYSTEM, or write it as ECOSYSTEM:NAME",
        )
    return default


def _project_file(res: Resolution, eco: str, folder: Path) -> Path:
    """The file a project keeps its ``eco`` packages in (new if it has none): a file that
    gives the project its ``eco`` packages; else one of its files that can hold them
    (environment.yml's pip list); else a file of the ecosystem's that Orbit writes but does not
    read (package.json); else the ecosystem's new file."""
    from jupyter_orbit.manifests.formats import manifest_for

    cls = ecosystem_class(eco)
    project = [s for s in res.sources if s.path and s.level is Level.PROJECT]
    giving = [s.path for s in project if f"packages.{eco}" in s.provides and s.path]
    giving.sort(key=lambda p: cls.files.index(p.name) if p.name in cls.files else len(cls.files))
    if giving:
        return giving[0]  # its format refuses when it cannot be written (a Pipfile)
    for s in project:
        if s.path and (m := manifest_for(s.path)) and m.holds(eco):
            return s.path
    here = res.project_dir or folder
    for name in cls.files:
        m = manifest_for(name)
        if (here / name).is_file() and m is not None and not m.project_source:
            return here / name
    if cls.new_file is None:
        raise InputError(
            f"{cls.display_name or eco} packages have no file of their own",
            "name one with --file, or add them to the notebook with --to NOTEBOOK",
        )
    return here / cls.new_file


def plan(
    paths: Paths,
    target: Path,
    specs: Sequence[str],
    *,
    action: str = "add",
    ecosystem: str | None = None,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    to_notebook: bool = False,
) -> Change:
    """Work out what ``orbit add``/``remove`` would change. Reads files, writes nothing.

    A notebook that reads its packages of the ecosystem from project files gets the change
    in those files (``to_notebook``: in the notebook itself, which then stops reading them)."""
    from jupyter_orbit.prepare import Choices, prepare

    if not specs:
        raise InputError("no packages given", f"e.g. `orbit {action} numpy`")
    target = Path(target).expanduser().resolve()
    if not target.exists():
        raise InputError(f"{target}: no such file or folder", "check the path")
    is_notebook = target.is_file() and target.suffix == ".ipynb"
    if target.is_file() and not is_notebook and file is None:
        file, target = target, target.parent
    res = prepare(target, Choices(), paths, until="resolve").resolution
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
    reads = _project_sources(res, eco_name) if is_notebook and file is None else []
    if is_notebook and file is None and eco.runs_beside:
        reads = _beside_sources(res, paths, eco)
    if file is None and is_notebook and (to_notebook or not reads):
        changes = [_notebook_change(res, target, eco_name, add, gone, notes, eco)]
    elif file is None and is_notebook:
        changes = [_project_change(res, target, eco, add, gone, action, reads, notes)]
    else:
        path = (file if file is not None else _project_file(res, eco_name, target)).resolve()
        if file is not None and not _format_of(path).holds(eco_name):
            raise _format_of(path).refuse(path, eco_name)
        changes = [_file_change(eco, path, add, gone, action)]
    # Services are no packages: a notebook's lock does not change with them.
    locked = is_notebook and not eco.runs_beside and bool(_orbit_meta(target).get("lock"))
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


def _project_sources(res: Resolution, eco: str) -> list[Path]:
    """The project files a notebook reads its ``eco`` packages from (none: it declares its
    own, or has none)."""
    return [
        s.path
        for s in res.sources
        if s.path and s.level is Level.PROJECT and f"packages.{eco}" in s.provides
    ]


def _beside_sources(res: Resolution, paths: Paths, eco: Ecosystem) -> list[Path]:
    """The project file a notebook reads the services it runs beside from (none: it carries
    its own, or has none)."""
    from jupyter_orbit.beside import find

    return [
        g.source for g in find(res, paths) if g.ecosystem == eco.name and g.source != res.notebook
    ]


def _project_change(
    res: Resolution,
    notebook: Path,
    eco: Ecosystem,
    add: list[Requirement],
    gone: list[str],
    action: str,
    reads: list[Path],
    notes: list[str],
) -> FileChange:
    """The change in the project file ``notebook`` reads its packages from: writing them into
    the notebook would silently make that file ignored for it."""
    if eco.runs_beside:  # the one file its services come from
        path = reads[0].resolve()
    else:
        path = _project_file(res, eco.name, notebook.parent).resolve()
    names = ", ".join(p.name for p in reads)
    try:
        change = _file_change(eco, path, add, gone, action)
    except InputError as err:
        raise InputError(
            f"{notebook.name} reads its {eco.name} packages from {names}, which Orbit cannot "
            f"change: {err.message}",
            f"edit {names} yourself, or give the notebook packages of its own with "
            "--to-notebook (it then no longer reads them from there)",
            path=err.path,
            line=err.line,
        ) from None
    notes.append(
        f"{notebook.name} reads its {eco.name} packages from {names}, so they are changed "
        "there (for this notebook alone, use --to-notebook)"
    )
    return change


def _orbit_meta(notebook: Path) -> dict[str, Any]:
    from jupyter_orbit.manifests.notebook import load_notebook

    meta = load_notebook(notebook).get("metadata") or {}
    orbit = meta.get("orbit") if isinstance(meta, dict) else None
    return orbit if isinstance(orbit, dict) else {}


def _file_change(
    eco: Ecosystem, path: Path, add: list[Requirement], gone: list[str], action: str
) -> FileChange:
    manifest = _format_of(path)
    if path.exists() or path.is_symlink():
        # a regular file of a sane size (no FIFO, no /dev/zero behind a symlink)
        before = untrusted.read_bytes(path, limit=untrusted.MAX_MANIFEST_BYTES)
        try:
            text = before.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{path.name} is not UTF-8 text", "save it as UTF-8", path=path
            ) from None
    elif action == "add":
        before, text = None, manifest.new_text
    else:
        raise InputError(f"{path.name} does not exist", "check the path", path=path)
    after = manifest.edit(path, text, eco.name, add=add, remove=gone)
    return FileChange(path, before, after.encode("utf-8"))


def _notebook_change(
    res: Resolution,
    notebook: Path,
    eco: str,
    add: list[Requirement],
    gone: list[str],
    notes: list[str],
    ecosystem: Ecosystem,
) -> FileChange:
    from jupyter_orbit.manifests.notebook import load_notebook
    from jupyter_orbit.manifests.notebook_edit import edit_packages, orbit_metadata

    before = untrusted.read_bytes(notebook, limit=untrusted.MAX_NOTEBOOK_BYTES)
    nb = load_notebook(notebook)
    own = orbit_metadata(nb)  # an ecosystem that keeps its entries under a key of its own
    if ecosystem.edit_notebook(own, notebook, add=add, remove=gone, root=res.project_root):
        return _notebook_text(notebook, before, nb)
    seed = []
    for r in res.spec.packages(eco):
        if r.origin is None or not r.declared:
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
                if r.origin and r.origin.path and r.origin.level in (Level.PEP723, Level.PROJECT)
            }
        )
        notes.append(
            f"the notebook now lists its own {eco} packages (copied from {', '.join(where)}) "
            "and no longer reads them from there; it rebuilds from the notebook alone"
        )
    edit_packages(nb, notebook, eco, add=add, remove=gone, seed=seed)
    return _notebook_text(notebook, before, nb)


def _notebook_text(notebook: Path, before: bytes, nb: dict[str, Any]) -> FileChange:
    from jupyter_orbit.manifests.notebook_edit import JsonStyle

    text = before.decode("utf-8-sig")
    after = JsonStyle.of(text, json.loads(text)).dumps(nb)  # the style the file had
    if before.startswith(b"\xef\xbb\xbf"):
        after = "\ufeff" + after
    return FileChange(notebook, before, after.encode("utf-8"))


def _spec_after(spec: EnvSpec, eco: str, add: list[Requirement], gone: list[str]) -> EnvSpec:
    keep = [r for r in spec.requirements if not (r.ecosystem == eco and r.name in set(gone))]
    replaced = {r.name for r in add}
    keep = [r for r in keep if not (r.ecosystem == eco and r.name in replaced)]
    return dataclasses.replace(spec, requirements=dedupe([*keep, *add]), lock=None)


def check(change: Change, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
    """Ask the ecosystem whether the new spec can be installed; refuse what cannot work."""
    eco = get_ecosystem(change.ecosystem, paths, environ)
    pins, notes = eco.check_spec(change.spec, change.requirements if change.action == "add" else [])
    change.pins = pins
    change.notes += notes


def apply(change: Change) -> list[Path]:
    """Write every changed file atomically, each only if it still holds the bytes the change
    was computed from (``locking.FileChanged`` otherwise); on failure put back those already
    written."""
    from jupyter_orbit import locking

    done: list[FileChange] = []
    with locking.locked(*(f.path for f in change.files)):
        try:
            for f in change.files:
                if f.changed:
                    locking.replace(f.path, f.before, f.after)
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
    to_notebook: bool = False,
    volumes: bool = False,
    indexes: IndexPolicy | None = None,
) -> Change:
    """Plan, check and (unless ``dry_run``) write; a locked notebook gets its lock renewed.
    Removing services beside the kernels also removes their containers (and, with
    ``volumes``, the data volumes only they used).

    The files are locked from the read the change is computed from to its write
    (``locking``): concurrent commands take turns, and a file another program saved meanwhile
    is refused, not overwritten.
    """
    from jupyter_orbit import locking

    def planned() -> Change:
        return plan(
            paths,
            target,
            specs,
            action=action,
            ecosystem=ecosystem,
            file=file,
            environ=environ,
            to_notebook=to_notebook,
        )

    change = planned()
    for _ in range(3):
        held = [f.path for f in change.files]
        with locking.locked(*held):
            # Re-read under the locks: what another Orbit command wrote before we got them
            # is edited, not overwritten.
            if any(locking.read(f.path) != f.before for f in change.files):
                change = planned()
                if not {f.path for f in change.files} <= set(held):
                    continue  # it now edits another file: lock that one first
            # uv resolves with the project's index options: only those the user configured
            check_indexes(change.before, indexes, paths, environ)
            return _check_and_apply(change, paths, environ, dry_run, volumes=volumes)
    raise locking.Busy(
        f"the files {action} would edit kept changing: {', '.join(map(str, held))}",
        "run the command again once other programs are done with them",
    )


def _check_and_apply(
    change: Change,
    paths: Paths,
    environ: Mapping[str, str] | None,
    dry_run: bool,
    *,
    volumes: bool = False,
) -> Change:
    from jupyter_orbit.bazaar.lock import lock_notebook
    from jupyter_orbit.ecosystems import lockfile
    from jupyter_orbit.errors import OrbitError

    check(change, paths, environ)
    for f in change.files:
        if f.path.name == "package.json" and (f.path.parent / "package-lock.json").exists():
            change.notes.append(
                f"{f.path.parent / 'package-lock.json'} is not updated by Orbit (npm would read "
                "the project's .npmrc): run `npm install` there once you trust the project"
            )
    if dry_run:
        return change
    action = change.action
    beside = []
    if action == "remove" and ecosystem_class(change.ecosystem).runs_beside:
        from jupyter_orbit.beside import find

        beside = find(change.before, paths)
    apply(change)
    if action == "add" and ecosystem_class(change.ecosystem).runs_beside:
        change.notes.append("kernels already running get the new services when restarted")
    if beside:
        _forget(paths, change, beside, volumes=volumes)
    elif volumes:
        change.notes.append("--volumes only concerns services (--in compose): nothing deleted")
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


def _forget(paths: Paths, change: Change, beside: list[Any], *, volumes: bool) -> None:
    """The removed services' containers go; their data volumes too with ``volumes``."""
    from jupyter_orbit.beside import forget
    from jupyter_orbit.errors import OrbitError

    try:
        removed = forget(paths, beside, change.names, volumes=volumes)
    except OrbitError as e:
        change.notes.append(f"the services' containers could not be removed: {e.message}")
        return
    if removed:
        change.notes.append(f"removed {', '.join(removed)}")
    if not volumes:
        change.notes.append("their data volumes are kept (`--volumes` deletes them)")
    elif not any(r.startswith("volume ") for r in removed):
        change.notes.append("no data volume was deleted (none is left on this engine)")


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
