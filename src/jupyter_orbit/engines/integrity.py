"""Is an environment still what was installed? Each package's ``RECORD`` says.

Every installed distribution lists its files with their SHA-256 in ``*.dist-info/RECORD``
(written by the installer from the wheel). ``verify`` hashes each listed file again and reports
the ones that changed or went missing: a kernel (or a person) that edited an installed file in
place. ``shared`` counts the package files that are hardlinked elsewhere (uv's cache, other
environments), where such an edit would reach every environment that links the file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_orbit.pythons import site_packages


@dataclass
class Report:
    location: Path
    checked: int = 0
    changed: list[str] = field(default_factory=list)  # paths relative to the environment
    missing: list[str] = field(default_factory=list)
    shared: int = 0  # files hardlinked elsewhere (uv's cache, other environments)

    @property
    def intact(self) -> bool:
        return not self.changed and not self.missing


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def _records(site: Path) -> list[tuple[str, str]]:
    """(path relative to ``site``, expected hash) of every hashed file every RECORD lists."""
    out = []
    for record in sorted(site.glob("*.dist-info/RECORD")):
        try:
            text = record.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for row in csv.reader(io.StringIO(text)):
            if len(row) >= 2 and row[1].startswith("sha256="):
                out.append((row[0], row[1]))
    return out


def verify(location: Path) -> Report:
    """Hash every recorded file of the environment at ``location`` again."""
    report = Report(location)
    for site in site_packages(location):
        for rel, expected in _records(site):
            path = Path(os.path.normpath(site / rel))
            shown = os.path.relpath(path, location)
            try:
                actual = _digest(path)
                links = path.stat().st_nlink
            except FileNotFoundError:
                report.missing.append(shown)
                continue
            except OSError:
                report.changed.append(shown)
                continue
            report.checked += 1
            if actual != expected:
                report.changed.append(shown)
            if links > 1:
                report.shared += 1
    return report
