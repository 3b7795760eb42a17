"""PyPI through uv: search (a local name index plus the JSON API for the top hits), requirement
files written round-trip, resolution and locks with hashes, exact installs."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from packaging.utils import canonicalize_name

from jupyter_orbit.bazaar._http import DiskCache, Unreachable, fetch, fetch_json
from jupyter_orbit.bazaar.base import Ecosystem, Found, Hit, tier
from jupyter_orbit.bazaar.pypi_names import REFRESH_AFTER, SIMPLE_JSON, NameIndex
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import Origin, Requirement
from jupyter_orbit.progress import Progress

PYPI = "https://pypi.org/simple/"
SUMMARY_TTL = 7 * 24 * 3600
CLI = Origin("command line", None, None, 0)


class PyPI(Ecosystem):
    name: ClassVar[str] = "pypi"
    files: ClassVar[tuple[str, ...]] = ("pyproject.toml", "requirements.txt", "environment.yml")

    @property
    def index_url(self) -> str:
        """The default index uv uses: ``UV_DEFAULT_INDEX`` / ``UV_INDEX_URL``, else PyPI."""
        url = self.environ.get("UV_DEFAULT_INDEX") or self.environ.get("UV_INDEX_URL") or PYPI
        return url.rstrip("/") + "/"

    @property
    def index_urls(self) -> list[str]:
        """Every index uv looks in, first first: ``UV_INDEX`` (extra ones), then the default."""
        extra = self.environ.get("UV_INDEX", "").split()
        urls = [u.split("=", 1)[-1].rstrip("/") + "/" for u in extra if u]
        return [*urls, self.index_url]

    @staticmethod
    def json_api(name: str, index: str) -> str:
        """Warehouse's JSON API beside a simple index (``…/pypi/NAME/json``)."""
        parts = urlsplit(index)
        base = parts.path.rstrip("/").removesuffix("/simple")
        return f"{parts.scheme}://{parts.netloc}{base}/pypi/{quote(name)}/json"

    @property
    def names(self) -> NameIndex:
        return NameIndex(self.cache, self.index_url)

    # -- search -------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        out = Found(self.name)
        q = canonicalize_name(prefix + query.strip())
        where: dict[str, str] = {}  # name -> the first index that has it
        for url in self.index_urls:
            index = NameIndex(self.cache, url)
            if not self._ready(index, out):
                continue
            for name in index.search(q, limit=limit):
                where.setdefault(name, url)
        if not where and out.error:
            return out
        out.error = None
        names = sorted(where, key=lambda n: (tier(n, q), len(n), n))[:limit]
        details = self._details(names, where, out)
        for name in names:
            info = details.get(name) or {}
            out.hits.append(
                Hit(
                    self.name,
                    info.get("name") or name,
                    info.get("version"),
                    info.get("summary") or "",
                    None,
                    tier(name, q, summary=info.get("summary") or ""),
                )
            )
        return out

    def _ready(self, index: NameIndex, out: Found) -> bool:
        """Make sure ``index`` has names to search: fetch it cold, refresh it when old."""
        age = index.age()
        if age is None:
            try:
                index.refresh()
            except Unreachable as e:
                out.error = (
                    f"the project list of {index.url} is not cached and cannot be fetched ({e})"
                )
                return False
        elif age > REFRESH_AFTER:
            out.stale = True
            started = index.refresh_in_background()
            out.notes.append(
                f"the name index of {index.url} is {age / 3600:.0f} h old"
                + ("; refreshing it in the background" if started else "")
            )
        return True

    def _details(
        self, names: list[str], where: dict[str, str], out: Found
    ) -> dict[str, dict[str, Any]]:
        """Latest version and summary of each name: from the cache, else the JSON API."""
        cache = DiskCache(self.cache / "summaries")
        got: dict[str, dict[str, Any]] = {}
        todo = []
        for n in names:
            hit = cache.get(self.json_api(n, where[n]))
            if hit is not None and hit[1] < SUMMARY_TTL:
                got[n] = hit[0]
            else:
                todo.append((n, hit))
        if not todo:
            return got

        def one(name: str) -> dict[str, Any] | None:
            url = self.json_api(name, where[name])
            data = fetch_json(url, timeout=5)
            info = (data or {}).get("info") or {}
            value = {k: info.get(k) for k in ("name", "version", "summary")}
            cache.put(url, value)
            return value

        offline = False
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            futures = {n: pool.submit(one, n) for n, _ in todo}
            for n, old in todo:
                try:
                    got[n] = futures[n].result() or {}
                except Unreachable:
                    offline = True
                    got[n] = old[0] if old else {}
        if offline:
            out.stale = True
            out.notes.append("the index did not answer; versions and summaries are from the cache")
        return got

    def suggest(self, name: str) -> list[str]:
        """Close names from the cached name index (for "did you mean")."""
        blob = self.names.load()
        if not blob:
            return []
        key = canonicalize_name(name)
        candidates = self.names.search(key[:4], limit=5000) if len(key) >= 4 else []
        return difflib.get_close_matches(key, candidates or blob.split(), n=3, cutoff=0.75)

    # -- requirements -------------------------------------------------------------------------

    def normalise(self, text: str) -> Requirement:
        from jupyter_orbit.manifests.base import pypi_requirement

        return pypi_requirement(text, CLI)

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Ask the index for each name; one it does not have is refused with suggestions."""

        def exists(req: Requirement) -> bool | None:
            if " @ " in req.text:
                return True  # a direct reference: uv checks it when resolving
            answers = []
            for index in self.index_urls:
                try:
                    status, _, _ = fetch(
                        index + quote(req.name) + "/", accept=SIMPLE_JSON, timeout=10
                    )
                except Unreachable:
                    answers.append(None)  # cannot tell: resolution will say
                    continue
                if status < 400:
                    return True
                answers.append(False)
            return None if None in answers else False

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(requirements)))) as pool:
            answers = list(pool.map(exists, requirements))
        for req, ok in zip(requirements, answers, strict=True):
            if ok is False:
                close = [s for s in self.suggest(req.name) if s != req.name]
                raise InputError(
                    f"no package named {req.name!r} on {' or '.join(self.index_urls)}",
                    f"did you mean {' or '.join(close)}?"
                    if close
                    else f"check the name with `orbit search {req.name}`",
                )

    def edit(
        self,
        path: Path,
        text: str,
        *,
        add: Sequence[Requirement] = (),
        remove: Sequence[str] = (),
    ) -> str:
        from jupyter_orbit.manifests import conda_env, pyproject, requirements

        if path.name == "pyproject.toml":
            return pyproject.edit_text(text, path=path, add=add, remove=remove)
        if path.name in ("environment.yml", "environment.yaml"):
            return conda_env.edit_text(text, path=path, add=add, remove=remove, section="pip")
        if path.suffix == ".txt" and path.name not in ("apt.txt", "runtime.txt"):
            return requirements.edit_text(text, path=path, add=add, remove=remove)
        return super().edit(path, text, add=add, remove=remove)

    def owns(self, path: Path) -> bool:
        return path.name in (*self.files, "environment.yaml") or (
            path.suffix == ".txt" and path.name not in ("apt.txt", "runtime.txt")
        )

    # -- resolution, locks, installs ----------------------------------------------------------

    def compile(
        self,
        lines: Sequence[str],
        *,
        python: str,
        cwd: Path,
        constraints: Sequence[str] = (),
        flags: Sequence[str] = (),
        hashes: bool = False,
        universal: bool = False,
        extra: Sequence[str] = (),
        prefer_cache: bool = False,
    ) -> str:
        """``uv pip compile`` of ``lines``: pinned requirements (with hashes if asked).

        ``prefer_cache`` first resolves from uv's cache alone (``--offline``: a fraction of a
        second, where asking the index again for every package takes one or two), and asks the
        index only when the cache cannot answer.
        """
        from jupyter_orbit.uvcli import run_uv

        cwd.mkdir(parents=True, exist_ok=True)
        args = ["pip", "compile", "-", "--no-header", "--no-annotate", "--quiet", *flags]
        args += ["--python-version", python] if universal else ["--python", python]
        if universal:
            args.append("--universal")
        if hashes:
            args.append("--generate-hashes")
        args += list(extra)  # e.g. the date: --exclude-newer (see date_args)
        if constraints:
            cfile = cwd / f".constraints-{abs(hash(tuple(constraints)))}.txt"
            cfile.write_text("\n".join(constraints) + "\n")
            args += ["--constraint", str(cfile)]
        stdin = "\n".join(lines) + "\n"
        if prefer_cache:
            try:
                return run_uv([*args, "--offline"], cwd=cwd, stdin=stdin, env=self._uv_env())
            except BuildError:
                pass  # something is not in the cache (or not resolvable): ask the index
        return run_uv(args, cwd=cwd, stdin=stdin, env=self._uv_env())

    def date_args(self, spec: Any, python: str, flags: list[str], lines: list[str]) -> list[str]:
        """uv flags for the spec's "as of" date, as the local engine resolves it (the notebook's
        packages as of the date, the kernel's own newest), so a check resolves what a build
        will."""
        from jupyter_orbit.engines.local import LocalEngine

        if not spec.as_of:
            return []
        engine = LocalEngine(self.paths)
        engine.root.mkdir(parents=True, exist_ok=True)  # where the engine runs uv
        return engine._as_of_args(spec, python, flags, lines, None)

    def _uv_env(self) -> dict[str, str]:
        keys = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX")
        return {k: v for k, v in self.environ.items() if k in keys}

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path, python: str = "3") -> str:
        return self.compile(
            [r.text for r in requirements], python=python, cwd=cwd, hashes=True, universal=True
        )

    def install(
        self,
        prefix: Path,
        requirements: Sequence[Requirement],
        progress: Progress,
        *,
        lock: str | None = None,
        trusted: bool = False,
    ) -> None:
        """Make ``prefix`` hold exactly ``lock`` (hash-checked), or add ``requirements``."""
        from jupyter_orbit.engines.local import environment_python
        from jupyter_orbit.uvcli import run_uv

        python = environment_python(prefix)
        if lock is not None:
            pinned = prefix / "orbit" / "requirements.lock.txt"
            pinned.parent.mkdir(exist_ok=True)
            pinned.write_text(lock)
            args = ["pip", "sync", "--python", str(python), str(pinned)]
            if "--hash=" in lock:
                args.insert(2, "--require-hashes")
        else:
            args = ["pip", "install", "--python", str(python), *[r.text for r in requirements]]
        run_uv(args, cwd=prefix, on_line=progress.log, env=self._uv_env())
