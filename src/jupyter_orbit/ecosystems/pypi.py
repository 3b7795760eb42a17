"""PyPI through uv: requirements (PEP 508), search (a local name index plus the JSON API for the
top hits), resolution as of a date, locks with hashes, and the steps that install into a local
environment or a kernel image."""

from __future__ import annotations

import contextlib
import difflib
import json
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from packaging.utils import canonicalize_name

from jupyter_orbit import atomic, linkmode
from jupyter_orbit.ecosystems import lockfile
from jupyter_orbit.ecosystems._http import DiskCache, Unreachable, fetch, fetch_json
from jupyter_orbit.ecosystems.base import (
    Ecosystem,
    Found,
    Hit,
    ImageStage,
    Prefix,
    names_of,
    tier,
)
from jupyter_orbit.ecosystems.pypi_metadata import repairs_for
from jupyter_orbit.ecosystems.pypi_names import REFRESH_AFTER, SIMPLE_JSON, NameIndex
from jupyter_orbit.errors import BuildError, InputError, PackageNotFound, RegistryError
from jupyter_orbit.model import EnvSpec, Origin, Requirement, Step

PYPI = "https://pypi.org/simple/"
SUMMARY_TTL = 7 * 24 * 3600
# How long a first search waits for a small project list before leaving it to the background.
COLD_WAIT = 2.0
LOCK_FILE = "requirements.lock.txt"  # inside an environment's orbit/ folder
# The origin of requirements read from a Pipfile.lock: exact versions its lock decided, which
# the date does not filter (PyPI has re-uploaded old releases, whose files then look newer).
LOCK_KIND = "Pipfile.lock"
QUIET = ("--no-header", "--no-annotate", "--quiet")
EXPORT = ("--no-header", "--no-hashes", "--format", "requirements.txt")


def pypi_requirement(text: str, origin: Origin | None = None) -> Requirement:
    """Parse a PEP 508 line into a normalised ``Requirement`` or raise ``InputError``.

    Normalisation keeps the meaning and drops spelling: canonical name, sorted extras, the
    specifier set as packaging prints it, and the marker.
    """
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as PEP508

    try:
        req = PEP508(text.strip())
    except InvalidRequirement as e:
        where = origin.path if origin else None
        raise InputError(
            f"not a valid requirement: {text.strip()!r} ({str(e).splitlines()[0]})",
            "write it as PEP 508, for example 'numpy>=1.26' or 'pandas[excel]==2.2.*'",
            path=where,
            line=origin.line if origin else None,
        ) from None
    name = canonicalize_name(req.name)
    out = name
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        out += f" @ {req.url}"
    elif req.specifier:
        out += str(req.specifier)
    if req.marker:
        # PEP 508 needs whitespace between a URL and the ";" that starts its marker.
        out += f" ; {req.marker}" if req.url else f"; {req.marker}"
    return Requirement("pypi", name, out, origin)


# uv builds an old sdist (PEP 517) with setuptools 40.8.0 (2019-02-05) or later: the tools that
# build packages are never dated earlier than this, or no package of before 2019 could be built.
BUILD_TOOLS = ("setuptools", "wheel")
BUILD_TOOLS_FLOOR = "2019-03-01T00:00:00Z"


def _as_of(spec: EnvSpec) -> str:
    """The date the packages are resolved as of: the spec's, or the kernel's when the spec has
    nothing but the kernel's own packages."""
    if spec.kernel_as_of is not None and not spec.declared("pypi"):
        return spec.kernel_as_of
    assert spec.as_of is not None
    return spec.as_of


def undated_args(spec: EnvSpec) -> list[str]:
    """uv flags for what the date does not filter: versions a lock file pinned (see
    ``LOCK_KIND``), and the build tools of a date before ``BUILD_TOOLS_FLOOR``."""
    names = {r.name for r in spec.declared("pypi") if r.origin and r.origin.kind == LOCK_KIND}
    args = [f"--exclude-newer-package={n}=false" for n in sorted(names)]
    if spec.as_of and spec.as_of < BUILD_TOOLS_FLOOR:
        args += [
            f"--exclude-newer-package={n}={BUILD_TOOLS_FLOOR}"
            for n in BUILD_TOOLS
            if n not in names
        ]
    return args


