"""The local engine: one uv virtual environment per spec, under ``envs/local/<id>/``.

Its plan is a list of typed steps: make the venv, then each ecosystem's own steps (PyPI: resolve
and install; npm, conda: install into the environment's own folders; Debian: check what dpkg
has), then bytecode (made in the background) and commit. ``realize`` runs exactly those steps.

A build happens in a hidden sibling folder and is renamed into place (``atomic.staged_dir``);
``orbit-env.json`` is written after the rename and is the only proof of completeness, so a build
killed at any moment leaves nothing that gets used. Venvs are made relocatable (uv
``--relocatable``) so the rename keeps their scripts working; each environment's package files
are its own, cloned or copied from uv's cache (``linkmode``), so no environment can change
another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from jupyter_orbit import __version__, atomic, linkmode
from jupyter_orbit.ecosystems import ecosystem_class, get_ecosystem, in_order
from jupyter_orbit.ecosystems.base import Prefix
from jupyter_orbit.engines import bytecode, storage
from jupyter_orbit.engines.base import Engine, Stored
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.kernels.recipes import KernelRecipe
from jupyter_orbit.model import Environment, EnvSpec, Plan, Step
from jupyter_orbit.progress import Progress
from jupyter_orbit.pythons import default_python, site_packages, venv_python
from jupyter_orbit.uvcli import find_python, install_python, run_uv

MARKER = "orbit-env.json"


class LocalEngine(Engine):
    name = "local"
    label = "this machine"
    chooses_python = True
    dates_kernel = True
    starts_ahead = True

    @property
    def root(self) -> Path:
        return self.paths.envs_dir(self.name)

    @property
    def bytecode_root(self) -> Path:
        return self.paths.envs_dir("local") / ".bytecode"

    def location(self, spec: EnvSpec) -> Path:
        return self.root / spec.env_id

    def lookup_id(self, env_id: str) -> Environment | None:
        if not env_id.isalnum():  # ids are hex; anything else is not a folder of ours
            return None
        loc = self.root / env_id
        try:
            record = json.loads((loc / MARKER).read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        if bytecode.pending(loc):  # its job never ran, or died: started again
            self.start_job(loc)
        return Environment(self.name, env_id, loc, venv_python(loc), record)

    def plan(self, spec: EnvSpec) -> Plan:
        loc = self.location(spec)
        if env := self.lookup(spec):
            base = env.record.get("python", {}).get("base")
            return Plan(self.name, spec.env_id, spec, str(loc), True, (), base)
        request = spec.python or default_python()
        interpreter = self._find_python(request)
        steps: list[Step] = []
        if interpreter is None:  # not on this machine, and uv can download it
            steps.append(PythonStep(f"Python {request} is not on this machine: uv installs it"))
        steps.append(VenvStep(f"Python {request} from {interpreter or 'uv'}"))
        warnings: list[str] = []
        for name in in_order(spec.ecosystems):
            eco = ecosystem_class(name)(self.paths)
            steps += eco.local_steps(spec)
            warnings += eco.local_warnings(spec)
        steps.append(
            BytecodeStep(
                "what earlier environments compiled linked now, the rest in the background"
            )
        )
        steps.append(CommitStep(f"move into {loc}"))
        return Plan(
            self.name,
            spec.env_id,
            spec,
            str(loc),
            built=False,
            steps=tuple(steps),
            interpreter=str(interpreter) if interpreter else None,
            warnings=tuple(warnings),
        )

    def realize(self, plan: Plan, progress: Progress) -> Environment:
        from filelock import FileLock

        spec = plan.spec
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / f".{spec.env_id}.lock"):
            if env := self.lookup(spec):  # another process built it while we waited
                return env
            self._remove_partial(spec.env_id)
            final = self.location(spec)
            with atomic.staged_dir(final) as build:
                prefix = Prefix(
                    paths=self.paths,
                    spec=spec,
                    path=build,
                    final=final,
                    python=venv_python(build),
                    base_python=Path(str(plan.interpreter or spec.python)),
                    progress=progress,
                    facts={"engine": self},
                )
                for step in plan.steps:
                    progress.step(step.action, step.detail)
                    step.run(prefix)
        env = self.lookup(spec)
        assert env is not None
        return env

    def pins(self, plan: Plan) -> list[str]:
        from jupyter_orbit.ecosystems.pypi import LOCK_FILE, PyPI, pin_lines

        if plan.built:
            return pin_lines((self.location(plan.spec) / "orbit" / LOCK_FILE).read_text())
        return PyPI(self.paths).pins(plan.spec, str(plan.interpreter or plan.spec.python))

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        return recipe.argv(env.location, env.python)

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        out = super().kernel_env(env, recipe)
        packages = (env.record.get("spec") or {}).get("packages") or {}
        for name in in_order(packages):
            out.update(get_ecosystem(name, self.paths).kernel_env(env.location, out))
        # The environment's programs first, as in an activated venv: `!python`, `!pip`, `%pip`
        # and subprocesses use the notebook's environment, not whatever is on the PATH.
        path = out.get("PATH") or os.environ.get("PATH", os.defpath)
        out["PATH"] = f"{env.python.parent}{os.pathsep}{path}"
        out["VIRTUAL_ENV"] = str(env.location)
        return out

    def stored(self) -> list[Stored]:
        return storage.folder_envs(self.root, MARKER)

    def in_use(self, items: list[Stored]) -> dict[str, str]:
        return storage.running_in(items)

    def remove(self, item: Stored) -> None:
        storage.remove_folder(self.root, item, MARKER)

    def record(self, spec: EnvSpec, prefix: Prefix) -> dict:
        """What ``orbit-env.json`` says of a complete environment."""
        cfg = read_pyvenv_cfg(prefix.path / "pyvenv.cfg")
        return {
            "env_id": spec.env_id,
            "engine": self.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "orbit": __version__,
            "python": {"version": cfg.get("version_info", ""), "base": str(prefix.base_python)},
            "spec": spec.to_dict(),
            "identity": spec.identity(),
            "lock": "orbit/requirements.lock.txt",
        }

    def start_job(self, prefix: Path) -> None:
        """The background job of the environment in place at ``prefix``, unless it runs."""
        with contextlib.suppress(OSError):  # not a complete environment: nothing to start
            store = self.bytecode_store(prefix)
            bytecode.start(prefix, self.bytecode_root, store.tag if store else None)

    def bytecode_store(self, prefix: Path) -> bytecode.BytecodeStore | None:
        """The shared store for the environment at ``prefix``'s Python (CPython only)."""
        cfg = read_pyvenv_cfg(prefix / "pyvenv.cfg")
        version = cfg.get("version_info", "")
        if cfg.get("implementation", "").lower() != "cpython" or not version:
            return None
        major, minor = version.split(".")[:2]
        return bytecode.BytecodeStore(self.bytecode_root, f"cpython-{major}{minor}")

    def _find_python(self, request: str) -> Path | None:
        """The interpreter for ``request``, or None when it is not here but uv can download it
        (the plan then installs it first); uv runs from a folder of Orbit's (never a
        project's), and planning writes nothing under the data root but the cache."""
        from jupyter_orbit import pythons
        from jupyter_orbit.uvcli import python_downloads

        cache = self.paths.cache_dir
        try:
            if self.root.is_dir():
                return find_python(request, cwd=self.root, cache=cache)
            with tempfile.TemporaryDirectory(prefix="orbit-plan-") as tmp:
                return find_python(request, cwd=Path(tmp), cache=cache)
        except InputError:
            exact = re.fullmatch(r"\d+\.\d+(\.\d+)?", request.strip())
            if exact and pythons.minor_of(request) in python_downloads():
                return None
            raise

    def _remove_partial(self, env_id: str) -> None:
        """Leftovers of killed builds: hidden build folders and an unmarked final folder."""
        import shutil

        for stale in atomic.leftovers(self.root, env_id):
            shutil.rmtree(stale, ignore_errors=True)
        final = self.root / env_id
        if final.exists() and not (final / MARKER).exists():
            shutil.rmtree(final, ignore_errors=True)


