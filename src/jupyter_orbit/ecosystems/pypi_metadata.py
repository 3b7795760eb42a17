"""Old releases whose metadata uv cannot read, repaired.

Releases of the 2010s sometimes declare dependencies in forms PEP 440 no longer allows (pandas
before 0.25 asks for ``pytz (>=2011k)``). uv treats such a release as unusable and, without a
word, takes an older one: an unpinned pandas resolved as of 2018 becomes pandas 0.13.1, built
from source. Orbit notices the skipped releases (uv reports them when asked to be verbose),
reads their metadata from the index's JSON API, mends each requirement that does not parse
(``>=2011k`` → ``>=2011``; one that still does not parse is dropped), and keeps the result as uv
``dependency-metadata`` in a configuration file of its own, which every later resolution is
given (``args``). Nothing in a project folder is involved; the file lives in the data root's
cache.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from jupyter_orbit import atomic
from jupyter_orbit.paths import Paths

# uv (verbose): "`pandas==0.23.4` has invalid metadata: …"
INVALID = re.compile(r"`(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^`\s]+)` has invalid metadata")
# uv (an error): "Metadata for `pandas` (v0.24.2) could not be parsed"
UNPARSED = re.compile(
    r"Metadata for `(?P<name>[A-Za-z0-9._-]+)` \(v(?P<version>[^)\s]+)\) could not be parsed"
)
_LEGACY_VERSION = re.compile(r"(\d+(?:\.\d+)*)[A-Za-z]+(?=[\s,);]|$)")


class MetadataRepairs:
    """The repaired metadata uv is given (``args``), and how more gets added (``repair``)."""

    def __init__(self, paths: Paths, index_url: str) -> None:
        self.file = paths.cache_dir / "pypi" / "repaired-metadata.toml"
        self.index_url = index_url

    def args(self) -> list[str]:
        return ["--config-file", str(self.file)] if self.file.is_file() else []

    def digest(self) -> str:
        """What the file holds now (part of the key of answers that depend on it)."""
        import hashlib

        try:
            return hashlib.sha256(self.file.read_bytes()).hexdigest()[:16]
        except OSError:
            return ""

    @staticmethod
    def unread(uv_output: str) -> set[tuple[str, str]]:
        """The releases ``uv_output`` says uv could not read: (name, version)."""
        return {
            (canonicalize_name(m.group("name")), m.group("version"))
            for rx in (INVALID, UNPARSED)
            for m in rx.finditer(uv_output)
        }

    def repair(self, uv_output: str) -> bool:
        """Mend every release ``uv_output`` says it could not read; True if one was added."""
        wanted = self.unread(uv_output)
        if not wanted:
            return False
        from filelock import FileLock

        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file) + ".lock"):
            entries = self._read()
            have = {(canonicalize_name(e["name"]), e["version"]) for e in entries}
            added = [
                entry
                for name, version in sorted(wanted - have)
                if (entry := self._mend(name, version)) is not None
            ]
            added = [e for e in added if _uv_reads([*entries, e])]
            if added:
                self._write(self.file, [*entries, *added])
        return bool(added)

    def _mend(self, name: str, version: str) -> dict[str, Any] | None:
        """The release's metadata, mended; None when the index cannot tell."""
        from jupyter_orbit.ecosystems._http import Unreachable

        try:
            text = release_metadata(self.index_url, name, version)
        except (Unreachable, OSError, ValueError):
            return None
        if text is None:
            return None
        from email.parser import HeaderParser

        meta = HeaderParser().parsestr(text)
        entry: dict[str, Any] = {"name": name, "version": version}
        entry["requires-dist"] = [
            fixed
            for line in meta.get_all("Requires-Dist") or []
            if (fixed := mend(str(line))) is not None
        ]
        python = meta.get("Requires-Python")
        if python and _specifier_ok(str(python)):
            entry["requires-python"] = str(python).strip()
        return entry

    def _read(self) -> list[dict[str, Any]]:
        import tomllib

        try:
            data = tomllib.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries = data.get("dependency-metadata")
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    @staticmethod
    def _write(path: Path, entries: list[dict[str, Any]]) -> None:
        import tomlkit

        doc = tomlkit.document()
        doc.add(tomlkit.comment("Written by Orbit: old releases' metadata, mended for uv."))
        table = tomlkit.aot()
        for e in entries:
            table.append(tomlkit.item(e))
        doc["dependency-metadata"] = table
        atomic.write_text(path, tomlkit.dumps(doc))


