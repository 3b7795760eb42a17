"""Debian packages: searched in the local apt cache, written to apt.txt, and never installed
by the local engine — it checks what dpkg has and prints the exact command for the rest. A
kernel image installs them in a stage of its own (``image_stage``)."""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.ecosystems.base import (
    Ecosystem,
    Found,
    Hit,
    ImageStage,
    Prefix,
    names_of,
    tier,
)
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import EnvSpec, Origin, Requirement, Step

# Debian policy 5.6.1 (names), dpkg's architecture names, and 5.6.12 (versions).
APT_NAME = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?::(?P<arch>[a-z0-9-]+))?(?:=(?P<version>[A-Za-z0-9.+~:_-]+))?$"
)
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
    display_name: ClassVar[str] = "Debian"
    files: ClassVar[tuple[str, ...]] = ("apt.txt",)
    new_file: ClassVar[str | None] = "apt.txt"
    order: ClassVar[int] = 10
    installed_locally: ClassVar[bool] = False
    check_hint: ClassVar[str] = (
        "check the Debian package names (packages.debian.org, bookworm) where they are declared"
    )

    @classmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        """One apt package spec; the name and arch are lowercased, a version kept as written."""
        head, eq, version = text.strip().partition("=")
        spec = head.lower() + eq + version
        m = APT_NAME.match(spec)
        if not m:
            raise InputError(
                f"not a Debian package name: {text.strip()!r}",
                "use lowercase letters, digits and + - . (at least two characters), "
                "optionally followed by :arch or =version",
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            )
        return Requirement("apt", m.group("name"), spec, origin)

    @classmethod
    def key(cls, text: str) -> str:
        return text.strip().split("=")[0].split(":")[0].lower()

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        out = Found(self.name)
        q = query.strip().lower()
        index = AptIndex(self.cache)
        if not index.ready():
            if not shutil.which("apt-cache"):
                out.error = "apt-cache is not installed (not a Debian-based system)"
            else:
                out.stale = True
                out.notes.append("the apt cache is empty: run `apt-get update`")
            return out
        found = []
        for name, version, summary in index.search(q):
            if prefix and not name.startswith(prefix):
                continue
            t = tier(name, prefix + q, summary=summary)
            if prefix and t > 3 and name.startswith(prefix) and q in name[len(prefix) :]:
                t = 3
            found.append((t, len(name), name, version, summary))
        found.sort()
        out.hits = [Hit(self.name, n, v, s, None, t) for t, _, n, v, s in found[:limit]]
        return out

    def versions(self, names: Sequence[str]) -> dict[str, str]:
        """The candidate version of each package (the index, else ``apt-cache show``)."""
        if not names:
            return {}
        if found := AptIndex(self.cache).versions(names):
            return found
        r = _run(["apt-cache", "show", "--no-all-versions", *names])
        out, current = {}, None
        for line in r.stdout.splitlines():
            if line.startswith("Package: "):
                current = line[9:].strip()
            elif line.startswith("Version: ") and current:
                out.setdefault(current, line[9:].strip())
        return out

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

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        """``name=version`` of what is installed here (else the candidate apt would install)."""
        names = [r.name for r in requirements]
        have = installed(names)
        candidates = self.versions([n for n in names if n not in have])
        return "".join(f"{n}={have.get(n) or candidates.get(n, '')}\n" for n in names)

    def local_steps(self, spec: EnvSpec) -> list[Step]:
        reqs = spec.packages(self.name)
        return [CheckStep(f"Debian packages present: {names_of(reqs)}", reqs)]

    def local_warnings(self, spec: EnvSpec) -> list[str]:
        """What the local engine cannot honour for Debian packages."""
        if spec.as_of and (reqs := spec.packages(self.name)):
            return [
                f"Debian packages are used as this machine has them, not as of {spec.as_of}: "
                f"the local engine cannot honour the date for {names_of(reqs)}"
            ]
        return []

    @classmethod
    def image_stage(cls, spec: EnvSpec, constraints: Sequence[str] = ()) -> ImageStage:
        """Installed in place, in a stage of their own (their layer is shared by every image
        with the same Debian packages)."""
        from jupyter_orbit.imagelayout import APT_CLEAN, SPEC_DIR, run

        names = sorted(r.text for r in spec.packages(cls.name))
        build = (
            f"COPY apt.txt {SPEC_DIR}/apt.txt",
            run(
                "apt-get update",
                f"xargs -a {SPEC_DIR}/apt.txt apt-get install -y --no-install-recommends",
                APT_CLEAN,
            ),
        )
        return ImageStage("apt", (("apt.txt", ("\n".join(names) + "\n").encode()),), build)


@dataclass(frozen=True)
class CheckStep(Step):
    """On this machine Debian packages are never installed: check what dpkg has, and warn with
    the exact command for the rest."""

    ACTION: ClassVar[str] = "check-apt"
    requirements: tuple[Requirement, ...] = ()

    def run(self, build: Prefix) -> None:
        if missing := missing_packages([r.name for r in self.requirements]):
            build.progress.warn(missing_hint(missing))


def missing_packages(names: Sequence[str]) -> list[str]:
    """Which of ``names`` dpkg does not have installed (all of them if dpkg is absent)."""
    have = installed([n.split("=")[0] for n in names])
    return [n.split("=")[0] for n in names if n.split("=")[0] not in have]


