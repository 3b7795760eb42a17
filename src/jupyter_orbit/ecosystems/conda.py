"""conda through py-rattler (the library pixi uses): search channels, solve, lock, install.

Channels come from ``ORBIT_CONDA_CHANNELS`` (comma-separated names, URLs or local folders),
else conda-forge. When no channel answers (or py-rattler is not installed), searching says so,
and environment.yml's conda packages keep being mapped to PyPI names, as the foundation does.
rattler runs in a child process (see ``_rattler_worker``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.ecosystems.base import (
    Ecosystem,
    Found,
    Hit,
    InstallStep,
    Prefix,
    names_of,
    tier,
)
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import EnvSpec, Origin, Requirement, Step

PREFIX_DIR = "conda"  # conda packages' own prefix inside a local environment
_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)")
RETRY_AFTER = 600  # seconds before an unreachable channel is asked again
MAPPED = "conda packages are mapped to PyPI names (as for environment.yml without a channel)"
NO_RATTLER = (
    "py-rattler is not installed, so conda channels cannot be used",
    "install it: `uv tool install 'jupyter-orbit[conda]'` (or pip install py-rattler)",
)


class RattlerError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def package_name(text: str) -> str | None:
    """The package name of a conda match spec (channel and version dropped), if it has one."""
    m = _NAME.match(text.strip().split("::")[-1].strip())
    return m.group("name").lower() if m else None


class Conda(Ecosystem):
    name: ClassVar[str] = "conda"
    display_name: ClassVar[str] = "conda"
    files: ClassVar[tuple[str, ...]] = ("environment.yml",)
    new_file: ClassVar[str | None] = "environment.yml"
    order: ClassVar[int] = 30

    @classmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        """A match spec, kept as written (conda reads its own specs, ORs included); rattler
        checks it when it is installed."""
        name = package_name(text)
        try:
            import rattler

            spec = rattler.MatchSpec(text.strip())
            name = spec.name.normalized if spec.name else name
        except ImportError:
            pass
        except Exception as e:
            raise InputError(
                f"not a conda match spec: {text.strip()!r} ({e})",
                "write it as conda does, for example 'numpy=1.26' or 'numpy >=1.26'",
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            ) from None
        if not name:
            raise InputError(
                f"not a conda match spec: {text.strip()!r}",
                "e.g. 'numpy=1.26'",
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            )
        return Requirement("conda", name, text.strip(), origin)

    @classmethod
    def parse_declared(cls, text: str, origin: Origin) -> Requirement:
        if not (name := package_name(text)):
            raise InputError(
                f"not a conda match spec: {text!r}",
                "write it as 'numpy=1.26' in metadata.orbit.packages.conda",
                path=origin.path,
            )
        return Requirement("conda", name, text.strip(), origin)

    @classmethod
    def key(cls, text: str) -> str:
        return package_name(text) or text

    @property
    def channels(self) -> list[str]:
        raw = self.environ.get("ORBIT_CONDA_CHANNELS", "conda-forge")
        out = []
        for c in (c.strip() for c in raw.split(",")):
            if c and (c.startswith(("/", "."))):
                c = Path(c).resolve().as_uri()
            if c:
                out.append(c)
        return out

    def _rattler(self, op: str, timeout: float = 600, **request: Any) -> Any:
        """Run one rattler operation in a child process; its answer, or ``RattlerError``."""
        self.cache.mkdir(parents=True, exist_ok=True)
        body = {"op": op, "channels": self.channels, "cache": str(self.cache / "repodata")}
        try:
            r = subprocess.run(
                # -I and a folder of Orbit's: nothing in the folder Orbit was started from (a
                # project's json.py, a .condarc) is imported or read by the worker
                [sys.executable, "-I", "-m", "jupyter_orbit.ecosystems._rattler_worker"],
                input=json.dumps({**body, **request}),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.cache,
            )
            answer = json.loads(r.stdout)
        except (subprocess.TimeoutExpired, ValueError) as e:
            raise RattlerError("failed", f"rattler did not answer ({type(e).__name__})") from None
        if not answer["ok"]:
            raise RattlerError(answer["kind"], answer["error"])
        return answer["value"]

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        from jupyter_orbit.ecosystems._http import DiskCache

        out = Found(self.name)
        q = (prefix + query).strip().lower()
        failures = DiskCache(self.cache / "unreachable")
        key = ",".join(self.channels)
        if (seen := failures.get(key)) and seen[1] < RETRY_AFTER:
            out.error = seen[0]
            return out
        try:
            every = self._rattler("names", timeout=120)
            found = sorted((n for n in every if q in n), key=lambda n: (tier(n, q), len(n), n))
            top = found[:limit]
            latest = self._rattler("latest", names=top, timeout=120) if top else {}
        except RattlerError as e:
            if e.kind == "missing":
                out.error = f"{NO_RATTLER[0]}; {MAPPED}"
                return out
            first = str(e).strip().splitlines()[0][:200]
            out.error = f"no conda channel answered ({', '.join(self.channels)}: {first}); {MAPPED}"
            failures.put(key, out.error)  # not asked again for a while: searches stay fast
            return out
        out.hits = [Hit(self.name, n, latest.get(n), "", None, tier(n, q)) for n in top]
        return out

    def reachable(self) -> bool:
        """Whether the channels answer (and py-rattler is there to ask)."""
        try:
            self._rattler("names", timeout=120)
        except RattlerError:
            return False
        return True

    def solve(self, requirements: Sequence[Requirement]) -> list[dict[str, Any]]:
        try:
            return self._rattler("solve", specs=[r.text for r in requirements])
        except RattlerError as e:
            if e.kind == "missing":
                raise BuildError(*NO_RATTLER) from None
            raise InputError(
                f"conda cannot satisfy {', '.join(r.text for r in requirements)}: "
                + str(e).strip().splitlines()[0][:300],
                f"check the names with `orbit search NAME --in conda` (channels: "
                f"{', '.join(self.channels)})",
            ) from None

    def check_spec(
        self, spec: EnvSpec, added: Sequence[Requirement]
    ) -> tuple[list[str], list[str]]:
        """With a channel: solve the new packages. With none: check the PyPI packages they are
        read as (as environment.yml is read without a channel)."""
        if not added:
            return [], []
        if self.reachable():
            self.check(added)
            return [], []
        from dataclasses import replace

        from jupyter_orbit.ecosystems.conda_names import no_pypi, parse_match_spec, pypi_name
        from jupyter_orbit.ecosystems.pypi import PyPI, pypi_requirement
        from jupyter_orbit.model import COMMAND_LINE, dedupe

        notes, mapped = [], []
        for r in added:
            name, terms = parse_match_spec(r.text, COMMAND_LINE)
            if no_pypi(name):
                notes.append(f"{name} has no PyPI equivalent; it is not checked")
                continue
            mapped.append(pypi_requirement(pypi_name(name) + ",".join(terms), COMMAND_LINE))
        notes.append(
            "no conda channel answered; conda packages are checked (and installed) as their "
            "PyPI equivalents: " + (", ".join(m.text for m in mapped) or "none")
        )
        if not mapped:
            return [], notes
        pypi = PyPI(self.paths, self.environ)
        as_pypi = replace(spec, requirements=dedupe([*spec.requirements, *mapped]))
        pins, more = pypi.check_spec(as_pypi, mapped)
        return pins, notes + more

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Solve the requirements together: a missing name or impossible range is refused."""
        self.solve(requirements)

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """One line per package: ``url#sha256`` (the explicit-file format conda reads)."""
        records = sorted(self.solve(requirements), key=lambda r: r["name"])
        lines = ["@EXPLICIT"]
        lines += [f"{r['url']}#{r['sha256']}" if r["sha256"] else r["url"] for r in records]
        return "\n".join(lines) + "\n"

    def local_steps(self, spec: EnvSpec) -> list[Step]:
        reqs = spec.packages(self.name)
        return [
            InstallStep(f"into the environment's conda/ prefix: {names_of(reqs)}", self.name, reqs)
        ]

    def install(self, prefix: Prefix, requirements: Sequence[Requirement]) -> None:
        """Solve and install into the environment's own conda prefix (``conda-meta/`` and all),
        beside the venv: conda's Python packages are not the venv's. The paths written into the
        packages' files name the prefix's final place; link scripts run only for a trusted
        project, as npm's install scripts do."""
        target, final = prefix.path / PREFIX_DIR, prefix.final / PREFIX_DIR
        prefix.progress.log(f"{len(requirements)} conda packages into {target}")
        try:
            self._rattler(
                "install",
                specs=[r.text for r in requirements],
                prefix=str(target),
                pkgs=str(self.paths.cache_dir / "conda-pkgs"),
                scripts=prefix.trusted,
                final_prefix=str(final),
            )
        except RattlerError as e:
            hint = (
                "install it with `pip install 'jupyter-orbit[conda]'`"
                if e.kind == "missing"
                else f"check that {', '.join(self.channels)} can be reached, or set "
                "ORBIT_CONDA_CHANNELS to channels this machine reaches"
            )
            names = ", ".join(r.name for r in requirements)
            message = f"conda packages ({names}) could not be installed: {e}"
            raise BuildError(message, hint) from None

    def kernel_env(self, location: Path, environ: Mapping[str, str]) -> dict[str, str]:
        """The conda packages' programs before the system's, and ``CONDA_PREFIX``."""
        conda = location / PREFIX_DIR
        if not (conda / "conda-meta").is_dir():
            return {}
        path = environ.get("PATH") or os.environ.get("PATH", os.defpath)
        return {"PATH": f"{conda / 'bin'}{os.pathsep}{path}", "CONDA_PREFIX": str(conda)}
