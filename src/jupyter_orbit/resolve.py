"""Combine every source of a notebook's environment by the precedence DESIGN.md states.

Levels (``model.Level``), first binds most: the command line, ``metadata.orbit``, the PEP 723
block, the nearest project files, the profile's default; the kernel recipe adds its own packages.
Each field of the spec (kernel, python, the package list of each ecosystem, as_of, engine) comes
from the first source that sets it; every other source that sets it is reported, and a file that
ends up contributing nothing is listed as ignored.

Inside the project the rules are repo2docker's: the nearest folder (walking up from the notebook
to the project root) that declares anything is the project folder; a ``binder/`` or ``.binder/``
folder in it wins over the files beside it; within a folder each format's ``precedence`` decides
(``environment.yml`` beats ``Pipfile``, which beats ``requirements.txt`` together with
``pyproject.toml``).

This is the first stage of the one pipeline (``prepare``); nothing else calls it directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jupyter_orbit import asof
from jupyter_orbit.asof import Recall, RecallNotebook
from jupyter_orbit.errors import InputError
from jupyter_orbit.hardware.needs import HardwareNeeds, parse_needs
from jupyter_orbit.kernels.recipes import get_recipe, recipe_for
from jupyter_orbit.manifests.base import Contribution, Manifest
from jupyter_orbit.manifests.formats import formats
from jupyter_orbit.model import EnvSpec, Ignored, Level, Resolution, Source, dedupe

_BINDER_DIRS = ("binder", ".binder")


@dataclass
class _Layers:
    """Contributions in precedence order, with where they were found."""

    items: list[Contribution] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    project_dir: Path | None = None


_ROOT_MARKERS = (".git", ".hg", *_BINDER_DIRS)


def find_project_root(start: Path) -> Path | None:
    """The nearest folder holding ``.git`` (or ``.hg``, ``binder/``, ``.binder/``), if any."""
    for d in (start, *start.parents):
        if any((d / m).exists() for m in _ROOT_MARKERS):
            return d
    return None


def _walk_limit(start: Path) -> Path:
    """Without a marked root, look no higher than the home folder (or the drive's root)."""
    home = Path.home()
    return home if start.is_relative_to(home) else Path(start.anchor)


def resolve(
    target: Path,
    *,
    root: Path | None = None,
    python: str | None = None,
    kernel: str | None = None,
    default_python: str,
    as_of: str | None = None,
    now: datetime | None = None,
    recall: Recall | None = None,
    remembered: RecallNotebook | None = None,
) -> Resolution:
    """Read ``target`` (a notebook or a folder) and everything it inherits into a ``Resolution``.

    ``as_of`` is the command line's date ("now" or a date); the resolution's date and its source
    are settled by ``jupyter_orbit.asof`` (``now``, ``recall`` and ``remembered`` are its
    inputs).
    """
    from jupyter_orbit.manifests import notebook as nbmod
    from jupyter_orbit.manifests.formats import project_manifests

    target = Path(target).expanduser().resolve()
    if not target.exists():
        raise InputError(f"{target}: no such file or folder", "check the path")
    notebook = target if target.is_file() else None
    start = target.parent if notebook else target
    marked = Path(root).resolve() if root else find_project_root(start)
    if marked is not None and not start.is_relative_to(marked):
        marked = None

    layers = _Layers()
    if python or as_of:
        cli = Contribution("command line", None, Level.COMMAND_LINE, python=python, as_of=as_of)
        layers.items.append(cli)
    nb_kernel: list[str] = []
    needs = HardwareNeeds()
    if notebook:
        nb = nbmod.load_notebook(notebook)
        nb_kernel = nbmod.notebook_kernels(nb)
        needs = parse_needs(nb.get("metadata"), notebook=notebook)
        layers.items += [
            nbmod.read_metadata(nb, notebook, level=Level.NOTEBOOK),
            nbmod.read_pep723(nb, notebook, level=Level.PEP723),
        ]
    _read_project(start, marked or _walk_limit(start), marked, layers, project_manifests())
    default = Contribution("profile default", None, Level.PROFILE, python=default_python)
    layers.items.append(default)
    # The folder the user is asked to trust: the marked root, else where the files were found.
    project_root = marked or start
    if marked is None and layers.project_dir is not None:
        project_root = layers.project_dir
    res = _combine(layers, target, notebook, project_root, kernel or None, nb_kernel)
    res = dataclasses.replace(res, hardware=needs)
    return asof.settle(res, now=now, recall=recall, remembered=remembered)


def _read_project(
    start: Path, limit: Path, marked: Path | None, layers: _Layers, manifests: list[Manifest]
) -> None:
    from jupyter_orbit.manifests.formats import KNOWN_UNREAD

    folders = [start]
    while folders[-1] != limit and folders[-1] != folders[-1].parent:
        folders.append(folders[-1].parent)
    for folder in folders:
        binders = [folder / b for b in _BINDER_DIRS if (folder / b).is_dir()]
        if len(binders) > 1:
            raise InputError(
                f"{folder} has both binder/ and .binder/",
                "keep one of them (repo2docker refuses this too)",
            )
        here = [folder / n for m in manifests for n in m.filenames if (folder / n).is_file()]
        if layers.project_dir is not None:
            reason = f"a nearer folder ({layers.project_dir}) declares the environment"
            layers.ignored += [Ignored(p, reason) for p in here]
            layers.ignored += [Ignored(b, reason) for b in binders]
            continue
        src = binders[0] if binders else folder
        found = []
        readers = []
        for m in manifests:
            present = [src / n for n in m.filenames if (src / n).is_file()]
            if present:  # environment.yml before environment.yaml: the first spelling wins
                # Paths a file refers to (-r, -e) must stay inside the project.
                found.append(m.read(present[0], root=marked or folder, level=Level.PROJECT))
                readers.append(m)
                reason = f"{present[0].name} is read instead"
                layers.ignored += [Ignored(p, reason) for p in present[1:]]
        _python_rules(readers, found, binder=bool(binders))
        for n, reason in KNOWN_UNREAD.items():
            if (src / n).exists():
                layers.ignored.append(Ignored(src / n, reason))
        if not any(c.provides() or c.notes for c in found) and not binders:
            layers.ignored += [
                Ignored(c.path, "declares nothing Orbit reads") for c in found if c.path
            ]
            continue
        layers.project_dir = src
        if binders:
            reason = f"the {binders[0].name}/ folder takes precedence (repo2docker's rule)"
            layers.ignored += [Ignored(p, reason) for p in here]
        # ``found`` is in the formats' precedence order already
        layers.items += found


def _python_rules(readers: list[Manifest], found: list[Contribution], *, binder: bool) -> None:
    """Drop the Python of a file that repo2docker would not take it from, beside the others
    (runtime.txt beats requires-python; the conda and Pipfile builds read only their own)."""
    kinds = {c.kind for c in found}
    for m, c in zip(readers, found, strict=True):
        if c.python and (why := m.python_ignored(kinds, binder=binder)):
            name = c.path.name if c.path else c.kind
            c.notes.append(f"{name}: its Python ({c.python}) is not used: {why}")
            c.python = None


def _combine(
    layers: _Layers,
    target: Path,
    notebook: Path | None,
    project_root: Path,
    kernel_override: str | None,
    nb_kernel: list[str],
) -> Resolution:
    together = {m.name for m in formats() if m.read_together}
    used: dict[int, list[str]] = {}
    lost: dict[int, list[tuple[str, Contribution]]] = {}  # field, and the source that set it

    def winners(name: str) -> list[Contribution]:
        setters = [c for c in layers.items if name in c.provides()]
        if not setters:
            return []
        best = [setters[0]]
        if setters[0].kind in together and name.startswith("packages."):
            best += [c for c in setters[1:] if c.kind in together and c.level == setters[0].level]
        for c in setters:
            if c in best:
                used.setdefault(id(c), []).append(name)
            else:
                lost.setdefault(id(c), []).append((name, best[0]))
        return best

    python_from = winners("python")
    kernel_from = winners("kernel")
    as_of_from = winners("as_of")
    winners("engine")
    requirements = []
    constraints = []
    index_options: list[str] = []
    lock = None
    from jupyter_orbit.ecosystems import ecosystem_class

    fields = sorted({f for c in layers.items for f in c.provides() if f.startswith("packages.")})
    for field_name in fields:
        eco = field_name.removeprefix("packages.")
        for c in winners(field_name):
            requirements += [r for r in c.requirements if r.ecosystem == eco]
            constraints += [r for r in c.constraints if r.ecosystem == eco]
            # The spec's index options and lock go with the source of the packages they are for.
            if ecosystem_class(eco).spec_options:
                index_options += [o for o in c.index_options if o not in index_options]
                lock = lock or c.lock
    pypi_source = next((c for c in layers.items if lock and c.lock is lock), None)
    if pypi_source is not None:
        used.setdefault(id(pypi_source), []).append("lock")
    for c in layers.items:
        if c.lock and lock is not c.lock and pypi_source is not None:
            lost.setdefault(id(c), []).append(("lock", pypi_source))

    kernel_name = kernel_override or (kernel_from[0].kernel if kernel_from else None)
    recipe = get_recipe(kernel_name) if kernel_name else recipe_for(nb_kernel)
    spec = EnvSpec(
        kernel=recipe.name,
        python=python_from[0].python if python_from else None,
        requirements=dedupe([*requirements, *recipe.requirements()]),
        constraints=dedupe(constraints),
        index_options=tuple(index_options),
        as_of=as_of_from[0].as_of if as_of_from else None,
        lock=lock,
    )
    engine = next((c.engine for c in layers.items if c.engine and id(c) in used), None)

    sources = []
    ignored = list(layers.ignored)
    notes = list(layers.notes)
    for c in layers.items:
        got, missed = used.get(id(c), []), lost.get(id(c), [])
        if got:
            sources.append(Source(c.kind, c.path, c.level, tuple(got)))
        if got or not c.provides():  # what a file that sets nothing says is still told
            notes += c.notes
        if missed and c.path is not None:
            by = "; ".join(f"{name} from {_label(w)}" for name, w in missed)
            if got:
                notes.append(f"{_label(c)}: overridden by higher precedence ({by})")
            else:
                ignored.append(Ignored(c.path, f"{c.kind}: higher precedence wins ({by})"))
    return Resolution(
        spec=spec,
        target=target,
        notebook=notebook,
        project_root=project_root,
        project_dir=layers.project_dir,
        sources=tuple(sources),
        ignored=tuple(ignored),
        notes=tuple(dict.fromkeys(notes)),
        engine=engine or "local",
        as_of_source=as_of_from[0].kind if as_of_from else None,
        source_changing=_source_changing(spec),
    )


def _source_changing(spec: EnvSpec) -> tuple[str, ...]:
    """Options and requirements that change where packages come from."""
    from jupyter_orbit.ecosystems import ecosystem_class

    options = tuple(o for o in spec.index_options if not o.startswith("--prerelease"))
    direct = tuple(
        f"{r.text}  ({r.origin})"
        for r in spec.requirements
        if ecosystem_class(r.ecosystem).changes_source(r)
    )
    return options + direct


def _label(c: Contribution) -> str:
    if c.path is None:
        return c.kind
    return c.kind if c.path.name == c.kind else f"{c.kind} in {c.path.name}"
