"""The local engine: one uv virtual environment per spec, under ``envs/local/<id>/``.

A build happens in a hidden sibling folder and is renamed into place; ``orbit-env.json`` is
written after the rename and is the only proof of completeness, so a build killed at any moment
leaves nothing that gets used. Venvs are made relocatable (uv ``--relocatable``) so the rename
keeps their scripts working, and packages are hardlinked from uv's shared cache.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jupyter_orbit import __version__, atomic
from jupyter_orbit.bazaar import lockfile
from jupyter_orbit.engines import bytecode
from jupyter_orbit.engines.base import Engine
from jupyter_orbit.errors import BuildError
from jupyter_orbit.kernels.recipes import KernelRecipe
from jupyter_orbit.model import Environment, EnvSpec, Plan, Requirement, Step
from jupyter_orbit.progress import Progress
from jupyter_orbit.uvcli import find_python, run_uv

MARKER = "orbit-env.json"
_BIN = "Scripts" if os.name == "nt" else "bin"
_EXE = "python.exe" if os.name == "nt" else "python"
CONDA_DIR = "conda"  # conda packages' own prefix inside an environment


def environment_python(prefix: Path) -> Path:
    """The interpreter of the environment at ``prefix``."""
    return prefix / _BIN / _EXE


def default_python() -> str:
    """The version Orbit itself runs on: the default when nothing asks for another."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class LocalEngine(Engine):
    name = "local"

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
        return Environment(self.name, env_id, loc, loc / _BIN / _EXE, record)

    def plan(self, spec: EnvSpec) -> Plan:
        loc = self.location(spec)
        if env := self.lookup(spec):
            return Plan(
                self.name,
                spec.env_id,
                spec,
                str(loc),
                built=True,
                steps=(),
                interpreter=env.record.get("python", {}).get("base"),
            )
        self.root.mkdir(parents=True, exist_ok=True)
        request = spec.python or default_python()
        interpreter = find_python(request, cwd=self.root)
        pypi = spec.packages("pypi")
        steps = [Step("venv", f"Python {request} from {interpreter}")]
        if spec.lock:
            how = "exactly, hash-checked" if lockfile.is_current(spec) else "as constraints"
            steps.append(
                Step(
                    "lock",
                    f"install the versions pinned by the notebook's {spec.lock.format} ({how})",
                )
            )
        as_of = f" as of {spec.as_of}" if spec.as_of else ""
        if spec.as_of and any(r.origin and r.origin.rank >= 5 for r in pypi):
            as_of += " (the kernel's own packages: newest)"
        steps.append(Step("resolve", f"{len(pypi)} PyPI requirements{as_of}: {_names(pypi)}"))
        steps.append(Step("install", "hardlinked from uv's cache"))
        steps.append(Step("bytecode", "compiled once, identical files shared between environments"))
        warnings = []
        if apt := spec.packages("apt"):
            steps.append(Step("check-apt", f"Debian packages present: {_names(apt)}"))
            if spec.as_of:
                warnings.append(
                    f"Debian packages are used as this machine has them, not as of {spec.as_of}: "
                    f"the local engine cannot honour the date for {_names(apt)}"
                )
        if npm := spec.packages("npm"):
            steps.append(Step("npm", f"into the environment's npm/ folder: {_names(npm)}"))
        if conda := spec.packages("conda"):
            steps.append(Step("conda", f"into the environment's conda/ prefix: {_names(conda)}"))
        steps.append(Step("commit", f"move into {loc}"))
        return Plan(
            self.name,
            spec.env_id,
            spec,
            str(loc),
            built=False,
            steps=tuple(steps),
            interpreter=str(interpreter),
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
            build = self.root / f".build-{spec.env_id}-{secrets.token_hex(4)}"
            try:
                record = self._build(plan, build, progress)
                final = self.location(spec)
                build.rename(final)
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
            atomic.write_json(final / MARKER, record)
        env = self.lookup(spec)
        assert env is not None
        return env

    def pins(self, plan: Plan) -> list[str]:
        spec = plan.spec
        if plan.built:
            lock = self.location(spec) / "orbit" / "requirements.lock.txt"
            lines = lock.read_text().splitlines()
        else:
            flags, lines = _split_options(spec.index_options)
            args = [
                "pip",
                "compile",
                "-",
                "--python",
                str(plan.interpreter),
                "--no-header",
                "--no-annotate",
                "--quiet",
                *flags,
            ]
            args += self._as_of_args(spec, str(plan.interpreter), flags, lines, None)
            text = "\n".join(lines + [r.text for r in spec.packages("pypi")]) + "\n"
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".pins-") as tmp:
                if spec.constraints:  # resolve as the build would
                    constraints = Path(tmp) / "constraints.txt"
                    constraints.write_text("\n".join(r.text for r in spec.constraints) + "\n")
                    args += ["--constraint", str(constraints)]
                lines = run_uv(args, cwd=self.root, stdin=text).splitlines()
        return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "-"))]

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        return recipe.argv(env.location, env.python)

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        out = super().kernel_env(env, recipe)
        conda = env.location / CONDA_DIR
        if (conda / "conda-meta").is_dir():  # the conda packages' programs before the system's
            path = out.get("PATH") or os.environ.get("PATH", os.defpath)
            out.update(PATH=f"{conda / 'bin'}{os.pathsep}{path}", CONDA_PREFIX=str(conda))
        return out

    # -- building -------------------------------------------------------------------------

    def _build(self, plan: Plan, build: Path, progress: Progress) -> dict:
        spec = plan.spec
        log = progress.log
        progress.step("venv", f"Python {spec.python or default_python()}")
        run_uv(
            ["venv", "--relocatable", "--quiet", "--python", str(plan.interpreter), str(build)],
            cwd=self.root,
            on_line=log,
        )
        python = build / _BIN / _EXE
        meta = build / "orbit"
        meta.mkdir()
        flags, lines = _split_options(spec.index_options)
        pinned = meta / "requirements.lock.txt"
        compile_args = ["pip", "compile", "--python", str(python), "--emit-index-url", *flags]
        constraints = [r.text for r in spec.constraints]
        exact = lockfile.is_current(spec)  # an Orbit lock made from this very spec
        if spec.lock and not exact:
            progress.step("lock", f"reading the notebook's {spec.lock.format}")
            constraints += self._export_lock(spec, meta, log)
        if constraints:
            atomic.write_text(meta / "constraints.txt", "\n".join(constraints) + "\n")
            compile_args += ["--constraint", str(meta / "constraints.txt")]
        requirements = meta / "requirements.in"
        atomic.write_text(
            requirements, "\n".join(lines + [r.text for r in spec.packages("pypi")]) + "\n"
        )
        as_of = f" as of {spec.as_of}" if spec.as_of else ""
        progress.step("resolve", _names(spec.packages("pypi")) + as_of)
        try:
            if exact and spec.lock:
                progress.step("lock", "the notebook's lock, exactly (hash-checked)")
                atomic.write_text(pinned, spec.lock.text)
            else:
                compile_args += self._as_of_args(spec, str(python), flags, lines, log)
                run_uv(
                    [*compile_args, str(requirements), "-o", str(pinned), "--quiet"],
                    cwd=meta,
                    on_line=log,
                )
        except BuildError as err:
            raise _blame(err, spec) from None
        progress.step("install", f"{_count_pins(pinned)} packages")
        hashes = ["--require-hashes"] if exact else []
        run_uv(
            ["pip", "sync", "--python", str(python), *flags, *hashes, str(pinned)],
            cwd=meta,
            on_line=log,
        )
        progress.step("bytecode", "compiling what no other environment has compiled")
        cfg = _read_pyvenv_cfg(build / "pyvenv.cfg")
        site = _site_packages(build)
        store = None
        to_compile = 10**6
        if cfg.get("implementation", "").lower() == "cpython" and (v := cfg.get("version_info")):
            major, minor = v.split(".")[:2]
            store = bytecode.BytecodeStore(self.bytecode_root, f"cpython-{major}{minor}")
            to_compile = store.link_known(site)
        bytecode.compile_tree(python, build, site, to_compile=to_compile)
        if store is not None:
            store.keep(site)
        if npm := spec.packages("npm"):
            from jupyter_orbit.bazaar.npm import Npm

            Npm(self.paths).install(build, npm, progress)  # scripts stay off (--ignore-scripts)
        if conda := spec.packages("conda"):
            from jupyter_orbit.bazaar.conda import Conda

            # A prefix of its own beside the venv (conda's Python packages are not the venv's);
            # link scripts stay off, as npm's install scripts do.
            final = self.location(spec) / CONDA_DIR
            Conda(self.paths).install(build / CONDA_DIR, conda, progress, final_prefix=final)
        if apt := spec.packages("apt"):
            progress.step("check-apt", _names(apt))
            if missing := missing_debian_packages([r.name for r in apt]):
                progress.warn(apt_hint(missing))
        progress.step("commit", str(self.location(spec)))
        return {
            "env_id": spec.env_id,
            "engine": self.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "orbit": __version__,
            "python": {"version": cfg.get("version_info", ""), "base": str(plan.interpreter)},
            "spec": spec.to_dict(),
            "identity": spec.identity(),
            "lock": "orbit/requirements.lock.txt",
        }

    def _as_of_args(
        self,
        spec: EnvSpec,
        python: str,
        flags: list[str],
        lines: list[str],
        log: Callable[[str], None] | None,
    ) -> list[str]:
        """uv flags for the date: the notebook's packages as of it, the kernel's own newest.

        The kernel recipe's packages (ipykernel and all it pulls in) float: a kernel of 2017
        does not run on today's Python, and the notebook's code never imports most of them.
        Their names come from resolving the recipe's packages alone, today; a package the
        notebook itself names stays dated.
        """
        if not spec.as_of:
            return []
        args = ["--exclude-newer", spec.as_of]
        own = [r.text for r in spec.packages("pypi") if r.origin is not None and r.origin.rank >= 5]
        if not own:
            return args
        declared = {r.name for r in spec.packages("pypi") if r.origin is None or r.origin.rank < 5}
        quiet = ["--no-header", "--no-annotate", "--quiet"]
        out = run_uv(
            ["pip", "compile", "-", "--python", python, *quiet, *flags],
            cwd=self.root,
            stdin="\n".join(lines + own) + "\n",
            on_line=log,
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in sorted(_pinned_names(out) - declared):
            args += ["--exclude-newer-package", f"{name}={now}"]
        return args

    def _export_lock(self, spec: EnvSpec, meta: Path, log: object) -> list[str]:
        """Pins from a juv/uv script lock, used as constraints so the kernel's packages fit in."""
        assert spec.lock is not None
        if spec.lock.format != "uv.lock":  # a stale Orbit lock: its pins, without hashes
            return lockfile.pins(spec.lock.text)
        script = meta / "script.py"
        deps = [r.text for r in spec.packages("pypi") if r.origin is None or r.origin.rank < 5]
        header = ["# /// script"]
        if spec.python and spec.python[0].isdigit():
            header.append(f'# requires-python = ">={spec.python}"')
        elif spec.python:
            header.append(f"# requires-python = {json.dumps(spec.python)}")
        header.append("# dependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]")
        header.append("# ///")
        atomic.write_text(script, "\n".join(header) + "\n")
        atomic.write_text(meta / "script.py.lock", spec.lock.text)
        out = run_uv(
            [
                "export",
                "--script",
                str(script),
                "--frozen",
                "--no-header",
                "--no-hashes",
                "--format",
                "requirements.txt",
            ],
            cwd=meta,
            on_line=log,  # type: ignore[arg-type]
        )
        return [
            ln.split(" ;")[0].split(";")[0].strip()
            for ln in out.splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", "-"))
        ]

    def _remove_partial(self, env_id: str) -> None:
        """Leftovers of killed builds: hidden build folders and an unmarked final folder."""
        for stale in self.root.glob(f".build-{env_id}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        final = self.root / env_id
        if final.exists() and not (final / MARKER).exists():
            shutil.rmtree(final, ignore_errors=True)


def _blame(err: BuildError, spec: EnvSpec) -> BuildError:
    """Name the files that declared the packages uv could not resolve."""
    where = [
        f"{r.name} is declared in {r.origin}"
        for r in spec.packages("pypi")
        if r.origin and r.origin.path and r.name in err.message
    ]
    if not where:
        return err
    return type(err)(f"{err.message} ({'; '.join(where)})", err.hint)


def _names(reqs: tuple[Requirement, ...] | list[Requirement]) -> str:
    shown = [r.name for r in reqs][:8]
    more = len(reqs) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") if shown else "none"


def _split_options(options: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Options uv takes as flags versus lines it reads inside a requirements file."""
    flags: list[str] = []
    lines: list[str] = []
    for opt in options:
        if opt in ("--pre", "--prerelease allow", "--prerelease=allow"):
            flags += ["--prerelease", "allow"]
        else:
            lines.append(opt)
    return flags, lines


def _site_packages(prefix: Path) -> list[Path]:
    if os.name == "nt":
        return [prefix / "Lib" / "site-packages"]
    return sorted((prefix / "lib").glob("python*/site-packages"))


def _pinned_names(text: str) -> set[str]:
    """Canonical names of the ``name==version`` lines of a compiled requirements file."""
    from packaging.utils import canonicalize_name

    return {
        canonicalize_name(ln.split("==")[0].split("[")[0].strip())
        for ln in text.splitlines()
        if "==" in ln and not ln.lstrip().startswith(("#", "-"))
    }


def _count_pins(lock: Path) -> int:
    return sum(
        1
        for ln in lock.read_text().splitlines()
        if ln and not ln.startswith((" ", "#", "-")) and "==" in ln
    )


def _read_pyvenv_cfg(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def missing_debian_packages(names: list[str]) -> list[str]:
    """Which of ``names`` dpkg does not have installed (all of them if dpkg is absent)."""
    if not shutil.which("dpkg-query"):
        return names
    missing = []
    for name in names:
        base = name.split("=")[0]
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", base],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0 or r.stdout.strip() != "installed":
            missing.append(base)
    return missing


def apt_hint(missing: list[str]) -> str:
    sudo = "" if os.geteuid() == 0 else "sudo "
    return (
        f"Debian packages not installed: {', '.join(missing)}; the local engine never installs "
        f"them itself. Run: {sudo}apt-get install -y {' '.join(missing)}"
    )
