"""Which installed packages are JupyterLab extensions, and what each one provides.

Read from the installed files each distribution records: prebuilt lab extensions land in
``share/jupyter/labextensions/<name>/`` and server extensions enable themselves with a JSON file
in ``etc/jupyter/jupyter_server_config.d/``. Works on any environment's site-packages from the
outside (the command line) and on the running interpreter (inside the server).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

_LAB = ("share", "jupyter", "labextensions")
_SERVER = ("etc", "jupyter", "jupyter_server_config.d")


@dataclass(frozen=True)
class Provided:
    package: str  # canonical distribution name
    version: str
    summary: str
    labextensions: tuple[str, ...]
    server_extensions: tuple[str, ...]

    @property
    def is_extension(self) -> bool:
        return bool(self.labextensions or self.server_extensions)

    def to_dict(self) -> dict:
        return asdict(self)


def _after(parts: tuple[str, ...], marker: tuple[str, ...]) -> tuple[str, ...] | None:
    for i in range(len(parts) - len(marker) + 1):
        if parts[i : i + len(marker)] == marker:
            return parts[i + len(marker) :]
    return None


def provided_by(dist: metadata.Distribution) -> Provided:
    labs: set[str] = set()
    servers: set[str] = set()
    for f in dist.files or ():
        parts = tuple(p for p in f.parts if p not in ("..", "."))
        if (rest := _after(parts, _LAB)) and rest[-1] == "package.json":
            # <name>/package.json or @scope/<name>/package.json, not a schema's copy deeper in
            if len(rest) == 2 and not rest[0].startswith("@"):
                labs.add(rest[0])
            elif len(rest) == 3 and rest[0].startswith("@"):
                labs.add(f"{rest[0]}/{rest[1]}")
        elif (rest := _after(parts, _SERVER)) and len(rest) == 1 and rest[0].endswith(".json"):
            try:
                data = json.loads(Path(dist.locate_file(f)).read_text(encoding="utf-8"))
                enabled = data["ServerApp"]["jpserver_extensions"]
                servers |= {name for name, on in enabled.items() if on}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
    return Provided(
        canonicalize_name(dist.metadata["Name"] or ""),
        dist.version,
        (dist.metadata["Summary"] or "").strip(),
        tuple(sorted(labs)),
        tuple(sorted(servers)),
    )


def distributions(site_dirs: Iterable[Path] | None = None) -> dict[str, metadata.Distribution]:
    """Installed distributions by canonical name (of ``site_dirs``, or of this interpreter)."""
    found = (
        metadata.distributions()
        if site_dirs is None
        else metadata.distributions(path=[str(p) for p in site_dirs])
    )
    out: dict[str, metadata.Distribution] = {}
    for d in found:
        name = d.metadata["Name"]
        if name:
            out.setdefault(canonicalize_name(name), d)
    return out


def extensions(site_dirs: Iterable[Path] | None = None) -> dict[str, Provided]:
    """Every installed distribution that ships a lab extension or a server extension."""
    out = {}
    for name, dist in distributions(site_dirs).items():
        p = provided_by(dist)
        if p.is_extension:
            out[name] = p
    return dict(sorted(out.items()))
