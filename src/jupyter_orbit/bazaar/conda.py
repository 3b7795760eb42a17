"""conda through py-rattler (the library pixi uses): search channels, solve, lock, install.

Channels come from ``ORBIT_CONDA_CHANNELS`` (comma-separated names, URLs or local folders),
else conda-forge. When no channel answers (or py-rattler is not installed), searching says so,
and environment.yml's conda packages keep being mapped to PyPI names, as the foundation does.
rattler runs in a child process (see ``_rattler_worker``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.bazaar.base import Ecosystem, Found, Hit, tier
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import Origin, Requirement
from jupyter_orbit.progress import Progress

CLI = Origin("command line", None, None, 0)
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


class Conda(Ecosystem):
    name: ClassVar[str] = "conda"
    files: ClassVar[tuple[str, ...]] = ("environment.yml",)

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
                [sys.executable, "-m", "jupyter_orbit.bazaar._rattler_worker"],
                input=json.dumps({**body, **request}),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            answer = json.loads(r.stdout)
        except (subprocess.TimeoutExpired, ValueError) as e:
            raise RattlerError("failed", f"rattler did not answer ({type(e).__name__})") from None
        if not answer["ok"]:
            raise RattlerError(answer["kind"], answer["error"])
        return answer["value"]

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        from jupyter_orbit.bazaar._http import DiskCache

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

    def normalise(self, text: str) -> Requirement:
        from jupyter_orbit.manifests.conda_env import conda_package_name

        name = conda_package_name(text)
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
            ) from None
        if not name:
            raise InputError(f"not a conda match spec: {text.strip()!r}", "e.g. 'numpy=1.26'")
        return Requirement("conda", name, text.strip(), CLI)

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

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Solve the requirements together: a missing name or impossible range is refused."""
        self.solve(requirements)

    def edit(
        self, path: Path, text: str, *, add: Sequence[Requirement] = (), remove: Sequence[str] = ()
    ) -> str:
        from jupyter_orbit.manifests import conda_env

        if path.name not in ("environment.yml", "environment.yaml"):
            return super().edit(path, text, add=add, remove=remove)
        return conda_env.edit_text(text, path=path, add=add, remove=remove, section="conda")

    def owns(self, path: Path) -> bool:
        return path.name in ("environment.yml", "environment.yaml")

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """One line per package: ``url#sha256`` (the explicit-file format conda reads)."""
        records = sorted(self.solve(requirements), key=lambda r: r["name"])
        lines = ["@EXPLICIT"]
        lines += [f"{r['url']}#{r['sha256']}" if r["sha256"] else r["url"] for r in records]
        return "\n".join(lines) + "\n"

    def install(
        self,
        prefix: Path,
        requirements: Sequence[Requirement],
        progress: Progress,
        *,
        lock: str | None = None,
        trusted: bool = False,
        final_prefix: Path | None = None,
    ) -> None:
        """Solve and install into ``prefix`` (a conda prefix: ``conda-meta/`` and all).

        ``final_prefix`` is where the prefix will be moved once built (the paths written into
        the packages' files name it instead of ``prefix``)."""
        progress.step("conda", f"{len(requirements)} packages into {prefix}")
        try:
            self._rattler(
                "install",
                specs=[r.text for r in requirements],
                prefix=str(prefix),
                pkgs=str(self.paths.cache_dir / "conda-pkgs"),
                scripts=trusted,
                final_prefix=str(final_prefix) if final_prefix else None,
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
