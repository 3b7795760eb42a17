"""What several commands share: locations, the console, progress, asking the user."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress

if TYPE_CHECKING:
    pass


def locations(profile: str) -> tuple[Paths, ProfilePaths]:
    paths = Paths.from_env()
    return paths, paths.profile(profile)


def use_profile(profile: str) -> None:
    """Make ``profile`` this process's profile (``ORBIT_PROFILE``) for what reads it below the
    command line: engines whose settings live in the profile (its remote hosts), and the
    processes the command starts."""
    os.environ["ORBIT_PROFILE"] = profile


@contextlib.contextmanager
def progress(quiet: bool, title: str = "") -> Iterator[Progress]:
    """Progress on stderr: a live display at a terminal, plain lines otherwise (none when
    quiet, warnings always). The display starts with the first step, so a command that has
    nothing to build shows nothing and imports nothing for it."""
    if quiet or not sys.stderr.isatty():
        yield _PlainProgress(quiet)
        return
    with contextlib.ExitStack() as stack:
        yield _LazyRich(stack, title)


class _LazyRich:
    """A rich display opened on the first call."""

    def __init__(self, stack: contextlib.ExitStack, title: str) -> None:
        self._stack = stack
        self._title = title
        self._live: Progress | None = None

    def _open(self) -> Progress:
        if self._live is None:
            from jupyter_orbit.progress import RichProgress

            self._live = self._stack.enter_context(RichProgress(title=self._title))
        return self._live

    def step(self, action: str, detail: str = "") -> None:
        self._open().step(action, detail)

    def log(self, line: str) -> None:
        if self._live is not None:
            self._live.log(line)

    def warn(self, message: str) -> None:
        self._open().warn(message)


class _PlainProgress(NullProgress):
    """Without a terminal: one line per step on stderr (none when quiet), warnings always."""

    def __init__(self, quiet: bool) -> None:
        super().__init__()
        self.quiet = quiet

    def step(self, action: str, detail: str = "") -> None:
        if not self.quiet:
            print(f"orbit: {action} {detail}".rstrip(), file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        super().warn(message)
        print(f"orbit: warning: {message}", file=sys.stderr, flush=True)


def confirm(question: str) -> bool:
    import click

    return click.confirm(question, default=False, err=True)
