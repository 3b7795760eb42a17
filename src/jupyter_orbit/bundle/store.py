"""Bundles installed on this machine (``ORBIT_HOME/bundles``) and several of them layered.

Each installed bundle is a read-only folder named by its manifest's sha256 (so the same bundle
installed twice is one folder), holding ``manifest.json`` and the members, verified on the way
in (``archive.extract``). ``layers.json`` keeps the order they were installed in; ``layers()``
combines them into one view per kind, which the stand-in registries serve. Two bundles that
carry a file of the same name with different contents cannot be layered: that is an error naming
both, never a silent choice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.bundle import archive
from jupyter_orbit.bundle.archive import Manifest, Member
from jupyter_orbit.errors import InputError
from jupyter_orbit.progress import NullProgress, Progress

_ORDER = "layers.json"
_ID_LEN = 16


@dataclass(frozen=True)
class InstalledBundle:
    root: Path
    manifest: Manifest

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def label(self) -> str:
        return f"{self.manifest.name or 'bundle'} ({self.id})"

    def file(self, member: Member) -> Path:
        return self.root / member.path


@dataclass(frozen=True)
class Layered:
    """One file as the layers offer it: which bundle, which member, where on disk."""

    bundle: InstalledBundle
    member: Member

    @property
    def path(self) -> Path:
        return self.bundle.file(self.member)


class Layers:
    """Several installed bundles seen as one (order: first installed first)."""

    def __init__(self, bundles: Iterable[InstalledBundle]) -> None:
        self.bundles = tuple(bundles)
        seen: dict[str, Layered] = {}
        for b in self.bundles:
            for m in b.manifest.members:
                key = m.path.lower()
                if (old := seen.get(key)) is not None and old.member.sha256 != m.sha256:
                    raise InputError(
                        f"bundles {old.bundle.label} and {b.label} both carry {m.path}, with "
                        "different contents",
                        f"remove one of them (`orbit bundle remove {b.id}`)",
                    )
                seen.setdefault(key, Layered(b, m))
        self._files = tuple(sorted(seen.values(), key=lambda f: f.member.path))

    def files(self, kind: str) -> list[Layered]:
        return [f for f in self._files if f.member.kind == kind]

    def names(self, kind: str) -> list[str]:
        return [f.member.name for f in self.files(kind)]

    def check(self, *, hashes: bool = False) -> None:
        """Each layer's files are still as installed (sizes; sha256 too with ``hashes``)."""
        for b in self.bundles:
            archive.check_installed(b.root, b.manifest, hashes=hashes)


class BundleStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _lock(self):
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"))

    def _order(self) -> list[str]:
        try:
            data = json.loads((self.root / _ORDER).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [i for i in data if isinstance(i, str)] if isinstance(data, list) else []

    def installed(self) -> list[InstalledBundle]:
        out = []
        for bid in self._order():
            folder = self.root / bid
            if (folder / archive.MANIFEST).is_file():
                out.append(InstalledBundle(folder, archive.read_installed(folder)))
        return out

    def get(self, ref: str) -> InstalledBundle:
        """An installed bundle by id (or a unique prefix of it) or by name."""
        hits = [b for b in self.installed() if b.id.startswith(ref) or b.manifest.name == ref]
        if len(hits) != 1:
            known = ", ".join(b.label for b in self.installed()) or "none"
            what = "matches several bundles" if hits else "is not an installed bundle"
            raise InputError(f"{ref!r} {what}", f"installed: {known}")
        return hits[0]

    def install(self, source: Path, progress: Progress | None = None) -> InstalledBundle:
        """Verify ``source`` and add it as the top layer (already installed: it moves to the
        top). One pass over the file: it is unpacked into a private folder while every member
        is hashed, and that folder is renamed into place only when all of them matched."""
        import uuid

        progress = progress or NullProgress()
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = self.root / f".incoming-{uuid.uuid4().hex}"
        manifest = archive.extract(source, incoming, progress=progress)
        bid = manifest.digest[:_ID_LEN]
        folder = self.root / bid
        bundle = InstalledBundle(folder, manifest)
        with self._lock():
            others = [b for b in self.installed() if b.id != bid]
            try:
                Layers([*others, bundle])  # refuse now, not when serving, if it clashes
            except InputError:
                archive.remove_installed(incoming)
                raise
            if (folder / archive.MANIFEST).is_file():
                archive.remove_installed(incoming)
            else:
                if folder.exists():  # a leftover from an interrupted removal
                    archive.remove_installed(folder)
                incoming.replace(folder)
            atomic.write_json(self.root / _ORDER, [b.id for b in others] + [bid])
        return bundle

    def remove(self, ref: str) -> InstalledBundle:
        bundle = self.get(ref)
        with self._lock():
            atomic.write_json(self.root / _ORDER, [i for i in self._order() if i != bundle.id])
            archive.remove_installed(bundle.root)
        return bundle

    def layers(self) -> Layers:
        return Layers(self.installed())
