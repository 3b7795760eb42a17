"""Kernel recipes: how a language becomes a Jupyter kernel inside an environment.

One small base class; each recipe says which packages its environment needs per ecosystem, which
tools it needs from the operating system, how to start the kernel from an environment's prefix
(absolute paths only, never a bare ``python`` from PATH), and a smoke snippet with its expected
output so tests can prove the kernel works. Nothing here knows which engine builds the
environment: the local engine installs the PyPI packages and checks the system ones, a container
engine installs both, and each passes its own ``which`` to find system tools.

Each recipe also says which ecosystems its language takes packages from (``ecosystems``), so the
bazaar searches and adds the right kinds of packages for any recipe, a third party's included.

Recipes, Orbit's own included, are found through the ``jupyter_orbit.kernel_recipes`` entry point
group; each says its place on the kernel menu (``order``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import Level, Origin, Requirement
from jupyter_orbit.plugins import RECIPES

Which = Callable[[str], str | None]


@dataclass(frozen=True)
class SystemRequirement:
    """Something a kernel needs from the operating system rather than from its environment.

    It is present when ``executable`` is found and, if ``probe`` is given, one of ``files``
    exists (glob patterns, ``~`` allowed: a quick look in the usual places) or else running the
    executable with the probe's arguments succeeds. ``debian`` names the packages that provide
    it; ``elsewhere`` says how to get it on other systems.
    """

    what: str
    executable: str
    debian: tuple[str, ...]
    elsewhere: str
    probe: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def present(self, which: Which = shutil.which) -> bool:
        exe = which(self.executable)
        if exe is None:
            return False
        if not self.probe or any(_exists(pattern) for pattern in self.files):
            return True
        return _probe_ok(exe, self.probe)


def _exists(pattern: str) -> bool:
    path = Path(pattern).expanduser()
    anchor = Path(path.anchor)
    return next(anchor.glob(str(path.relative_to(anchor))), None) is not None


_PROBED_OK: set[tuple[str, tuple[str, ...]]] = set()


def _probe_ok(exe: str, probe: tuple[str, ...]) -> bool:
    """Run a probe; successes are remembered (a failure is retried: the user may fix it)."""
    if (exe, probe) in _PROBED_OK:
        return True
    try:
        # From the home folder: R, Octave … read startup files from where they start (a project).
        r = subprocess.run([exe, *probe], capture_output=True, timeout=60, cwd=Path.home())
    except (OSError, subprocess.TimeoutExpired):
        return False
    if r.returncode == 0:
        _PROBED_OK.add((exe, probe))
    return r.returncode == 0


def install_command(missing: list[SystemRequirement]) -> str:
    """The exact command that installs ``missing`` here (Debian's when apt is present)."""
    debian = [p for req in missing for p in req.debian]
    if debian and shutil.which("apt-get"):
        sudo = "" if os.name != "posix" or os.geteuid() == 0 else "sudo "
        return f"{sudo}apt-get install -y --no-install-recommends {' '.join(dict.fromkeys(debian))}"
    return "; ".join(dict.fromkeys(req.elsewhere for req in missing))


class KernelRecipe(ABC):
    name: ClassVar[str]  # what metadata.orbit.kernel says
    display_name: ClassVar[str]
    language: ClassVar[str]  # the kernelspec's language
    kernelspec_name: ClassVar[str]  # the generic name kept in notebooks (portable to plain Jupyter)
    aliases: ClassVar[tuple[str, ...]] = ()  # other kernelspec names and languages it serves
    order: ClassVar[int] = 100  # its place on the kernel menu (Orbit's own: 10, 20, …)
    description: ClassVar[str] = ""
    logo: ClassVar[str] = ""  # an SVG file in jupyter_orbit/kernels/logos/
    packages: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The ecosystems the language takes packages from, each with the name prefix of the
    # language's packages there (R's Debian packages are r-cran-*); by default the ecosystems
    # of the recipe's own packages. ``add_to``: where a bare `orbit add NAME` goes (None: the
    # user must say, when several are as likely).
    ecosystems: ClassVar[dict[str, str] | None] = None
    add_to: ClassVar[str | None] = None
    system: ClassVar[tuple[SystemRequirement, ...]] = ()
    # What a new notebook's metadata.language_info says before the kernel has run.
    language_info: ClassVar[dict[str, str]] = {}
    # Code that proves the kernel works, and what it shows (on stdout, or as its result).
    smoke_code: ClassVar[str] = ""
    smoke_output: ClassVar[str] = ""

    def requirements(self) -> tuple[Requirement, ...]:
        from jupyter_orbit.ecosystems import ecosystem_class

        origin = Origin(f"kernel recipe {self.name}", level=Level.RECIPE)
        return tuple(
            ecosystem_class(eco).parse(n, origin)
            for eco, names in self.packages.items()
            for n in names
        )

    def package_ecosystems(self) -> dict[str, str]:
        """The ecosystems the language takes packages from, with their name prefixes."""
        if self.ecosystems is not None:
            return dict(self.ecosystems)
        return {eco: "" for eco in self.packages}

    def default_ecosystem(self) -> str | None:
        """Where a bare `orbit add NAME` goes for this kernel."""
        usable = self.package_ecosystems()
        if self.add_to is not None:
            return self.add_to
        return next(iter(usable)) if len(usable) == 1 else None

    @abstractmethod
    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        """The kernel command inside an environment; ``{connection_file}`` is filled by Jupyter."""

    def kernel_env(self, env_prefix: Path, *, which: Which = shutil.which) -> dict[str, str]:
        """Variables the kernel process needs beyond the server's own."""
        return {}

    def host_folders(self) -> tuple[Path, ...]:
        """Host folders ``argv`` reads from outside the environment (a container sees them
        read-only at the same path). None by default: the environment holds the kernel."""
        return ()

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        """Code that moves a prewarmed kernel into a notebook's folder and session.

        None means this kernel cannot be adopted, so it is never prewarmed.
        """
        return None

    def warm_code(self, imports: Sequence[str]) -> str | None:
        """Code a prewarmed kernel runs, silently, so that the notebook's own imports of the
        packages ``imports`` (distribution names) find them loaded; None: nothing to run."""
        return None

    def warm_argv(self, argv: list[str], imports: Sequence[str]) -> list[str] | None:
        """``argv`` (this recipe's command, as ``argv`` made it) made to run ``warm_code`` as
        the kernel boots, before it answers; None when the recipe cannot say so for ``argv``."""
        return None

    def missing(self, which: Which = shutil.which) -> list[SystemRequirement]:
        return [req for req in self.system if not req.present(which)]

    def check_system(self, which: Which = shutil.which) -> None:
        """Raise a ``BuildError`` with the exact install command if a system tool is missing."""
        if missing := self.missing(which):
            raise BuildError(
                f"the {self.display_name} kernel needs {', '.join(m.what for m in missing)}, "
                "which this system does not have",
                f"install it with: {install_command(missing)}",
            )

    def tool(self, name: str, which: Which) -> str:
        """The absolute path of a system executable this recipe declares."""
        found = which(name)
        if found is None:
            self.check_system(which)  # names the package to install
            raise BuildError(f"{name} not found", f"install {name}")
        return str(Path(found).absolute())

    def logo_svg(self) -> str:
        if not self.logo:
            return ""
        return resources.files("jupyter_orbit.kernels").joinpath("logos", self.logo).read_text()

    def summary(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "language": self.language,
            "kernelspec": self.kernelspec_name,
            "description": self.description,
            "packages": {eco: list(names) for eco, names in self.packages.items()},
            "system": [
                {"what": r.what, "executable": r.executable, "debian": list(r.debian)}
                for r in self.system
            ],
        }


def _q(value: str) -> str:
    """A string literal that Python, JavaScript, R and Octave all read the same way."""
    return json.dumps(value)


# Import the top-level modules of the distributions named: the notebook's own imports then find
# them loaded. Failures are the notebook's to report.
_PYTHON_WARMUP = """
def _orbit_warm(names):
    import importlib, importlib.metadata as md
    for name in names:
        try:
            files = md.distribution(name).files or ()
        except Exception:
            continue
        tops = set()
        for f in files:
            top = f.parts[0] if f.parts else ""
            if top.endswith(".py") and len(f.parts) == 1:
                top = top[:-3]
            if top.isidentifier() and not top.startswith("_") and top != "bin":
                tops.add(top)
        for top in sorted(tops):
            try:
                importlib.import_module(top)
            except Exception:
                pass
_orbit_warm({names}); del _orbit_warm
"""


class _PythonAdopt:
    """IPython-compatible kernels: change folder, and tell the kernel its notebook; import the
    notebook's packages while warm."""

    def warm_code(self, imports: Sequence[str]) -> str | None:
        return _PYTHON_WARMUP.format(names=json.dumps(list(imports))) if imports else None

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        return (
            "def _orbit_adopt(cwd, session):\n"
            "    import os\n"
            "    os.chdir(cwd)\n"
            "    if session:\n"
            '        os.environ["JPY_SESSION_NAME"] = session\n'
            "        try:\n"
            '            get_ipython().user_ns["__session__"] = session\n'
            "        except NameError:\n"
            "            pass\n"
            f"_orbit_adopt({_q(str(cwd))}, {_q(session)}); del _orbit_adopt\n"
        )


class IPythonRecipe(_PythonAdopt, KernelRecipe):
    name = "python"
    order = 10
    display_name = "Python 3 (ipykernel)"
    language = "python"
    kernelspec_name = "python3"
    aliases = ("python3", "python", "ipython", "ipykernel")
    description = "IPython, the reference Python kernel"
    logo = "python.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("ipykernel",)}
    ecosystems: ClassVar[dict[str, str] | None] = {"pypi": "", "conda": "", "apt": ""}
    add_to: ClassVar[str | None] = "pypi"
    language_info: ClassVar[dict[str, str]] = {"name": "python", "file_extension": ".py"}
    smoke_code = "print(6 * 7)"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        return [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]

    def warm_argv(self, argv: list[str], imports: Sequence[str]) -> list[str] | None:
        code = self.warm_code(imports)
        if code is None or argv[1:] != self.argv(Path(), Path())[1:]:  # another engine's
            return None
        # IPython runs it before the kernel answers, without a history entry
        return [*argv, f"--IPKernelApp.code_to_run={code}"]


class XeusPythonRecipe(_PythonAdopt, KernelRecipe):
    name = "xpython"
    order = 20
    display_name = "Python 3 (xeus-python)"
    language = "python"
    kernelspec_name = "xpython"
    aliases = ("xpython", "xeus-python")
    description = "xeus-python, a C++ Python kernel with a built-in debugger"
    logo = "xpython.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("xeus-python",)}
    ecosystems: ClassVar[dict[str, str] | None] = {"pypi": "", "conda": "", "apt": ""}
    add_to: ClassVar[str | None] = "pypi"
    language_info: ClassVar[dict[str, str]] = {"name": "python", "file_extension": ".py"}
    smoke_code = "import sys\nprint(6 * 7, file=sys.stdout)"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        return [str(python), "-m", "xpython_launcher", "-f", "{connection_file}"]


class BashRecipe(KernelRecipe):
    name = "bash"
    order = 30
    display_name = "Bash"
    language = "bash"
    kernelspec_name = "bash"
    aliases = ("bash", "bash_kernel", "shell", "sh")
    description = "the Bash shell, one session per notebook"
    logo = "bash.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("bash_kernel",)}
    ecosystems: ClassVar[dict[str, str] | None] = {"apt": ""}
    system = (
        SystemRequirement("bash", "bash", ("bash",), "install bash with your package manager"),
    )
    language_info: ClassVar[dict[str, str]] = {"name": "bash", "file_extension": ".sh"}
    smoke_code = "echo $((6 * 7))"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        return [str(python), "-m", "bash_kernel", "-f", "{connection_file}"]

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        q = "'" + str(cwd).replace("'", "'\\''") + "'"
        s = "'" + session.replace("'", "'\\''") + "'"
        return f"cd {q} && export JPY_SESSION_NAME={s}"


class DenoRecipe(KernelRecipe):
    """TypeScript and JavaScript through ``deno jupyter``, Deno taken from PyPI's ``deno`` wheel.

    Never ``deno jupyter --install``: that writes a kernelspec into the user's Jupyter data
    folder. The profile carries the kernelspec, and the kernel is started directly.
    """

    name = "deno"
    order = 40
    display_name = "TypeScript (Deno)"
    language = "typescript"
    kernelspec_name = "deno"
    aliases = ("deno", "typescript", "javascript", "ts", "js", "tslab", "nodejs", "ijavascript")
    description = "TypeScript and JavaScript with Deno"
    logo = "deno.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"pypi": ("deno",)}
    ecosystems: ClassVar[dict[str, str] | None] = {"npm": ""}
    language_info: ClassVar[dict[str, str]] = {"name": "typescript", "file_extension": ".ts"}
    # An expression: its result is part of the reply (console.log output is forwarded by Deno
    # asynchronously and may come after the kernel reports idle).
    smoke_code = "const answer: number = 6 * 7;\nanswer"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        deno = python.parent / ("deno.exe" if os.name == "nt" else "deno")
        return [str(deno), "jupyter", "--kernel", "--conn", "{connection_file}"]

    def kernel_env(self, env_prefix: Path, *, which: Which = shutil.which) -> dict[str, str]:
        return {"DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PROMPT": "1"}

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        return f"Deno.chdir({_q(str(cwd))}); Deno.env.set('JPY_SESSION_NAME', {_q(session)});"


class IRRecipe(KernelRecipe):
    """R through IRkernel, both from the system (Debian's r-base-core and r-cran-irkernel)."""

    name = "r"
    order = 50
    display_name = "R (IRkernel)"
    language = "R"
    kernelspec_name = "ir"
    aliases = ("ir", "r", "irkernel")
    description = "R with IRkernel"
    logo = "r.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {"apt": ("r-base-core", "r-cran-irkernel")}
    ecosystems: ClassVar[dict[str, str] | None] = {"conda": "r-", "apt": "r-cran-"}
    system = (
        SystemRequirement("R", "R", ("r-base-core",), "install R from https://cran.r-project.org"),
        SystemRequirement(
            "IRkernel (an R package)",
            "Rscript",
            ("r-cran-irkernel",),
            "R -e \"install.packages('IRkernel')\"",
            probe=("-e", "quit(status = !requireNamespace('IRkernel', quietly = TRUE))"),
            # R's usual library folders (Debian, CRAN's builds, Homebrew, the user's own),
            # looked at before asking R itself, which takes a second or two to start
            files=tuple(
                f"{lib}/IRkernel/DESCRIPTION"
                for lib in (
                    "/usr/lib/R/site-library",
                    "/usr/lib/R/library",
                    "/usr/local/lib/R/site-library",
                    "/Library/Frameworks/R.framework/Resources/library",
                    "/opt/homebrew/lib/R/*/site-library",
                    "/usr/local/lib/R/*/site-library",
                    "~/R/*/*",
                    "~/Library/R/*/*/library",
                )
            ),
        ),
    )
    language_info: ClassVar[dict[str, str]] = {"name": "R", "file_extension": ".r"}
    smoke_code = "cat(6 * 7, '\\n')"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        r = self.tool("R", which)
        return [r, "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"]

    def kernel_env(self, env_prefix: Path, *, which: Which = shutil.which) -> dict[str, str]:
        # R packages the environment may hold (a container engine installs them there).
        library = env_prefix / "lib" / "R" / "library"
        return {"R_LIBS_USER": str(library)} if library.is_dir() else {}

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        return f"setwd({_q(str(cwd))}); Sys.setenv(JPY_SESSION_NAME = {_q(session)}); invisible()"


class OctaveRecipe(KernelRecipe):
    name = "octave"
    order = 60
    display_name = "Octave"
    language = "octave"
    kernelspec_name = "octave"
    aliases = ("octave", "matlab")
    description = "GNU Octave, a MATLAB-compatible language"
    logo = "octave.svg"
    packages: ClassVar[dict[str, tuple[str, ...]]] = {
        "pypi": ("octave_kernel",),
        "apt": ("octave",),
    }
    ecosystems: ClassVar[dict[str, str] | None] = {"apt": "octave-"}
    system = (
        SystemRequirement(
            "GNU Octave", "octave-cli", ("octave",), "install GNU Octave from https://octave.org"
        ),
    )
    language_info: ClassVar[dict[str, str]] = {"name": "octave", "file_extension": ".m"}
    smoke_code = "disp(6 * 7)"
    smoke_output = "42"

    def argv(self, env_prefix: Path, python: Path, *, which: Which = shutil.which) -> list[str]:
        return [str(python), "-m", "octave_kernel", "-f", "{connection_file}"]

    def kernel_env(self, env_prefix: Path, *, which: Which = shutil.which) -> dict[str, str]:
        return {"OCTAVE_EXECUTABLE": self.tool("octave-cli", which)}

    def adopt_code(self, cwd: Path, session: str) -> str | None:
        cwd_s, session_s = (str(cwd).replace("'", "''"), session.replace("'", "''"))
        return f"cd('{cwd_s}'); setenv('JPY_SESSION_NAME', '{session_s}');"


DEFAULT = "python"


def recipe_classes() -> dict[str, type[KernelRecipe]]:
    """Every recipe that loads, in menu order."""
    found = RECIPES.classes()
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def _aliases(classes: dict[str, type[KernelRecipe]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, cls in classes.items():
        for key in (name, cls.kernelspec_name, *cls.aliases):
            out.setdefault(key.lower(), name)
    return out


def find_recipe(name: str) -> KernelRecipe | None:
    """The recipe answering to ``name`` (its name, kernelspec name or an alias, any case):
    Orbit's own are looked at first, other packages' only when none of those answers."""
    key = name.strip().lower()
    if key in RECIPES.own():  # a recipe's own name: load that one alone (no alias collides)
        return RECIPES.load(key)()
    own = {n: RECIPES.load(n) for n in RECIPES.own()}
    found = _aliases(own).get(key)
    if found is None:
        classes = recipe_classes()
        found = _aliases(classes).get(key)
        return classes[found]() if found else None
    return own[found]()


def get_recipe(name: str) -> KernelRecipe:
    """The recipe for a recipe name, a kernelspec name or a language (any case)."""
    recipe = find_recipe(name)
    if recipe is None:
        raise InputError(
            f"unknown kernel {name!r}", f"use one of: {', '.join(sorted(RECIPES.names()))}"
        )
    return recipe


def recipe_for(candidates: list[str]) -> KernelRecipe:
    """The first of ``candidates`` (kernelspec name, then languages) that a recipe serves."""
    for c in candidates:
        if recipe := find_recipe(c):
            return recipe
    return get_recipe(candidates[0] if candidates else DEFAULT)
