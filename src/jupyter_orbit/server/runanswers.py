"""The pipeline's answers for ``orbit run`` requests, kept in the server's memory.

``orbit run NB`` with the server up sends the notebook's path and the command line's choices;
the server runs the one pipeline up to ``lookup`` with them (as ``orbit run`` itself would,
project root found the same way) and keeps the answer: which built environment, engine and
kernel recipe. The next run of the same notebook takes the answer as long as nothing the
pipeline read has changed: the notebook's bytes, the stat of every project file name the
resolution looks for in every folder it walks (present or not, ``binder/`` folders and root
markers too), the files that contributed, the profile's settings, and the day (an undated
notebook is resolved as of today). A miss runs the pipeline again.

Anything but a built environment with nothing to start beside its kernel is answered "run the
pipeline in ``orbit run``" (``Answer.here``): building asks for consent at the user's terminal,
services and data sets are started or fetched there, and errors are told there as ever.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_orbit.errors import OrbitError
from jupyter_orbit.paths import Paths, ProfilePaths

_SIZE = 64  # notebooks remembered (least recently run dropped first)
_BINDERS = ("binder", ".binder")
_MARKERS = (".git", ".hg")


@dataclass(frozen=True)
class Asked:
    """What ``orbit run``'s command line decides that changes the pipeline's answer."""

    python: str | None = None
    engine: str | None = None
    as_of: str | None = None
    locked: bool = False

    @classmethod
    def of(cls, body: dict[str, Any]) -> Asked:
        def text(key: str) -> str | None:
            value = body.get(key)
            return str(value) if value else None

        return cls(text("python"), text("engine"), text("as_of"), bool(body.get("locked")))


@dataclass(frozen=True)
class Answer:
    """The environment a notebook runs in, or why ``orbit run`` must prepare it itself."""

    env_id: str = ""
    engine: str = ""
    kernel: str = ""
    imports: tuple[str, ...] = ()
    kernel_env: dict[str, str] = field(default_factory=dict)  # the hardware fit's variables
    here: str = ""  # non-empty: orbit run prepares the notebook itself, and why


Prepare = Callable[..., Any]  # jupyter_orbit.prepare.prepare (a seam for tests)


class RunAnswers:
    """The answers, per notebook and command-line choices, with what they were read from."""

    def __init__(
        self,
        paths: Paths,
        profile: ProfilePaths,
        choices: Callable[[], Any],
        *,
        prepare: Prepare | None = None,
        size: int = _SIZE,
    ) -> None:
        self.paths, self.profile = paths, profile
        self._choices = choices  # the server's own choices (runtime.choices)
        self._prepare = prepare
        self._size = size
        self._seen: OrderedDict[tuple[Path, Asked], tuple[list[Path], tuple, Answer]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def answer(self, notebook: Path, asked: Asked) -> Answer:
        """The pipeline's answer for ``notebook`` (a real path) with ``asked``; blocking."""
        key = (notebook, asked)
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None:
            watched, prints, answer = seen
            if _prints(notebook, watched, self._day()) == prints:
                with self._lock:
                    self._seen.move_to_end(key)
                return answer
        watched = self._watched(notebook)
        prints = _prints(notebook, watched, self._day())  # before reading: a change wins
        answer, sources = self._run_pipeline(notebook, asked)
        if answer.here:
            return answer  # not kept: the next run asks again
        watched = [*watched, *sources]
        prints = (*prints, *(_stat(p) for p in sources))
        with self._lock:
            self._seen[key] = (watched, prints, answer)
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return answer

    def forget(self, notebook: Path, asked: Asked) -> None:
        """Drop the answer (its environment is gone)."""
        with self._lock:
            self._seen.pop((notebook, asked), None)

    def _day(self) -> str:
        from jupyter_orbit import asof

        return asof.clock().date().isoformat()

    def _watched(self, notebook: Path) -> list[Path]:
        """Every path whose change changes the resolution, other than the notebook's bytes."""
        from jupyter_orbit.manifests.formats import project_manifests
        from jupyter_orbit.resolve import find_project_root

        names = [n for m in project_manifests() for n in m.filenames]
        start = notebook.parent
        top = find_project_root(start)
        if top is None:  # resolve's walk: no higher than the home folder, else the root
            home = Path.home()
            top = home if start.is_relative_to(home) else Path(start.anchor)
        folders = [start]
        while folders[-1] != top and folders[-1] != folders[-1].parent:
            folders.append(folders[-1].parent)
        out = [self.profile.settings_file]
        for folder in folders:
            out += [folder / m for m in _MARKERS]
            for src in (folder, *(folder / b for b in _BINDERS)):
                out.append(src)
                out += [src / n for n in names]
        return out

    def _run_pipeline(self, notebook: Path, asked: Asked) -> tuple[Answer, list[Path]]:
        from jupyter_orbit.beside import find
        from jupyter_orbit.data.kernel import read_notebook
        from jupyter_orbit.indexes import IndexPolicy

        prepare = self._prepare
        if prepare is None:
            from jupyter_orbit.prepare import prepare
        try:
            choices = dataclasses.replace(
                self._choices(),
                root=None,  # the project root found as `orbit run` finds it: its environment
                python=asked.python,
                engine=asked.engine,
                as_of=asked.as_of,
                locked=asked.locked,
                indexes=IndexPolicy.for_profile(self.paths, self.profile.name),
            )
            prepared = prepare(notebook, choices, self.paths, until="lookup")
            if prepared.environment is None:
                return Answer(here="its environment is not built"), []
            res = prepared.resolution
            if find(res, self.paths):
                return Answer(here="it runs beside services"), []
            if read_notebook(notebook):
                return Answer(here="it declares data sets"), []
        except OrbitError as err:  # told by orbit run, with its own hint and exit code
            return Answer(here=err.message), []
        sources = [s.path for s in res.sources if s.path is not None]
        kernel_env = prepared.hardware.kernel_env() if prepared.hardware is not None else {}
        return Answer(
            env_id=prepared.environment.env_id,
            engine=prepared.environment.engine,
            kernel=prepared.recipe.name,
            imports=tuple(r.name for r in res.spec.declared("pypi")),
            kernel_env=dict(kernel_env),
        ), sources


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        s = path.stat()
    except OSError:
        return None
    return (s.st_mtime_ns, s.st_size, s.st_ino)


def _prints(notebook: Path, watched: list[Path], day: str) -> tuple:
    try:
        digest = hashlib.sha256(notebook.read_bytes()).hexdigest()
    except OSError:
        digest = ""
    return (day, digest, *(_stat(p) for p in watched))
