"""What a project publishes: its files, its notebooks, and the environment each runs in.

Every notebook goes through the one pipeline (``prepare``) with the docker engine and the
project as its root, exactly as ``orbit run --engine docker`` would take it; notebooks that ask
for the same thing share one environment. The project folder's own environment (what a new
notebook gets) is among them when a notebook uses it, or when there is no notebook at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from jupyter_orbit.errors import InputError

if TYPE_CHECKING:
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Consent, Prepared, Stage
    from jupyter_orbit.progress import Progress


@dataclass
class Environment:
    """One environment of the project, and the notebooks that run in it."""

    prepared: Prepared  # as far as the plan (and the build, once built)
    notebooks: list[str] = field(default_factory=list)  # relative paths

    @property
    def env_id(self) -> str:
        return self.prepared.env_id

    @property
    def label(self) -> str:
        if not self.notebooks:
            return "the project"
        if len(self.notebooks) == 1:
            return self.notebooks[0]
        return f"{self.notebooks[0]} and {len(self.notebooks) - 1} more"


@dataclass
class Project:
    root: Path
    files: list[str]  # what goes into an image, relative (files only)
    left_out: list[str]  # what does not (version control, secrets, keys, ignored)
    notebooks: dict[str, str]  # relative path → environment id
    environments: dict[str, Environment]  # by id, in the order first met
    defaults: dict[str, str]  # kernelspec → the environment a new notebook gets
    as_of: str | None = None  # --as-of, when the command line gave one
    warnings: list[str] = field(default_factory=list)
    own_packages: set[str] = field(default_factory=set)  # notebooks that declare packages

    @property
    def name(self) -> str:
        return self.root.name

    def target(self, env: Environment) -> Path:
        """What to prepare to get ``env`` again (its first notebook, or the folder)."""
        return self.root / env.notebooks[0] if env.notebooks else self.root


def notebooks_in(files: list[str]) -> list[str]:
    return sorted(
        f
        for f in files
        if f.endswith(".ipynb") and ".ipynb_checkpoints" not in PurePosixPath(f).parts
    )


def collect(
    paths: Paths,
    root: Path,
    *,
    as_of: str | None = None,
    only: str | None = None,
    until: Stage = "plan",
    progress: Progress | None = None,
) -> Project:
    """Read ``root``: its files, every notebook's environment (planned, not built; ``until``
    "resolve" for what needs no engine, such as Binder files).

    ``only``: a notebook (relative to ``root``); the project then publishes that notebook's
    environment alone (a Voilà app of it).
    """
    from jupyter_orbit.engines import dockerapi
    from jupyter_orbit.prepare import Choices, prepare

    root = root.expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"{root}: no such folder", "give the project folder to publish")
    kept = dockerapi.project_files(root)
    files = sorted(f for f in kept if not (root / f).is_dir() or (root / f).is_symlink())
    notebooks = notebooks_in(files)
    if only is not None:
        wanted = _relative(root, only)
        if wanted not in notebooks:
            raise InputError(
                f"{only}: not a notebook of {root} that an image would hold",
                "name a .ipynb file inside the project (not one .orbitignore or the secret "
                "rules leave out)",
                path=root / wanted,
            )
        notebooks = [wanted]
    choices = Choices(engine="docker", root=root, as_of=as_of)
    envs: dict[str, Environment] = {}
    table: dict[str, str] = {}
    own: set[str] = set()
    for nb in notebooks:
        if progress is not None:
            progress.step("environment", nb)
        prepared = prepare(root / nb, choices, paths, until=until)
        env = envs.setdefault(prepared.env_id, Environment(prepared))
        env.notebooks.append(nb)
        table[nb] = prepared.env_id
        if declares_packages(prepared):
            own.add(nb)
    folder = prepare(root, choices, paths, until=until) if only is None else None
    if folder is not None and (not notebooks or folder.env_id in envs):
        envs.setdefault(folder.env_id, Environment(folder))
    defaults: dict[str, str] = {}
    if folder is not None and folder.env_id in envs:
        defaults[folder.recipe.kernelspec_name] = folder.env_id
    for env in envs.values():
        defaults.setdefault(env.prepared.recipe.kernelspec_name, env.env_id)
    warnings = list(dict.fromkeys(w for e in envs.values() for w in e.prepared.warnings))
    left_out = dockerapi.left_out(root)
    return Project(root, files, left_out, table, envs, defaults, as_of, warnings, own)


def declares_packages(prepared: Prepared) -> bool:
    """Whether the notebook itself (its metadata or PEP 723 block) declares packages."""
    from jupyter_orbit.model import Level

    return any(
        s.level in (Level.NOTEBOOK, Level.PEP723)
        and any(f.startswith("packages.") for f in s.provides)
        for s in prepared.resolution.sources
    )


def _relative(root: Path, notebook: str) -> str:
    """``notebook`` relative to ``root``: as given inside the project, or from here."""
    path = Path(notebook)
    for candidate in [path] if path.is_absolute() else [root / path, Path.cwd() / path]:
        full = candidate.resolve()
        if full.is_file() and full.is_relative_to(root):
            return full.relative_to(root).as_posix()
    return notebook  # not a file inside: reported by the caller


def build_environments(
    paths: Paths, project: Project, consent: Consent, progress: Progress
) -> None:
    """Build the kernel image of each environment not built yet, through the pipeline (which
    asks for consent to install what the project declares, as ``orbit run`` does)."""
    from jupyter_orbit.prepare import Choices, prepare

    choices = Choices(engine="docker", root=project.root, as_of=project.as_of, consent=consent)
    for env in project.environments.values():
        if env.prepared.environment is not None:
            continue
        built = prepare(project.target(env), choices, paths, progress=progress, until="build")
        if built.env_id != env.env_id:  # the sources changed meanwhile
            raise InputError(
                f"{project.target(env)} changed while it was being published",
                "publish again",
            )
        env.prepared = built