def split_options(options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Index options as uv takes them: flags on the command line versus lines it reads inside a
    requirements file."""
    flags: list[str] = []
    lines: list[str] = []
    for opt in options:
        if opt in ("--pre", "--prerelease allow", "--prerelease=allow"):
            flags += ["--prerelease", "allow"]
        else:
            lines.append(opt)
    return flags, lines


def pinned_names(text: str) -> set[str]:
    """Canonical names of the ``name==version`` lines of a compiled requirements file."""
    return {
        canonicalize_name(ln.split("==")[0].split("[")[0].strip())
        for ln in text.splitlines()
        if "==" in ln and not ln.lstrip().startswith(("#", "-"))
    }


def pin_lines(text: str) -> list[str]:
    """The requirement lines of uv's output (comments and options dropped)."""
    return [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith(("#", "-"))
    ]


class PyPI(Ecosystem):
    name: ClassVar[str] = "pypi"
    display_name: ClassVar[str] = "PyPI"
    files: ClassVar[tuple[str, ...]] = ("pyproject.toml", "requirements.txt", "environment.yml")
    new_file: ClassVar[str | None] = "requirements.txt"
    order: ClassVar[int] = 20
    spec_options: ClassVar[bool] = True
    check_hint: ClassVar[str] = (
        "check the PyPI requirements (names, versions) where they are declared"
    )

    @classmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        return pypi_requirement(text, origin)

    @classmethod
    def changes_source(cls, requirement: Requirement) -> bool:
        return " @ " in requirement.text or "://" in requirement.text

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
        loading: list[str] = []  # indexes whose names are still on their way
        cold = [u for u in self.index_urls if NameIndex(self.cache, u).age() is None]
        if cold:  # the exact name is asked for while the names come (used if they do not)
            early = ThreadPoolExecutor(max_workers=1)
            exact = early.submit(self._details, [q], {q: cold[0]}, Found(self.name), guesses={q})
            early.shutdown(wait=False)
        for url in self.index_urls:
            index = NameIndex(self.cache, url)
            state = self._ready(index, out)
            if state == "loading":
                loading.append(url)
            if state != "ready":
                continue
            for name in index.search(q, limit=limit):
                where.setdefault(name, url)
        known: dict[str, dict[str, Any]] = {}
        if cold:
            with contextlib.suppress(Unreachable):
                known = {n: v for n, v in exact.result().items() if v.get("name")}
        guessed = bool(loading) and q not in where  # the exact name, not known to exist
        if guessed:
            where[q] = loading[0]
        if not where and out.error:
            return out
        names = sorted(where, key=lambda n: (tier(n, q), len(n), n))[:limit]
        details = self._details(names, where, out, known=known, guesses={q} if guessed else set())
        if loading:
            out.partial = True
            out.notes.append(
                f"the project names of {', '.join(loading)} are still being downloaded (in "
                "the background): only the exact name was looked up there; search again in a "
                "moment for every match"
            )
        if guessed and not (details.get(q) or {}).get("name"):  # no such name, or no answer
            names.remove(q)
            if not names and out.stale:
                out.error = (
                    f"the project list of {loading[0]} is not cached and cannot be fetched "
                    "(the index did not answer)"
                )
                return out
        out.error = None
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

    def _ready(self, index: NameIndex, out: Found) -> str:
        """Make sure ``index`` has names to search: fetch it cold (if it comes quickly, else
        in the background: "loading"), refresh it in the background when old; "ready", or
        "missing" (and ``out.error``) when it cannot be had."""
        age = index.age()
        if age is None:
            try:
                if index.loading() or not index.fetch_if_small(COLD_WAIT):
                    index.refresh_in_background()
                    return "loading"
            except Unreachable as e:
                out.error = (
                    f"the project list of {index.url} is not cached and cannot be fetched ({e})"
                )
                return "missing"
        elif age > REFRESH_AFTER:
            out.stale = True
            started = index.refresh_in_background()
            out.notes.append(
                f"the name index of {index.url} is {age / 3600:.0f} h old"
                + ("; refreshing it in the background" if started else "")
            )
        return "ready"

    def _details(
        self,
        names: list[str],
        where: dict[str, str],
        out: Found,
        known: dict[str, dict[str, Any]] | None = None,
        guesses: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, dict[str, Any]]:
        """Latest version and summary of each name: ``known``, the cache, else the JSON API.

        A listed name the JSON API has nothing for (a project with no release) is remembered
        as such, or every search showing it would ask again; a name in ``guesses`` (looked up
        before the list says it exists) is not, so it is asked again once it may exist."""
        cache = DiskCache(self.cache / "summaries")
        got: dict[str, dict[str, Any]] = {}
        todo = []
        for n in names:
            if known and n in known:
                got[n] = known[n]
                continue
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
            if data is not None or name not in guesses:
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
        """Close names from the cached name indexes (for "did you mean")."""
        key = canonicalize_name(name)
        close: list[str] = []
        for url in self.index_urls:
            index = NameIndex(self.cache, url)
            blob = index.load()
            if not blob:
                continue
            candidates = index.search(key[:4], limit=5000) if len(key) >= 4 else []
            close += difflib.get_close_matches(key, candidates or blob.split(), n=3, cutoff=0.75)
        return [c for c in dict.fromkeys(close) if c != key][:3]

    def did_you_mean(self, err: BuildError) -> BuildError:
        """A name the index lacks, with the close names the cached name indexes know."""
        if not isinstance(err, PackageNotFound) or not (close := self.suggest(err.package)):
            return err
        return PackageNotFound(
            err.message, f"did you mean {' or '.join(close)}? Fix the name where it is declared"
        )

    # -- requirements -------------------------------------------------------------------------

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
        args += repairs_for(self.paths, self.environ).args()  # old releases' metadata, mended
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

    def date_args(
        self,
        spec: EnvSpec,
        python: str,
        flags: Sequence[str] = (),
        lines: Sequence[str] = (),
        log: Callable[[str], None] | None = None,
    ) -> list[str]:
        """uv flags for the spec's "as of" date: the notebook's packages as of it, and the
        kernel's own as fitted to it.

        A spec fitted to its era (``jupyter_orbit.era``: ``kernel_as_of`` set) says which of
        the kernel's packages move forward and to which date, and whether only wheels may be
        installed. An unfitted spec keeps the earlier rule: the recipe's packages (ipykernel
        and all it pulls in, found by resolving them alone, today) float to the newest; a
        package the notebook itself names stays dated.
        """
        from jupyter_orbit.uvcli import run_uv

        if not spec.as_of:
            return []
        args = ["--exclude-newer", _as_of(spec), *undated_args(spec)]
        if spec.wheels_only:
            args += ["--only-binary", ":all:"]
        if spec.kernel_as_of is not None:
            date = spec.kernel_as_of
            return args + [f"--exclude-newer-package={n}={date}" for n in spec.floating]
        own = [r.text for r in spec.own(self.name)]
        if not own:
            return args
        declared = {r.name for r in spec.declared(self.name)}
        work = self.paths.cache_dir / "resolve"
        work.mkdir(parents=True, exist_ok=True)
        out = run_uv(
            ["pip", "compile", "-", "--python", python, *QUIET, *flags],
            cwd=work,
            stdin="\n".join([*lines, *own]) + "\n",
            on_line=log,
            env=self._uv_env(),
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in sorted(pinned_names(out) - declared):
            args += ["--exclude-newer-package", f"{name}={now}"]
        return args

    def lock_constraints(self, spec: EnvSpec, work: Path, log: Callable[[str], None]) -> list[str]:
        """Pins from a notebook's lock, to be used as constraints (the kernel's packages then
        fit in): a juv/uv script lock is exported by uv, a stale Orbit lock read as it is."""
        from jupyter_orbit.uvcli import run_uv

        assert spec.lock is not None
        if spec.lock.format != "uv.lock":
            return lockfile.pins(spec.lock.text)
        work.mkdir(parents=True, exist_ok=True)
        script = work / "script.py"
        deps = [r.text for r in spec.declared(self.name)]
        header = ["# /// script"]
        if spec.python and spec.python[0].isdigit():
            header.append(f'# requires-python = ">={spec.python}"')
        elif spec.python:
            header.append(f"# requires-python = {json.dumps(spec.python)}")
        header.append("# dependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]")
        header.append("# ///")
        atomic.write_text(script, "\n".join(header) + "\n")
        atomic.write_text(work / "script.py.lock", spec.lock.text)
        out = run_uv(
            ["export", "--script", str(script), "--frozen", *EXPORT],
            cwd=work,
            on_line=log,
        )
        return [ln.split(" ;")[0].split(";")[0].strip() for ln in pin_lines(out)]

    def pins(self, spec: EnvSpec, python: str) -> list[str]:
        """The exact versions a build of ``spec`` would install, resolved without installing."""
        import tempfile

        flags, lines = split_options(spec.index_options)
        work = self.paths.cache_dir / "resolve"
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work, prefix=".pins-") as tmp:
            constraints = [r.text for r in spec.constraints]
            return pin_lines(
                self.compile(
                    [*lines, *(r.text for r in spec.packages(self.name))],
                    python=python,
                    cwd=Path(tmp),
                    constraints=constraints,
                    flags=flags,
                    extra=self.date_args(spec, python, flags, lines),
                )
            )

    def _uv_env(self) -> dict[str, str]:
        keys = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX")
        return {k: v for k, v in self.environ.items() if k in keys}

    def check_spec(
        self, spec: EnvSpec, added: Sequence[Requirement]
    ) -> tuple[list[str], list[str]]:
        """Resolve the whole new spec as a build would; a name the index lacks is told as such,
        with "did you mean"."""
        try:
            return self.resolve_pins(spec), []
        except InputError:
            if added:
                self.check(added)
            raise

    def resolve_pins(self, spec: EnvSpec, constraints: Sequence[str] = ()) -> list[str]:
        """The versions uv would install for ``spec`` (``name==version`` lines), from uv's
        cache when it can answer."""
        from jupyter_orbit.pythons import default_python
        from jupyter_orbit.uvcli import find_python

        work = self.paths.cache_dir / "bazaar" / "resolve"
        work.mkdir(parents=True, exist_ok=True)
        python = find_python(spec.python or default_python(), cwd=work, cache=self.paths.cache_dir)
        flags, lines = split_options(spec.index_options)
        try:
            out = self.compile(
                [*lines, *(r.text for r in spec.packages(self.name))],
                python=str(python),
                cwd=work,
                constraints=[*(c.text for c in spec.constraints), *constraints],
                flags=flags,
                extra=self.date_args(spec, str(python), flags, lines),
                prefer_cache=True,
            )
        except RegistryError:
            raise  # the index, not the requirements: told as what it is
        except BuildError as e:
            raise InputError(f"cannot install: {e.message}", e.hint) from None
        return pin_lines(out)

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path, python: str = "3") -> str:
        return self.compile(
            [r.text for r in requirements], python=python, cwd=cwd, hashes=True, universal=True
        )

    # -- building --------------------------------------------------------------------------

    def local_steps(self, spec: EnvSpec) -> list[Step]:
        reqs = spec.packages(self.name)
        exact = lockfile.is_current(spec)
        if exact and spec.lock is not None:
            return [
                ResolveStep(f"the notebook's {spec.lock.format} lock, exactly", exact=True),
                InstallStep("exactly the locked versions, hash-checked", exact=True),
            ]
        detail = f"{len(reqs)} PyPI requirements"
        if spec.as_of:
            detail += f" as of {spec.as_of}"
            if spec.floating:
                detail += f" (the kernel's own: {len(spec.floating)} as of {spec.kernel_as_of})"
            elif spec.own(self.name) and spec.kernel_as_of is None:
                detail += " (the kernel's own packages: newest)"
            if spec.wheels_only:
                detail += ", wheels only"
        if spec.lock is not None:
            detail += f", the versions of the notebook's {spec.lock.format} as constraints"
        return [
            ResolveStep(f"{detail}: {names_of(reqs)}"),
            InstallStep("from uv's cache (the environment gets files of its own)"),
        ]

    @classmethod
    def image_stage(cls, spec: EnvSpec, constraints: Sequence[str] = ()) -> ImageStage:
        """Resolve everything in a build stage, preferring the base image's versions, and
        install only what the base lacks into the environment's prefix."""
        from jupyter_orbit.imagelayout import (
            BASE_LOCK,
            COPY_UV,
            ENV_PREFIX,
            ENV_PYTHON,
            PINS,
            SPEC_DIR,
            compile_bytecode,
            run,
        )

        reqs, cons, flags = cls.image_files(spec, constraints)
        files = [("requirements.in", reqs.encode())]
        sources = ["requirements.in"]
        compile_args = ["--quiet", "--no-header", "--emit-index-url", *flags]
        if spec.as_of:
            compile_args += ["--exclude-newer", _as_of(spec), *undated_args(spec)]
        if spec.as_of and spec.wheels_only:
            compile_args += ["--only-binary", ":all:"]
        if spec.as_of and spec.kernel_as_of is not None:  # fitted: as the local engine does
            date = spec.kernel_as_of
            compile_args += [f"--exclude-newer-package={n}={date}" for n in spec.floating]
        if cons:
            files.append(("constraints.txt", cons.encode()))
            sources.append("constraints.txt")
            compile_args += ["--constraint", f"{SPEC_DIR}/constraints.txt"]
        lock = f"{SPEC_DIR}/{LOCK_FILE}"
        missing = "/tmp/missing.txt"
        install = ["uv pip install", f"--python {ENV_PYTHON}", "--no-deps", *flags]
        if spec.as_of and spec.kernel_as_of is None:  # unfitted: the base's packages float
            declared = sorted(r.name for r in spec.declared(cls.name))
            floating = " ".join(["floating", str(BASE_LOCK), *map(shlex.quote, declared)])
            compile_args.append(f"$(python3 -I {PINS} {floating})")
        compile_cmd = ["uv pip compile", f"--python {ENV_PYTHON}", *compile_args]
        build = (
            COPY_UV,
            f"COPY {' '.join(sources)} {SPEC_DIR}/",
            "# resolve everything, preferring the base's versions; install what the base lacks",
            run(
                f"cp {BASE_LOCK} {lock}",
                " ".join([*compile_cmd, f"{SPEC_DIR}/requirements.in", f"-o {lock}"]),
                f"python3 -I {PINS} missing {BASE_LOCK} {lock} > {missing}",
                f"if [ -s {missing} ]; then {' '.join(install)} -r {missing}; fi",
                compile_bytecode(ENV_PREFIX),
            ),
        )
        copies = (
            "# PyPI packages",
            f"COPY --from=pypi {ENV_PREFIX} {ENV_PREFIX}",
            f"COPY --from=pypi {SPEC_DIR} {SPEC_DIR}",
        )
        return ImageStage("pypi", tuple(files), build, copies, after="env")

    @classmethod
    def image_files(cls, spec: EnvSpec, constraints: Sequence[str]) -> tuple[str, str, list[str]]:
        """requirements.in, constraints.txt and uv's extra flags for a kernel image."""
        flags, lines = split_options(spec.index_options)
        reqs = "\n".join([*lines, *(r.text for r in spec.packages(cls.name))]) + "\n"
        cons = [r.text for r in spec.constraints] + list(constraints)
        return reqs, ("\n".join(cons) + "\n") if cons else "", flags


