"""What a notebook says about the data it needs: ``metadata.orbit.data``.

    "orbit": {"data": [
      {"name": "iris.csv", "url": "https://…/iris.csv", "sha256": "…"},
      {"name": "images", "url": "https://…/images.zip", "sha256": "…", "unpack": "zip"}
    ]}

``name`` is what the kernel sees in its working folder (one safe file name); ``sha256`` is the
hash of the file as downloaded; ``url`` is where to fetch it (http or https; it may be left out
for a file added from disk, which then has to come from the data store or a bundle); ``unpack``
(``zip`` or ``tar``, optional) places the archive's contents, as a folder, instead of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_orbit.errors import InputError

UNPACK = ("zip", "tar")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEYS = {"name", "url", "sha256", "unpack"}


@dataclass(frozen=True)
class DataSet:
    name: str
    sha256: str
    url: str | None = None
    unpack: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.url:
            out["url"] = self.url
        out["sha256"] = self.sha256
        if self.unpack:
            out["unpack"] = self.unpack
        return out


def check_name(name: str, *, path: Path | None = None) -> str:
    if not _NAME.match(name) or ".." in name:
        raise InputError(
            f"data set name {name!r} is not a plain file name",
            "use letters, digits and . _ - + = @ (no folders), at most 128 characters",
            path=path,
        )
    return name


def check_url(url: str, *, path: Path | None = None) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(
            f"data set URL {url!r} is not an http(s) address",
            "give an http:// or https:// URL",
            path=path,
        )
    if parts.username or parts.password:
        raise InputError(
            "a data set URL may not carry a user name or password",
            "remove the credentials from the URL (notebooks are shared)",
            path=path,
        )
    return url


def parse_entry(raw: Any, *, path: Path | None = None, index: int = 0) -> DataSet:
    where = f"metadata.orbit.data[{index}]"

    def bad(why: str) -> InputError:
        return InputError(
            f"{where} {why}", "fix the entry (or add it with `orbit data add`)", path=path
        )

    if not isinstance(raw, dict):
        raise bad("is not an object")
    if unknown := sorted(set(raw) - _KEYS):
        raise bad(f"has unknown keys: {', '.join(unknown)}")
    name, sha, url, unpack = (raw.get(k) for k in ("name", "sha256", "url", "unpack"))
    if not isinstance(name, str):
        raise bad("has no name")
    if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
        raise bad("has no valid sha256 (64 hex digits)")
    if url is not None and not isinstance(url, str):
        raise bad("has a url that is not a string")
    if unpack is not None and unpack not in UNPACK:
        raise bad(f"has unpack {unpack!r}; use one of: {', '.join(UNPACK)}")
    return DataSet(
        check_name(name, path=path),
        sha.lower(),
        check_url(url, path=path) if url else None,
        unpack,
    )


def read_entries(nb: dict[str, Any], *, path: Path | None = None) -> list[DataSet]:
    """The data sets of a parsed notebook (none when it declares none); names are unique."""
    orbit = nb.get("metadata", {}).get("orbit", {})
    raw = orbit.get("data", []) if isinstance(orbit, dict) else []
    if not isinstance(raw, list):
        raise InputError(
            "metadata.orbit.data is not a list", "fix the notebook's metadata", path=path
        )
    entries = [parse_entry(r, path=path, index=i) for i, r in enumerate(raw)]
    seen: set[str] = set()
    for e in entries:
        if e.name.lower() in seen:
            raise InputError(
                f"metadata.orbit.data names {e.name} twice",
                "give each data set its own name",
                path=path,
            )
        seen.add(e.name.lower())
    return entries


def read_notebook(path: Path) -> list[DataSet]:
    """The data sets the notebook at ``path`` declares (read as an untrusted file)."""
    import json

    from jupyter_orbit import untrusted

    text = untrusted.read_text(path, limit=untrusted.MAX_NOTEBOOK_BYTES)
    try:
        nb = untrusted.parse(json.loads, text, path=path, what=path.name, limit=None)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path.name} is not valid JSON: {e.msg}", "fix the notebook", path=path
        ) from None
    return read_entries(nb if isinstance(nb, dict) else {}, path=path)


def with_entry(entries: Iterable[DataSet], new: DataSet) -> list[DataSet]:
    """``entries`` with ``new`` replacing the one of the same name, or appended."""
    out = [e for e in entries]
    for i, e in enumerate(out):
        if e.name.lower() == new.name.lower():
            out[i] = new
            return out
    return [*out, new]
