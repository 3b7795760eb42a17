"""What several commands share: locations, the console, progress, asking the user."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.progress import NullProgress, Progress

if TYPE_CHECKING:
    from jupyter_orbit.model import Resolution


def locations(profile: str) -> tuple[Paths, ProfilePaths]:
    paths = Paths.from_env()
    return paths, paths.profile(profile)


@contextlib.contextmanager
def progress(quiet: bool, title: str = "") -> Iterator[Progress]:
    if quiet or not sys.stderr.isatty():
        plain = _PlainProgress(quiet)
        yield plain
        return
    from jupyter_orbit.progress import RichProgress

    with RichProgress(title=title) as p:
        yield p


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


def declared(res: Resolution) -> list[str]:
    """What the notebook or project itself asks to install (not the kernel's own packages)."""
    return [
        f"{r.ecosystem}:{r.text}"
        for r in res.spec.requirements
        if r.origin is None or r.origin.rank < 5
    ]


def confirm(question: str) -> bool:
    import click

    return click.confirm(question, default=False, err=True)