@dataclass(frozen=True)
class ResolveStep(Step):
    """``uv pip compile`` of the spec's PyPI requirements (as of its date, within its lock's
    versions) into the environment's ``orbit/requirements.lock.txt``."""

    ACTION: ClassVar[str] = "resolve"
    exact: bool = False  # the notebook's own Orbit lock fits the spec: take it as it is

    def run(self, build: Prefix) -> None:
        from jupyter_orbit.uvcli import run_uv

        spec = build.spec
        pinned = build.meta / LOCK_FILE
        if self.exact and spec.lock is not None:
            atomic.write_text(pinned, spec.lock.text)
            return
        pypi = PyPI(build.paths)
        log = build.progress.log
        flags, lines = split_options(spec.index_options)
        args = ["pip", "compile", "--python", str(build.python), "--emit-index-url", *flags]
        repairs = repairs_for(build.paths)
        constraints = [r.text for r in spec.constraints]
        if spec.lock is not None:
            constraints += pypi.lock_constraints(spec, build.meta / "lock", log)
        if constraints:
            atomic.write_text(build.meta / "constraints.txt", "\n".join(constraints) + "\n")
            args += ["--constraint", str(build.meta / "constraints.txt")]
        requirements = build.meta / "requirements.in"
        atomic.write_text(
            requirements, "\n".join([*lines, *(r.text for r in spec.packages("pypi"))]) + "\n"
        )
        try:
            args += pypi.date_args(spec, str(build.python), flags, lines, log)
            if spec.lock is None and _as_fitted(build, [*args, *repairs.args()], requirements):
                return
            for attempt in (1, 2):
                try:
                    run_uv(
                        [*args, *repairs.args(), str(requirements), "-o", str(pinned), "--quiet"],
                        cwd=build.meta,
                        on_line=log,
                        on_retry=build.progress.warn,
                    )
                    break
                except BuildError as err:  # an old release's metadata uv cannot read
                    if attempt == 2 or not repairs.repair(err.message):
                        raise
        except BuildError as err:
            raise blame(pypi.did_you_mean(err), spec) from None


