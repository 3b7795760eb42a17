"""Data sets stored once per machine, by content: ``ORBIT_HOME/data/<sha256>``.

A file is fetched with pooch (which checks the sha256 while it writes into a private temporary
folder), then renamed into place read-only; an archive to unpack is unpacked beside it, into
``<sha256>.unpacked/``, also by one rename. A wrong hash or an unreachable URL is an
``OrbitError`` and leaves nothing behind. Every project that names the same hash shares the one
copy.

``place`` puts data sets into a kernel's working folder: a symbolic link to the read-only stored
copy (or a read-only copy, where links will not do), never replacing a file that is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jupyter_orbit.data.spec import DataSet
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.progress import NullProgress, Progress

_CHUNK = 2**20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _pooch():
    try:
        import pooch
    except ImportError:
        raise OrbitError(
            "pooch is not installed (Orbit fetches data sets with it)",
            "install Orbit with its data extra: jupyter-orbit[data]",
        ) from None
    pooch.get_logger().setLevel("WARNING")  # Orbit reports progress itself
    return pooch


@dataclass(frozen=True)
class DataStore:
    root: Path

    def file(self, sha256: str) -> Path:
        return self.root / sha256

    def unpacked(self, sha256: str) -> Path:
        return self.root / f"{sha256}.unpacked"

    def has(self, ds: DataSet) -> bool:
        ready = self.file(ds.sha256).is_file()
        return ready and (ds.unpack is None or self.unpacked(ds.sha256).is_dir())

    def stored(self) -> list[tuple[str, int]]:
        """(sha256, size) of every stored file."""
        if not self.root.is_dir():
            return []
        return sorted(
            (p.name, p.stat().st_size)
            for p in self.root.iterdir()
            if p.is_file() and len(p.name) == 64 and not p.name.startswith(".")
        )

    def _tmp(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))

    def _commit(self, tmp_file: Path, sha256: str) -> Path:
        target = self.file(sha256)
        tmp_file.chmod(0o444)
        if not target.is_file():
            tmp_file.replace(target)
        return target

    def fetch(self, ds: DataSet, *, progress: Progress | None = None) -> Path:
        """The stored file of ``ds``, downloaded and verified first if it is not here yet."""
        progress = progress or NullProgress()
        if not self.file(ds.sha256).is_file():
            if not ds.url:
                raise InputError(
                    f"data set {ds.name} is not in the data store and has no URL to fetch it from",
                    "add it again from its file (`orbit data add FILE`) or install a bundle "
                    "that carries it",
                )
            progress.step("fetching data", f"{ds.name} from {ds.url}")
            self._download(ds.url, ds.sha256, name=ds.name)
        if ds.unpack and not self.unpacked(ds.sha256).is_dir():
            progress.step("unpacking data", ds.name)
            self._unpack(ds)
        return self.file(ds.sha256)

    def _download(self, url: str, sha256: str | None, *, name: str) -> tuple[Path, str]:
        pooch = _pooch()
        tmp = self._tmp()
        try:
            try:
                got = Path(
                    pooch.retrieve(
                        url,
                        known_hash=f"sha256:{sha256}" if sha256 else None,
                        fname="download",
                        path=tmp,
                        progressbar=False,
                    )
                )
            except ValueError as e:
                if "hash" in str(e).lower():
                    raise OrbitError(
                        f"data set {name}: {url} does not match its sha256",
                        "the file at that URL changed: check it, then `orbit data add` it again "
                        "to record the new hash",
                    ) from None
                raise
            except Exception as e:  # requests' errors: no route, DNS, HTTP status
                raise OrbitError(
                    f"data set {name}: cannot fetch {url} ({type(e).__name__}: {e})"[:400],
                    "check the URL and the network; nothing was stored",
                ) from None
            digest = sha256_of(got)
            if sha256 and digest != sha256:  # pooch checked already; never trust one layer
                raise OrbitError(f"data set {name}: {url} does not match its sha256", None)
            return self._commit(got, digest), digest
        finally:
            _remove(tmp)

    def add_url(self, url: str, *, name: str, progress: Progress | None = None) -> tuple[Path, str]:
        """Download ``url`` (no hash known yet) into the store: (stored file, its sha256)."""
        (progress or NullProgress()).step("fetching data", url)
        return self._download(url, None, name=name)

    def add_file(self, source: Path) -> tuple[Path, str]:
        """Copy a local file into the store: (stored file, its sha256)."""
        if not source.is_file():
            raise InputError(f"{source}: no such file", "give a file or an http(s) URL")
        tmp = self._tmp()
        try:
            copy = tmp / "file"
            shutil.copyfile(source, copy)
            digest = sha256_of(copy)
            return self._commit(copy, digest), digest
        finally:
            _remove(tmp)

    def _unpack(self, ds: DataSet) -> Path:
        tmp = self._tmp()
        try:
            out = tmp / "unpacked"
            try:
                if ds.unpack == "zip":
                    import zipfile

                    # zipfile drops absolute paths and ".." from names, and makes no links
                    with zipfile.ZipFile(self.file(ds.sha256)) as z:
                        z.extractall(out)
                else:
                    # filter="data" refuses absolute paths, "..", links out and device files
                    shutil.unpack_archive(self.file(ds.sha256), out, format="tar", filter="data")
            except Exception as e:
                raise OrbitError(
                    f"data set {ds.name} cannot be unpacked as {ds.unpack}: {e}",
                    "fix or remove `unpack` in its entry",
                ) from None
            _read_only(out)
            target = self.unpacked(ds.sha256)
            if not target.is_dir():
                out.replace(target)
            return target
        finally:
            _remove(tmp)


def _read_only(folder: Path) -> None:
    for p in sorted(folder.rglob("*"), reverse=True):
        if p.is_symlink():
            continue
        p.chmod(0o555 if p.is_dir() else 0o444)
    folder.chmod(0o555)


def _remove(path: Path) -> None:
    def fix(func, p, _exc) -> None:  # noqa: ANN001
        with contextlib.suppress(OSError):
            Path(p).parent.chmod(0o755)
            func(p)

    if path.exists():
        for p in [path, *path.rglob("*")]:
            with contextlib.suppress(OSError):
                if p.is_dir() and not p.is_symlink():
                    p.chmod(0o755)
        shutil.rmtree(path, onerror=fix)


@dataclass(frozen=True)
class Placed:
    name: str
    target: Path
    how: str  # "linked", "copied", "already there"


def place(
    datasets: Iterable[DataSet],
    store: DataStore,
    folder: Path,
    *,
    copy: bool = False,
    progress: Progress | None = None,
) -> list[Placed]:
    """Put each data set into ``folder`` (a kernel's working folder) as ``folder/<name>``:
    a link to the stored, read-only copy, or a read-only copy with ``copy``. Fetches what is
    missing first. A file of that name that is something else is left alone (an error)."""
    out = []
    for ds in datasets:
        store.fetch(ds, progress=progress)
        source = store.unpacked(ds.sha256) if ds.unpack else store.file(ds.sha256)
        target = folder / ds.name
        if target.is_symlink() and target.resolve() == source.resolve():
            out.append(Placed(ds.name, target, "already there"))
            continue
        if target.exists() or target.is_symlink():
            if not target.is_dir() and not ds.unpack and sha256_of(target) == ds.sha256:
                out.append(Placed(ds.name, target, "already there"))
                continue
            raise InputError(
                f"{target} exists and is not data set {ds.name}",
                "move it away, or give the data set another name",
            )
        folder.mkdir(parents=True, exist_ok=True)
        if copy:
            tmp = folder / f".{ds.name}.orbit-tmp"
            if ds.unpack:
                shutil.copytree(source, tmp)
                _read_only(tmp)
            else:
                shutil.copyfile(source, tmp)
                tmp.chmod(0o444)
            tmp.replace(target)
            out.append(Placed(ds.name, target, "copied"))
        else:
            target.symlink_to(source)
            out.append(Placed(ds.name, target, "linked"))
    return out
