"""Debian packages: searched in the local apt cache, written to apt.txt, and never installed
by the local engine — it checks what dpkg has and prints the exact command for the rest. A
container engine installs them in its image with ``install_command``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.bazaar.base import Ecosystem, Found, Hit, tier
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import Origin, Requirement
from jupyter_orbit.progress import Progress

CLI = Origin("command line", None, None, 0)
_SEARCH_LINE = re.compile(r"^(?P<name>\S+) - (?P<summary>.*)$")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )


def install_command(names: Sequence[str]) -> list[str]:
    """The command that installs ``names`` (as root; ``sudo`` is the caller's to add)."""
    return ["apt-get", "install", "-y", "--no-install-recommends", *names]


class Apt(Ecosystem):
    name: ClassVar[str] = "apt"
    files: ClassVar[tuple[str, ...]] = ("apt.txt",)

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        out = Found(self.name)
        if not shutil.which("apt-cache"):
            out.error = "apt-cache is not installed (not a Debian-based system)"
            return out
        q = query.strip().lower()
        if prefix:
            r = _run(
                ["apt-cache", "search", "--names-only", f"^{re.escape(prefix)}.*{re.escape(q)}"]
            )
        else:
            r = _run(["apt-cache", "search", "--", q])
        found = []
        for line in r.stdout.splitlines():
            if m := _SEARCH_LINE.match(line):
                name, summary = m.group("name"), m.group("summary")
                found.append((tier(name, prefix + q, summary=summary), len(name), name, summary))
        if r.returncode == 0 and not r.stdout.strip() and not _has_lists():
            out.stale = True
            out.notes.append("the apt cache is empty: run `apt-get update`")
        found.sort()
        top = found[:limit]
        versions = self.versions([n for _, _, n, _ in top])
        out.hits = [Hit(self.name, n, versions.get(n), s, None, t) for t, _, n, s in top]
        return out

    @staticmethod
    def versions(names: Sequence[str]) -> dict[str, str]:
        """The candidate version of each package, from one ``apt-cache show`` call."""
        if not names:
            return {}
        r = _run(["apt-cache", "show", "--no-all-versions", *names])
        out, current = {}, None
        for line in r.stdout.splitlines():
            if line.startswith("Package: "):
                current = line[9:].strip()
            elif line.startswith("Version: ") and current:
                out.setdefault(current, line[9:].strip())
        return out

    def normalise(self, text: str) -> Requirement:
        from jupyter_orbit.manifests.apt import apt_requirement

        return apt_requirement(text, CLI)

    def check(self, requirements: Sequence[Requirement]) -> None:
        if not shutil.which("apt-cache"):
            return
        known = self.versions([r.name for r in requirements])
        for r in requirements:
            if r.name not in known and r.name not in installed([r.name]):
                raise InputError(
                    f"no Debian package named {r.name!r} in the apt cache",
                    f"check the name with `orbit search {r.name} --in apt` "
                    "(or run `apt-get update` if the cache is old)",
                )

    def edit(
        self, path: Path, text: str, *, add: Sequence[Requirement] = (), remove: Sequence[str] = ()
    ) -> str:
        from jupyter_orbit.manifests import apt

        if path.name != "apt.txt":
            return super().edit(path, text, add=add, remove=remove)
        return apt.edit_text(text, path=path, add=add, remove=remove)

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """``name=version`` of what is installed here (else the candidate apt would install)."""
        names = [r.name for r in requirements]
        have = installed(names)
        candidates = self.versions([n for n in names if n not in have])
        return "".join(f"{n}={have.get(n) or candidates.get(n, '')}\n" for n in names)

    def install(
        self,
        prefix: Path,
        requirements: Sequence[Requirement],
        progress: Progress,
        *,
        lock: str | None = None,
        trusted: bool = False,
    ) -> None:
        """On this machine: never install; warn with the exact command for what is missing."""
        names = [r.name for r in requirements]
        missing = [n for n in names if n not in installed(names)]
        if missing:
            sudo = "" if os.geteuid() == 0 else "sudo "
            progress.warn(
                f"Debian packages not installed: {', '.join(missing)}; Orbit never installs them "
                f"on this machine itself. Run: {sudo}{' '.join(install_command(missing))}"
            )


def installed(names: Sequence[str]) -> dict[str, str]:
    """Installed version of each of ``names`` that dpkg has installed."""
    if not names or not shutil.which("dpkg-query"):
        return {}
    r = _run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status} ${Version}\n", *names])
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "installed":
            out[parts[0]] = parts[2]
    return out


def _has_lists() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any(p.name.endswith("Packages") for p in lists.iterdir())


def require_apt() -> None:
    if not shutil.which("apt-cache"):
        raise BuildError("apt-cache is not available here", "apt packages need a Debian system")
