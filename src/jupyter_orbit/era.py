"""Fitting an environment to its notebook's time: the Python, and the kernel's own packages.

A notebook resolved as of 2019 needs a Python its packages of 2019 have wheels for, and a kernel
that runs on that Python without breaking the notebook's packages. So, as part of resolving
(``prepare``'s first stage, so the environment id says it):

**The Python.** When the notebook and its project declare none (or only a range, such as a
``requires-python``), it is chosen: the version the notebook last ran on
(``metadata.language_info.version``), then the newest Python released by the as-of date (never
newer than the one Orbit runs on), then older ones, then newer ones; Pythons on this machine
before ones uv would download. The first for which every package, the kernel's included, has a
wheel wins; only when none has is one chosen that builds from source. A declared Python is
taken as declared (wheels are still preferred, never required).

**The kernel's own packages** (ipykernel and what it pulls in) are resolved with the
notebook's, as of its date. Those that cannot work on the Python move forward together: to the
oldest date, not before that Python was released, at which they install (with wheels, when
wheels are asked for), and never to a release younger than the cool-down. A kernel package that
is coupled to one the notebook uses (``COUPLINGS``: matplotlib-inline to matplotlib, ipykernel
to IPython and jupyter_client, traitlets …) stays at the notebook's date with it while that
resolves. The kernel's packages are taken a cool-down before the notebook's date, so a release
minutes old is never picked for a notebook dated today (and a stamp of that date, written into
the notebook, changes nothing).

Every answer comes from ``uv pip compile`` against the user's indexes, for that Python, at those
dates; answers are kept in the data root's cache (they cannot change: every date asked about is
in the past), so deciding again costs nothing. The questions that follow the notebook's own are
asked in a thread while uv answers that one (the kernel's packages alone at their date, then
everything with them moved there, guessing the coupling from the names the notebook declares);
the fit takes an answer asked ahead only when its own question turns out to be the same.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from jupyter_orbit import asof, atomic, pythons
from jupyter_orbit.errors import BuildError, IndexUnreachable
from jupyter_orbit.model import EnvSpec, Level, Resolution
from jupyter_orbit.paths import Paths
from jupyter_orbit.progress import NullProgress, Progress

COOLDOWN_DAYS = 7
# Kernel packages that break when they move ahead of a package the notebook uses: a kernel
# package stays at the notebook's date while one of these of its partners is resolved there.
COUPLINGS: dict[str, tuple[str, ...]] = {
    "matplotlib-inline": ("matplotlib",),
    "ipykernel": ("ipython", "jupyter-client", "traitlets", "ipywidgets", "ipyparallel"),
    "ipython": ("ipykernel", "traitlets", "ipywidgets", "jedi", "prompt-toolkit"),
    "jupyter-client": ("ipykernel", "jupyter-core", "pyzmq", "nbclient", "notebook"),
    "jupyter-core": ("jupyter-client", "traitlets", "notebook", "nbformat"),
    "traitlets": ("ipykernel", "ipython", "ipywidgets", "jupyter-client", "notebook", "nbformat"),
    "comm": ("ipywidgets",),
    "jedi": ("ipython", "parso"),
    "parso": ("jedi",),
    "pyzmq": ("jupyter-client",),
    "tornado": ("notebook", "bokeh", "distributed", "jupyter-server"),
}
# How close the search for the kernel's date gets to the oldest date that works.
_STEP = timedelta(days=14)


class Unanswerable(Exception):
    """uv could not ask the index (no network, nothing cached): the fit cannot be decided."""


@dataclass(frozen=True)
class Fit:
    python: str  # the minor version, "3.9"
    kernel_as_of: str
    floating: tuple[str, ...]
    wheels_only: bool


@dataclass(frozen=True)
class Candidate:
    minor: str
    interpreter: pythons.Interpreter | None  # None: not here, uv can download it

    @property
    def python_args(self) -> list[str]:
        if self.interpreter is not None:
            return ["--python", str(self.interpreter.path)]
        return ["--python-version", self.minor]


def fit(
    res: Resolution,
    paths: Paths,
    *,
    choose: bool,
    now: datetime,
    cooldown_days: int = COOLDOWN_DAYS,
    progress: Progress | None = None,
) -> Resolution:
    """``res`` with its Python chosen (when ``choose`` and nothing declares one exactly) and the
    kernel's own packages dated; unchanged when there is nothing to fit (no date, no PyPI
    packages)."""
    spec = res.spec
    if spec.as_of is None:
        return _locked_python(res) if choose else res
    if not spec.packages("pypi"):
        return res
    progress = progress or NullProgress()
    fitter = _Fitter(res, paths, now, timedelta(days=cooldown_days))
    declared = _declared_python(res)
    exact = declared is not None and _exact(declared)
    if (alone := fitter.kernel_only(declared if exact else None, choose=choose)) is not None:
        return _kernel_only(res, fitter, alone, declared=exact)
    try:
        if choose and not exact:
            # said once uv is asked (answers known before need no step of their own)
            fitter.announce = lambda: progress.step(
                "python", "choosing a Python that fits the notebook"
            )
            found, why = fitter.choose(declared)
        else:
            found, why = fitter.keep(declared or spec.python or pythons.default_python())
    except Unanswerable as e:
        note = f"the Python and the kernel's packages were not fitted to the date: {e}"
        return replace(res, notes=(*res.notes, note))
    finally:
        fitter.close()
    notes = [*res.notes, *fitter.notes]
    python = spec.python
    if found is not None:
        python = spec.python if exact else found.python
        if found.kernel_as_of > spec.as_of and found.floating:  # moved forward, not back
            notes.append(
                f"the kernel's own packages ({_names(found.floating)}) are resolved as of "
                f"{asof.short(found.kernel_as_of)}: the oldest date they install on Python "
                f"{found.python}"
            )
        spec = replace(
            spec,
            python=python,
            kernel_as_of=found.kernel_as_of,
            floating=found.floating,
            wheels_only=found.wheels_only,
        )
        fitter.remember(spec)
    return replace(res, spec=spec, python_detail=why, notes=tuple(dict.fromkeys(notes)))


def suggest(
    res: Resolution, paths: Paths, *, now: datetime, cooldown_days: int = COOLDOWN_DAYS
) -> str | None:
    """For a failed build with a declared Python: the Python the packages of that date do
    install on, as the choice would have made it (None when it is the same, or none is)."""
    if res.spec.as_of is None or not res.spec.packages("pypi"):
        return None
    fitter = _Fitter(res, paths, now, timedelta(days=cooldown_days))
    try:
        found, _ = fitter.choose(None)
    except Unanswerable:
        return None
    finally:
        fitter.close()
    asked = pythons.minor_of(res.spec.python or pythons.default_python())
    return found.python if found is not None and found.python != asked else None


def _kernel_only(res: Resolution, fitter: _Fitter, python: str, *, declared: bool) -> Resolution:
    """Nothing but the kernel's own packages (``_Fitter.kernel_only``): ``python``, and every
    package a cool-down before the date. Nothing to ask."""
    spec = replace(res.spec, python=python, kernel_as_of=fitter.own_as_of, floating=())
    why = f"{python}: declared" if declared else f"{python}: the Python Orbit runs on"
    return replace(res, spec=spec, python_detail=why + "; only the kernel's own packages")


def _locked_python(res: Resolution) -> Resolution:
    """A lock made by ``orbit lock`` names the Python it was made for: use it, unless one is
    declared."""
    from jupyter_orbit.ecosystems.lockfile import read_header

    lock = res.spec.lock
    head = read_header(lock.text) if lock is not None and lock.format == "requirements" else None
    if head is None or _declared_python(res) is not None:
        return res
    python = pythons.minor_of(head["python"])
    spec = replace(res.spec, python=python)
    return replace(res, spec=spec, python_detail=f"{python}: the Python the lock was made for")


def _declared_python(res: Resolution) -> str | None:
    """The Python the notebook, its project or the command line asks for, if any."""
    for s in res.sources:
        if "python" in s.provides and s.level not in (Level.PROFILE, Level.RECIPE):
            return res.spec.python
    return None


def _exact(request: str) -> bool:
    return all(p.isdigit() for p in request.strip().split(".")) and request.count(".") >= 1


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = list(names)[:limit]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def recorded_python(notebook: Path | None) -> str | None:
    """The Python version the notebook last ran on (``metadata.language_info.version``)."""
    from jupyter_orbit.manifests.notebook import load_notebook

    if notebook is None:
        return None
    try:
        info = load_notebook(notebook).get("metadata", {}).get("language_info") or {}
    except Exception:  # a notebook resolve could read; the version is only a hint
        return None
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, str) or not version[:1].isdigit():
        return None
    return version.strip()


class _Fitter:
    def __init__(
        self,
        res: Resolution,
        paths: Paths,
        now: datetime,
        cooldown: timedelta,
    ) -> None:
        from jupyter_orbit.ecosystems.pypi import split_options, undated_args
        from jupyter_orbit.ecosystems.pypi_metadata import repairs_for

        spec = res.spec
        assert spec.as_of is not None
        self.res = res
        self.paths = paths
        self.as_of = spec.as_of
        self.now = now
        self.today = res.as_of_source == asof.NOW or (
            res.as_of_source == asof.CLI and "now" in res.as_of_detail.lower()
        )
        # The kernel's own packages are dated a cool-down before the notebook: the same for a
        # date that is today and for that date once stamped into the notebook.
        day = asof.to_datetime(spec.as_of)
        self.own_as_of = asof.canonical(day - cooldown)
        self.ceiling = asof.day_of(now - cooldown)
        self.flags, lines = split_options(spec.index_options)
        self.declared = [*lines, *(r.text for r in spec.declared("pypi"))]
        self.own = [r.text for r in spec.own("pypi")]
        self.lines = lines
        self.constraints = [r.text for r in spec.constraints]
        self.undated = undated_args(spec)
        self.repairs = repairs_for(paths)
        self.work = paths.cache_dir / "era"
        self.notes: list[str] = []  # what the fit has to say besides its choice
        # why the index could not be reached, once it could not: uv's cache only from then on
        self.unreachable: str | None = None
        self.announce: Callable[[], None] | None = None  # the first time uv is asked
        # the last answer that fitted: the versions the build will install, on that Python
        self.accepted: tuple[Candidate, str] | None = None
        self.given: set[str] = set()  # answers the index gave now (not cached, not offline)
        # questions asked ahead, in a thread, while uv answers another (``ahead``)
        self._ahead: dict[tuple, Future[str | None]] = {}
        # the question kernel_at will likely ask, per Python and date, with its answer (guess)
        self._guesses: dict[tuple, Future[tuple[tuple[str, ...], str | None]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._once = threading.Lock()

    @functools.cached_property
    def interpreters(self) -> list[pythons.Interpreter]:
        """Every Python on this machine (looked for only when a choice needs them)."""
        return pythons.discover(self.paths.cache_dir)

    @functools.cached_property
    def here(self) -> dict[str, pythons.Interpreter]:
        return pythons.by_minor(self.interpreters)

    def kernel_only(self, declared: str | None, *, choose: bool) -> str | None:
        """The Python, when there is nothing but the kernel's own packages on a Python that
        existed at the date (a new notebook; the launcher's cards): then there is nothing to
        choose or ask. The test reads only what the notebook says (never whether its date is
        today), so the stamp the server writes leaves the answer as it was."""
        if self.declared:
            return None
        default = pythons.default_python()
        python = declared or (default if choose else self.res.spec.python or default)
        released = asof.python_released(pythons.minor_of(python))
        if released is None or released > self.own_as_of:
            return None
        recorded = recorded_python(self.res.notebook)
        if declared or not choose or recorded is None:
            return python
        return python if pythons.minor_of(recorded) == python else None

    def remember(self, spec: EnvSpec) -> None:
        """Keep the versions of the fit for the build's own resolve (``pypi_answers``)."""
        from jupyter_orbit.ecosystems import pypi_answers

        if self.accepted is None or self.accepted[0].interpreter is None:
            return
        c, pins = self.accepted
        if pins not in self.given:  # from the cache of answers: the index may know more now
            return
        if pythons.minor_of(c.interpreter.version) == pythons.minor_of(spec.python or ""):
            pypi_answers.remember(pypi_answers.key(spec, c.interpreter.version), pins)

    # -- choosing ---------------------------------------------------------------------------

    def choose(self, allowed: str | None) -> tuple[Fit | None, str]:
        recorded = recorded_python(self.res.notebook)
        if recorded and pythons.version_key(recorded)[:2] < pythons.OLDEST_USABLE:
            self.notes.append(
                f"{self.res.notebook.name if self.res.notebook else 'the notebook'} last ran on "
                f"Python {recorded}: uv builds environments for Python 3.6 and later only, so "
                "it gets a Python 3 (Python 2 code will not run there)"
            )
            recorded = None
        default = pythons.default_python()
        released = [
            m
            for m in asof.pythons_released(asof.canonical(self.now))
            if pythons.version_key(m) >= pythons.OLDEST_USABLE
        ]
        era = asof.python_of(self.as_of) or released[0]
        if pythons.version_key(era) > pythons.version_key(default):
            era = default
        older = sorted(
            (m for m in released if pythons.version_key(m) < pythons.version_key(era)),
            key=pythons.version_key,
            reverse=True,
        )
        newer = [m for m in released if pythons.version_key(m) > pythons.version_key(era)]
        first = [pythons.minor_of(recorded)] if recorded else []
        order = [m for m in dict.fromkeys([*first, era, *older, *newer]) if m in released]
        if allowed:
            order = [m for m in order if _allows(allowed, m, self.here.get(m))]
        candidates: list[Candidate] = []  # those tried so far, in order
        for c in self._candidates(order):
            candidates.append(c)
            if (found := self.try_python(c, True)) is not None:
                return found, self._why(c, found, recorded, era, allowed, candidates)
        for c in candidates:
            if (found := self.try_python(c, False)) is not None:
                return found, self._why(c, found, recorded, era, allowed, candidates)
        present = ", ".join(i.label() for i in self.interpreters if i.usable) or "none"
        why = (
            f"no Python here or from uv installs the packages as of {asof.short(self.as_of)} "
            f"(tried {', '.join(c.minor for c in candidates) or 'none'}; found: {present})"
        )
        return None, why

    def _candidates(self, order: list[str]) -> Iterator[Candidate]:
        """The Pythons in ``order`` found here, then those uv can download: uv is asked for
        its list only once every Python here has been tried."""
        from jupyter_orbit.uvcli import python_downloads

        yield from (Candidate(m, self.here[m]) for m in order if m in self.here)
        downloads = python_downloads()
        yield from (Candidate(m, None) for m in order if m not in self.here and m in downloads)

    def _why(
        self,
        c: Candidate,
        found: Fit,
        recorded: str | None,
        era: str,
        allowed: str | None,
        candidates: list[Candidate],
    ) -> str:
        where = "" if c.interpreter else " (uv installs it)"
        wheels = (
            "every package has a wheel for it"
            if found.wheels_only
            else "no Python has wheels for every package: some are built from source"
        )
        within = f" within {allowed}" if allowed else ""
        date = asof.short(self.as_of)
        if recorded and c.minor == pythons.minor_of(recorded):
            return f"{c.minor}{where}: the notebook last ran on Python {recorded}; {wheels}"
        if c.minor == era and self.today:
            return f"{c.minor}{where}: the Python Orbit runs on{within}; {wheels}"
        if c.minor == era:
            return f"{c.minor}{where}: the newest Python{within} as of {date}; {wheels}"
        skipped = [x.minor for x in candidates[: candidates.index(c)]]
        tried = f" ({', '.join(skipped)} would not install them)" if skipped else ""
        return f"{c.minor}{where}: fits the packages as of {date}{within}{tried}; {wheels}"

    def keep(self, request: str) -> tuple[Fit | None, str]:
        """A declared Python: only the kernel's packages are fitted (wheels preferred)."""
        interpreter = pythons.find(request, self.interpreters)
        minor = interpreter.minor if interpreter else pythons.minor_of(request)
        c = Candidate(minor, interpreter)
        declared = _declared_python(self.res)
        why = f"{request}: declared" if declared else f"{request}: the profile's default"
        if declared:
            source = next(
                (s for s in self.res.sources if "python" in s.provides and s.path is not None),
                None,
            )
            why += f" in {source.path.name}" if source and source.path else " on the command line"
        for wheels in (True, False):
            if (found := self.try_python(c, wheels)) is not None:
                return found, why
        return None, why

    # -- one Python -------------------------------------------------------------------------

    def try_python(self, c: Candidate, wheels: bool) -> Fit | None:
        """Do the notebook's packages as of its date, with the kernel's, install on ``c``?"""
        released = asof.python_released(c.minor) or self.own_as_of
        low = max(self.own_as_of, released)
        if self.own and self.declared and low != self.as_of:  # the kernel's own, meanwhile
            self.ahead(c, [*self.lines, *self.own], low)
            self.guess(c, low, wheels)
        dated = self.compile(c, self.declared, self.as_of) if self.declared else ""
        if dated is None or (wheels and dated and not self.wheels(c, dated)):
            return None
        dated_names = _pinned(dated)
        if not self.own:
            self.accepted = (c, dated or "")
            return Fit(c.minor, self.as_of, (), wheels)
        high = max(self.ceiling, low)
        if (floating := self.kernel_at(c, low, dated_names, wheels)) is not None:
            return Fit(c.minor, low, floating, wheels)
        if low >= high or self.kernel_at(c, high, dated_names, wheels) is None:
            return None
        lo, hi = asof.to_datetime(low), asof.to_datetime(high)
        best, floating = high, self.kernel_at(c, high, dated_names, wheels)
        while hi - lo > _STEP:  # the oldest date that works (dates after it work too)
            mid = asof.day_of(lo + (hi - lo) / 2)
            if (moved := self.kernel_at(c, mid, dated_names, wheels)) is not None:
                hi, best, floating = asof.to_datetime(mid), mid, moved
            else:
                lo = asof.to_datetime(mid)
        assert floating is not None
        return Fit(c.minor, best, floating, wheels)

    def kernel_at(
        self, c: Candidate, when: str, dated: set[str], wheels: bool
    ) -> tuple[str, ...] | None:
        """The names of the kernel's packages that move to ``when``, if everything then installs
        on ``c`` (coupled ones stay dated while that works); None if it does not."""
        if when == self.as_of:
            pins = self.compile(c, [*self.declared, *self.own], self.as_of)
            ok = pins is not None and (not wheels or self.wheels(c, pins))
            if ok:
                self.accepted = (c, pins or "")
            return () if ok else None
        closure = self.compile(c, [*self.lines, *self.own], when)
        if closure is None:
            return None
        for names in self._moving(closure, dated):
            extra = _moved_to(names, when)
            hit, pins = self._guessed(c, when, extra)
            if not hit:
                pins = self.compile(c, [*self.declared, *self.own], self.as_of, extra)
            if pins is not None and (not wheels or self.wheels(c, pins)):
                self.accepted = (c, pins)
                return tuple(sorted(names))
        return None

    def _moving(self, closure: str, dated: set[str]) -> list[set[str]]:
        """The kernel's packages to move to their own date, as ``kernel_at`` tries them: those
        not coupled to a ``dated`` package of the notebook first (when any are), then all."""
        declared = {_name(d) for d in self.declared if _name(d)}
        exempt = {a.split("=")[1] for a in self.undated}  # dated (or not) by a rule of their own
        moving = _pinned(closure) - declared - exempt
        coupled: set[str] = set()
        while True:  # a kernel package kept dated keeps its own partners dated too
            more = {n for n in moving - coupled if set(COUPLINGS.get(n, ())) & (dated | coupled)}
            if not more:
                break
            coupled |= more
        return [moving - coupled, moving] if coupled else [moving]

    def guess(self, c: Candidate, when: str, wheels: bool) -> None:
        """Ask ahead, in the thread, the question ``kernel_at`` most likely asks after the
        notebook's own resolve: everything, with the kernel's packages moved to ``when``,
        coupled by the names the notebook declares (the names of its resolve are not known
        yet); then its wheel check, whose answer is kept like every answer. It runs while uv
        answers the notebook's question, instead of after it."""
        if (c, when) in self._guesses or self._pool is None:
            return
        closure = self._ahead.get((c, (*self.lines, *self.own), when, ()))
        if closure is None:
            return
        named = {n for d in self.declared if (n := _name(d))}

        def ask() -> tuple[tuple[str, ...], str | None]:
            kernel = closure.result()
            if kernel is None:
                return (), None
            extra = _moved_to(self._moving(kernel, named)[0], when)
            pins = self._compile(c, [*self.declared, *self.own], self.as_of, extra)
            if pins is not None and wheels:
                self.wheels(c, pins)
            return tuple(extra), pins

        self._guesses[(c, when)] = self._pool.submit(ask)

    def _guessed(self, c: Candidate, when: str, extra: list[str]) -> tuple[bool, str | None]:
        """Whether ``guess`` asked exactly this question, and its answer if it did."""
        if (guessed := self._guesses.get((c, when))) is None:
            return False, None
        with contextlib.suppress(Exception):  # (it failed: ask again here, and see why)
            question, pins = guessed.result()
            if question == tuple(extra):
                return True, pins
        return False, None

    # -- asking uv --------------------------------------------------------------------------

    def close(self) -> None:
        """No more questions: a question asked ahead and not needed is left to finish."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def ahead(self, c: Candidate, lines: list[str], when: str) -> None:
        """Ask uv now, in a thread, what ``compile`` will be asked next (two uv processes
        waiting on the index at once take the time of one); the answer is the same."""
        question = (c, tuple(lines), when, ())
        if question not in self._ahead:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orbit-era")
            self._ahead[question] = self._pool.submit(self._compile, c, lines, when)

    def compile(
        self, c: Candidate, lines: list[str], when: str, extra: Sequence[str] = ()
    ) -> str | None:
        """``uv pip compile`` of ``lines`` for ``c`` as of ``when``: the pins, or None."""
        if (asked := self._ahead.pop((c, tuple(lines), when, tuple(extra)), None)) is not None:
            return asked.result()
        return self._compile(c, lines, when, extra)

    def _compile(
        self, c: Candidate, lines: list[str], when: str, extra: Sequence[str] = ()
    ) -> str | None:
        args = ["pip", "compile", "-", "--no-header", "--no-annotate", "-v", *self.flags]
        args += [*c.python_args, "--exclude-newer", when, *self.undated, *extra]
        return self._ask(c, args, lines, constraints=self.constraints)

    def wheels(self, c: Candidate, pins: str) -> bool:
        """Whether every pinned version has a wheel for ``c``."""
        lines = [*self.lines, *(ln for ln in pins.splitlines() if "==" in ln)]
        args = ["pip", "compile", "-", "--no-header", "--quiet", "--no-deps", *self.flags]
        args += [*c.python_args, "--only-binary", ":all:"]
        # uv has just read these versions' files for the resolve that pinned them, so its cache
        # answers at once (a wheel once published stays); the index is asked when it cannot
        if self._ask(c, [*args, "--offline"], lines) is not None:
            return True
        return self._ask(c, args, lines) is not None

    def _ask(
        self, c: Candidate, args: list[str], lines: list[str], constraints: Sequence[str] = ()
    ) -> str | None:
        """uv's answer, from the cache when it was asked before (the same question about the
        past has the same answer; the interpreter's exact version is part of the question)."""
        version = c.interpreter.version if c.interpreter else None
        for _ in range(3):  # once more after each repair of old metadata
            repaired = self.repairs.digest()
            blob = json.dumps([args, lines, list(constraints), version, _env(), repaired])
            key = hashlib.sha256(blob.encode()).hexdigest()
            record = self.work / key[:2] / f"{key}.json"
            try:
                return json.loads(record.read_text())["pins"]
            except (OSError, ValueError, KeyError):
                pass
            pins, said = self._run(args, lines, constraints, key)
            if self.repairs.repair(said):
                continue  # uv skipped releases it could not read: ask again with them mended
            if not self.repairs.unread(said):  # an answer that holds (not one to mend later)
                with contextlib.suppress(OSError):  # only a cache
                    atomic.write_text(record, json.dumps({"pins": pins}))
            return pins
        return pins

    def _run(
        self, args: list[str], lines: list[str], constraints: Sequence[str], key: str
    ) -> tuple[str | None, str]:
        """uv's pins (None when it found none) and everything it said on the way."""
        from jupyter_orbit.uvcli import run_uv

        self.work.mkdir(parents=True, exist_ok=True)
        call = [*args, *self.repairs.args()]
        if constraints:
            cfile = self.work / f".constraints-{key[:16]}.txt"
            atomic.write_text(cfile, "\n".join(constraints) + "\n")
            call += ["--constraint", str(cfile)]
        stdin = "\n".join(lines) + "\n"
        said: list[str] = []
        with self._once:
            if self.announce is not None:
                self.announce()
                self.announce = None
        try:
            if self.unreachable is not None:
                return self._offline(call, stdin, self.unreachable), ""
            pins = run_uv(call, cwd=self.work, stdin=stdin, on_line=said.append)
            self.given.add(pins)  # what the index itself answered, in this process
            return pins, "\n".join(said)
        except IndexUnreachable as err:
            self.unreachable = err.message
            return self._offline(call, stdin, err.message), ""
        except BuildError as err:
            return None, "\n".join([*said, err.message])

    def _offline(self, call: list[str], stdin: str, reason: str) -> str | None:
        """No network: uv's cache may still know (a version it has not seen is no answer)."""
        from jupyter_orbit.uvcli import run_uv

        try:
            offline = call if "--offline" in call else [*call, "--offline"]
            return run_uv(offline, cwd=self.work, stdin=stdin)
        except BuildError:
            raise Unanswerable(reason) from None


def _moved_to(names: set[str], when: str) -> list[str]:
    """uv's arguments that date each of ``names`` at ``when``."""
    return [f"--exclude-newer-package={n}={when}" for n in sorted(names)]


def _env() -> dict[str, str]:
    """The indexes uv reads from the environment (the bundles' stand-in while they are in
    force): part of every answer's key."""
    import os

    from jupyter_orbit import offline

    env = offline.uv_environ(dict(os.environ))
    keys = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")
    return {k: env[k] for k in keys if env.get(k)}


def _name(line: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def _pinned(text: str) -> set[str]:
    from jupyter_orbit.ecosystems.pypi import pinned_names

    return pinned_names(text or "")


def _allows(request: str, minor: str, interpreter: pythons.Interpreter | None) -> bool:
    """Whether a declared range (``>=3.8``, a bare major ``3``) admits Python ``minor``."""
    request = request.strip()
    if request.isdigit():
        return minor.split(".")[0] == request
    try:
        spec = SpecifierSet(request)
    except InvalidSpecifier:
        return False
    version = interpreter.version if interpreter is not None else f"{minor}.0"
    return spec.contains(version, prereleases=True)
