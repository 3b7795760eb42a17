"""conda through py-rattler (the library pixi uses): search channels, solve, lock, install.

Channels come from ``ORBIT_CONDA_CHANNELS`` (comma-separated names, URLs or local folders),
else conda-forge. When no channel answers (or py-rattler is not installed), searching says so,
and environment.yml's conda packages keep being mapped to PyPI names, as the foundation does.
"""

from __future__ import annotations

import asyncio
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


def _rattler() -> Any:
    try:
        import rattler
    except ImportError:
        raise BuildError(
            "py-rattler is not installed, so conda channels cannot be used",
            "install it: `uv tool install 'jupyter-orbit[conda]'` (or pip install py-rattler)",
        ) from None
    return rattler


class Conda(Ecosystem):
    name: ClassVar[str] = "conda"
    files: ClassVar[tuple[str, ...]] = ("environment.yml",)

    @property
    def channels(self) -> list[str]:
        raw = self.environ.get("ORBIT_CONDA_CHANNELS", "conda-forge")
        out = []
        for c in (c.strip() for c in raw.split(",")):
            if c and (c.startswith("/") or c.startswith(".")):
                c = Path(c).resolve().as_uri()
            if c:
                out.append(c)
        return out

    def _platforms(self) -> list[Any]:
        rattler = _rattler()
        return [rattler.Subdir.current(), rattler.Subdir("noarch")]

    def _gateway(self) -> Any:
        return _rattler().Gateway(cache_dir=self.cache / "repodata", show_progress=False)

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
            names, latest = asyncio.run(self._search(q, limit))
        except BuildError as e:
            out.error = f"{e.message}; {MAPPED}"
            return out
        except Exception as e:  # rattler's network and parse errors have no common base
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            out.error = f"no conda channel answered ({', '.join(self.channels)}: {first}); {MAPPED}"
            failures.put(key, out.error)  # not asked again for a while: searches stay fast
            return out
        for name in names:
            out.hits.append(Hit(self.name, name, latest.get(name), "", None, tier(name, q)))
        return out

    async def _search(self, q: str, limit: int) -> tuple[list[str], dict[str, str]]:
        gateway = self._gateway()
        every = [n.normalized for n in await gateway.names(self.channels, self._platforms())]
        found = sorted((n for n in every if q in n), key=lambda n: (tier(n, q), len(n), n))
        top = found[:limit]
        latest: dict[str, str] = {}
        if top:
            result = await gateway.query(self.channels, self._platforms(), top, recursive=False)
            for records in result:
                for r in records:
                    name, version = r.name.normalized, r.version
                    if name not in latest or version > _rattler().Version(latest[name]):
                        latest[name] = str(version)
        return top, latest

    def reachable(self) -> bool:
        """Whether every channel answers (and py-rattler is there to ask)."""
        try:
            _rattler()

            async def names() -> object:
                return await self._gateway().names(self.channels, self._platforms())

            asyncio.run(names())
        except Exception:
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

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Solve the requirements together: a missing name or impossible range is refused."""
        try:
            self.solve(requirements)
        except BuildError:
            raise
        except Exception as e:
            raise InputError(
                f"conda cannot satisfy {', '.join(r.text for r in requirements)}: "
                + str(e).strip().splitlines()[0][:300],
                f"check the names with `orbit search NAME --in conda` (channels: "
                f"{', '.join(self.channels)})",
            ) from None

    def edit(
        self, path: Path, text: str, *, add: Sequence[Requirement] = (), remove: Sequence[str] = ()
    ) -> str:
        from jupyter_orbit.manifests import conda_env

        if path.name not in ("environment.yml", "environment.yaml"):
            return super().edit(path, text, add=add, remove=remove)
        return conda_env.edit_text(text, path=path, add=add, remove=remove, section="conda")

    def owns(self, path: Path) -> bool:
        return path.name in ("environment.yml", "environment.yaml")

    def solve(self, requirements: Sequence[Requirement]) -> list[Any]:
        rattler = _rattler()

        async def go() -> list[Any]:
            return await rattler.solve(
                self.channels,
                [r.text for r in requirements],
                gateway=self._gateway(),
                platforms=self._platforms(),
                virtual_packages=rattler.VirtualPackage.detect(),
            )

        return asyncio.run(go())

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """One line per package: ``url#sha256`` (the explicit-file format conda reads)."""
        records = self.solve(requirements)
        lines = ["@EXPLICIT"]
        for r in sorted(records, key=lambda r: r.name.normalized):
            lines.append(f"{r.url}#{r.sha256.hex()}" if r.sha256 else str(r.url))
        return "\n".join(lines) + "\n"

    def install(
        self,
        prefix: Path,
        requirements: Sequence[Requirement],
        progress: Progress,
        *,
        lock: str | None = None,
        trusted: bool = False,
    ) -> None:
        """Solve and install into ``prefix`` (a conda prefix: ``conda-meta/`` and all)."""
        rattler = _rattler()
        records = self.solve(requirements)
        progress.step("conda", f"{len(records)} packages into {prefix}")
        asyncio.run(
            rattler.install(
                records,
                prefix,
                cache_dir=self.paths.cache_dir / "conda-pkgs",
                show_progress=False,
                execute_link_scripts=trusted,
            )
        )