def _as_fitted(build: Prefix, args: list[str], requirements: Path) -> bool:
    """Resolve from uv's cache alone, and keep the answer when it names exactly the versions
    the date fit was just given by the index for this spec (``pypi_answers``)."""
    from jupyter_orbit.ecosystems import pypi_answers
    from jupyter_orbit.uvcli import run_uv

    cfg = (build.path / "pyvenv.cfg").read_text(errors="replace")
    version = next(
        (
            v.strip()
            for k, _, v in (ln.partition("=") for ln in cfg.splitlines())
            if k.strip() == "version_info"
        ),
        "",
    )
    known = pypi_answers.recall(pypi_answers.key(build.spec, version))
    if not version or known is None:
        return False
    pinned = build.meta / LOCK_FILE
    try:
        run_uv(
            [*args, str(requirements), "-o", str(pinned), "--quiet", "--offline"],
            cwd=build.meta,
        )
    except BuildError:
        return False
    if pypi_answers.same(pinned.read_text(), known):
        return True
    pinned.unlink(missing_ok=True)
    return False


@dataclass(frozen=True)
class InstallStep(Step):
    """``uv pip sync`` of the resolved lock into the environment: cloned from uv's cache where
    the disk can, else hardlinked and given copies of their own by the environment's
    background job (``linkmode``, ``engines.bytecode``)."""

    ACTION: ClassVar[str] = "install"
    exact: bool = False  # the lock carries hashes: require them

    def run(self, build: Prefix) -> None:
        from jupyter_orbit.uvcli import run_uv

        pinned = build.meta / LOCK_FILE
        flags, _ = split_options(build.spec.index_options)
        hashes = ["--require-hashes"] if self.exact else []
        if build.spec.wheels_only:
            hashes += ["--only-binary", ":all:"]
        build.progress.log(f"{len(pin_lines(pinned.read_text()))} packages")
        links = linkmode.args(build.path, own_later=True)  # files of its own: see linkmode
        run_uv(
            ["pip", "sync", "--python", str(build.python), *flags, *hashes, *links, str(pinned)],
            cwd=build.meta,
            on_line=build.progress.log,
            on_retry=build.progress.warn,
        )


def blame(err: BuildError, spec: EnvSpec) -> BuildError:
    """Name the files that declared the packages uv could not resolve."""
    where = [
        f"{r.name} is declared in {r.origin}"
        for r in spec.packages("pypi")
        if r.origin and r.origin.path and r.name in err.message
    ]
    if not where:
        return err
    return type(err)(f"{err.message} ({'; '.join(where)})", err.hint)