@dataclass(frozen=True)
class PythonStep(Step):
    """``uv python install``: the Python the spec asks for is not on this machine."""

    ACTION: ClassVar[str] = "python"

    def run(self, build: Prefix) -> None:
        request = build.spec.python or default_python()
        install_python(request, cwd=build.path.parent, on_line=build.progress.log)
        build.base_python = find_python(request, cwd=build.path.parent, cache=build.paths.cache_dir)


@dataclass(frozen=True)
class VenvStep(Step):
    """A relocatable uv venv from the plan's interpreter, with Orbit's ``orbit/`` folder."""

    ACTION: ClassVar[str] = "venv"

    def run(self, build: Prefix) -> None:
        python = str(build.base_python)
        args = ["venv", "--relocatable", "--quiet", "--python", python, str(build.path)]
        # pip's files become the environment's own too (see linkmode), as its packages' do
        seed = ["--seed", *linkmode.args(build.path, own_later=True)]
        # with pip, as `python -m venv` makes them: `!pip` and `%pip` install here. The pip in
        # uv's cache first (asking the index for the newest takes most of a second), then the
        # index's; with no pip to be had (offline) the environment works without.
        for extra in ([*seed, "--offline"], seed, []):
            try:
                run_uv(
                    [*args, *extra, "--clear"], cwd=build.path.parent, on_line=build.progress.log
                )
                break
            except BuildError:
                if not extra:
                    raise
        build.meta.mkdir()


@dataclass(frozen=True)
class BytecodeStep(Step):
    """Bytecode for the environment's packages: what the shared store has is linked now (the
    first kernel imports compiled code), the rest is compiled in the background once the
    environment is in place, so its kernel starts without waiting (see ``bytecode``)."""

    ACTION: ClassVar[str] = "bytecode"

    def run(self, build: Prefix) -> None:
        engine: LocalEngine = build.facts["engine"]
        if (store := engine.bytecode_store(build.path)) is not None:
            with contextlib.suppress(OSError):  # the job links and compiles what this did not
                store.link_known(site_packages(build.path))
        bytecode.schedule(build.meta)


@dataclass(frozen=True)
class CommitStep(Step):
    """Move the complete environment into place, then write its marker (the proof); then
    start its bytecode job."""

    ACTION: ClassVar[str] = "commit"

    def run(self, build: Prefix) -> None:
        engine: LocalEngine = build.facts["engine"]
        record = engine.record(build.spec, build)
        atomic.commit_dir(build.path, build.final, marker=MARKER, record=record)
        engine.start_job(build.final)


def read_pyvenv_cfg(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