def mend(text: str) -> str | None:
    """A requirement as uv reads it: legacy version tails dropped (``>=2011k``), arbitrary
    equality in markers made plain equality; None if hopeless."""
    from packaging.requirements import InvalidRequirement, Requirement

    for candidate in (text, _LEGACY_VERSION.sub(r"\1", text)):
        try:
            req = Requirement(candidate.replace("===", "=="))
        except InvalidRequirement:
            continue
        return str(req)
    return None


def _uv_reads(entries: list[dict[str, Any]]) -> bool:
    """Whether uv accepts a configuration holding ``entries`` (a file it cannot read would
    stop every resolution)."""
    import subprocess
    import tempfile

    from jupyter_orbit.uvcli import uv_bin, uv_environ

    with tempfile.TemporaryDirectory(prefix="orbit-meta-") as tmp:
        path = Path(tmp) / "uv.toml"
        MetadataRepairs._write(path, entries)
        r = subprocess.run(
            [uv_bin(), "pip", "compile", "-", "--quiet", "--no-config", "--config-file", str(path)],
            input="",
            capture_output=True,
            text=True,
            cwd=tmp,
            env=uv_environ({"UV_OFFLINE": "1"}),
            timeout=60,
        )
    return r.returncode == 0 and "Failed to parse" not in r.stderr


def _specifier_ok(text: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def repairs_for(paths: Paths, environ: dict[str, str] | None = None) -> MetadataRepairs:
    """The repairs, reading metadata from the default index uv uses."""
    from jupyter_orbit.ecosystems.pypi import PyPI

    return MetadataRepairs(paths, PyPI(paths, environ).index_url)


def release_metadata(index_url: str, name: str, version: str) -> str | None:
    """The METADATA of a release's smallest wheel on a PEP 691 index: the index's own copy
    (PEP 658) when it has one, else read out of the wheel with range requests (a zip's table of
    contents is at its end), so a 10 MB wheel costs a few kilobytes."""
    import json

    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import Version

    from jupyter_orbit.ecosystems._http import fetch
    from jupyter_orbit.ecosystems.pypi_names import SIMPLE_JSON

    page = index_url.rstrip("/") + f"/{name}/"
    status, body, _ = fetch(page, accept=SIMPLE_JSON)
    if status >= 400:
        return None
    wheels = []
    for f in json.loads(body).get("files", []):
        try:
            _, v, _, _ = parse_wheel_filename(f["filename"])
        except (InvalidWheelFilename, KeyError):
            continue
        if v == Version(version):
            wheels.append(f)
    if not wheels:
        return None
    best = min(wheels, key=lambda f: f.get("size") or 0)
    url = _absolute(page, best["url"])
    if best.get("core-metadata") or best.get("dist-info-metadata"):
        status, body, _ = fetch(url.split("#")[0] + ".metadata", accept="*/*")
        if status < 400:
            return body.decode("utf-8", "replace")
    return _metadata_in_wheel(url.split("#")[0])


def _absolute(base: str, url: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, url)


def _metadata_in_wheel(url: str) -> str | None:
    import zipfile

    with _RangeFile(url) as remote, zipfile.ZipFile(remote) as wheel:
        names = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return wheel.read(names[0]).decode("utf-8", "replace") if names else None


class _RangeFile(io.RawIOBase):
    """A remote file read with HTTP range requests (for ``zipfile``)."""

    def __init__(self, url: str) -> None:
        import httpx

        from jupyter_orbit.ecosystems._http import USER_AGENT

        self.url = url
        self.client = httpx.Client(
            headers={"User-Agent": USER_AGENT}, follow_redirects=True, timeout=30
        )
        head = self.client.head(url)
        head.raise_for_status()
        self.size = int(head.headers["content-length"])
        self.pos = 0

    def __enter__(self) -> _RangeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        r = self.client.get(self.url, headers={"Range": f"bytes={self.pos}-{end - 1}"})
        r.raise_for_status()
        data = r.content if r.status_code == 206 else r.content[self.pos : end]
        self.pos += len(data)
        return data

    def readinto(self, buffer) -> int:  # noqa: ANN001 - what io.RawIOBase passes
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