def missing_hint(missing: Sequence[str]) -> str:
    sudo = "" if os.name != "posix" or os.geteuid() == 0 else "sudo "
    return (
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


class AptIndex:
    """Name, candidate version and summary of every package in apt's lists, as one text file.

    apt-cache re-reads every list on each call when its binary cache is off (as in Debian's
    container images), which takes seconds; this index is rebuilt only when the lists change
    (``apt-helper cat-file`` reads them whatever their compression) and searched in
    milliseconds.
    """

    LISTS = Path("/var/lib/apt/lists")

    def __init__(self, cache: Path) -> None:
        self.file = cache / "index.tsv"
        # The same bytes with ASCII letters lowered (offsets equal): what a search scans.
        self.lowered = cache / "index.lower.tsv"
        self.meta = cache / "index.json"
        self._raw: bytes | None = None
        self._ready: bool | None = None

    def _lists(self) -> list[Path]:
        try:
            found = [p for p in self.LISTS.iterdir() if "_Packages" in p.name]
        except OSError:
            return []
        # Later lists win a name: the main archive first, then updates, then security.
        return sorted(found, key=lambda p: ("security" in p.name, "updates" in p.name, p.name))

    def ready(self) -> bool:
        """Whether there is an index (apt has lists), rebuilt first if the lists changed."""
        if self._ready is not None:
            return self._ready
        import json

        lists = self._lists()
        if not lists:
            self._ready = False
            return False
        signature = [[p.name, p.stat().st_mtime_ns, p.stat().st_size] for p in lists]
        try:
            if json.loads(self.meta.read_text()) == signature and self.lowered.exists():
                self._ready = True
                return True
        except (OSError, ValueError):
            pass
        from jupyter_orbit import atomic

        data = self._build(lists).encode()
        atomic.write_bytes(self.file, data)
        atomic.write_bytes(self.lowered, data.lower())
        atomic.write_json(self.meta, signature)
        self._raw = b"\n" + data
        self._ready = True
        return True

    def load(self) -> str | None:
        raw = self.load_bytes()
        return None if raw is None else raw.decode("utf-8", "replace")

    def load_bytes(self) -> bytes | None:
        """The index as UTF-8 bytes, each line framed by newlines; read once per instance."""
        if self._raw is None and self.ready():
            self._raw = b"\n" + self.file.read_bytes()
        return self._raw

    @staticmethod
    def _build(lists: list[Path]) -> str:
        helper = "/usr/lib/apt/apt-helper"
        packages: dict[str, tuple[str, str]] = {}
        for path in lists:
            if path.suffix in ("", ".txt") or not Path(helper).exists():
                stream = path.read_text(errors="replace")
            else:
                stream = _run([helper, "cat-file", str(path)]).stdout
            name = version = summary = ""
            for line in stream.splitlines():
                if line.startswith("Package: "):
                    name = line[9:].strip()
                elif line.startswith("Version: "):
                    version = line[9:].strip()
                elif line.startswith("Description: "):
                    summary = line[13:].strip()
                elif not line and name:
                    packages[name] = (version, summary.replace("\t", " "))
                    name = version = summary = ""
            if name:
                packages[name] = (version, summary)
        return "".join(f"{n}\t{v}\t{s}\n" for n, (v, s) in sorted(packages.items()))

    def search(self, query: str) -> list[tuple[str, str, str]]:
        """Lines whose text contains ``query`` (lower case), any case. An ASCII query is looked
        for in the lowered copy, mapped where it lies, and the line read from the index at the
        same offsets: nothing is read whole, nothing decoded but the lines found."""
        if not self.ready():
            return []
        if query.isascii():
            try:
                with (
                    self.file.open("rb") as f,
                    self.lowered.open("rb") as g,
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as blob,
                    mmap.mmap(g.fileno(), 0, access=mmap.ACCESS_READ) as low,
                ):
                    if len(blob) == len(low):  # not caught between two rebuilds
                        return _lines(blob, low, query.encode(), b"\n")
            except (OSError, ValueError):  # ValueError: an empty file (nothing to map)
                pass
        blob = self.load() or ""
        return _lines(blob, blob.lower(), query, "\n")

    def versions(self, names: Sequence[str]) -> dict[str, str]:
        blob = self.load() or ""
        out = {}
        for n in names:
            i = blob.find(f"\n{n}\t")
            if i >= 0:
                out[n] = blob[i + len(n) + 2 : blob.find("\t", i + len(n) + 2)]
        return out


def _lines(blob: Any, low: Any, query: Any, nl: Any) -> list[tuple[str, str, str]]:
    """(name, version, summary) of each line of ``blob`` where ``low`` (its lowered twin, the
    same length) contains ``query``: str or bytes alike."""
    out = []
    pos = low.find(query)
    while pos >= 0:
        start = low.rfind(nl, 0, pos) + 1
        end = low.find(nl, pos)
        end = len(low) if end < 0 else end
        line = blob[start:end]
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        name, _, rest = line.partition("\t")
        version, _, summary = rest.partition("\t")
        out.append((name, version, summary))
        pos = low.find(query, end)
    return out
