"""Progress reporting for long steps (builds, server start).

Engines and the server call ``step`` when a new phase begins and ``log`` for each line a tool
prints; how that is shown (a rich display, a server log, nothing) is the caller's choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from jupyter_orbit.model import Step


class Progress(Protocol):
    def step(self, action: str, detail: str = "") -> None: ...

    def log(self, line: str) -> None: ...

    def warn(self, message: str) -> None: ...


def announce_plan(progress: Progress, steps: Sequence[Step]) -> None:
    """Tell ``progress`` the steps a build is about to run, in order, when it wants to know
    (a reporter with a ``plan`` method): it can then say "step n of m". Reporters without one
    see only the steps themselves."""
    plan = getattr(progress, "plan", None)
    if callable(plan):
        plan([(s.action, s.detail) for s in steps])


class NullProgress:
    """Says nothing; keeps warnings so a caller can still report them."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def step(self, action: str, detail: str = "") -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class RichProgress:
    """A live status line on stderr, with each finished step kept as a line of its own."""

    def __init__(self, console: Console | None = None, *, title: str = "") -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.title = title
        self._status = None
        self._current: tuple[str, str, float] | None = None

    def __enter__(self) -> RichProgress:
        self._status = self.console.status(self.title or "working…")
        self._status.__enter__()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._finish(ok=exc_type is None)
        if self._status is not None:
            self._status.__exit__(exc_type, *rest)
            self._status = None

    def step(self, action: str, detail: str = "") -> None:
        self._finish(ok=True)
        self._current = (action, detail, time.monotonic())
        self._update(f"[bold]{action}[/] {detail}")

    def log(self, line: str) -> None:
        if self._current and line.strip():
            action, detail, _ = self._current
            self._update(f"[bold]{action}[/] {detail} [dim]{line.strip()[:100]}[/]")

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def _update(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)

    def _finish(self, *, ok: bool) -> None:
        if self._current is None:
            return
        action, detail, start = self._current
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(
            f"{mark} {action} [dim]{detail} ({time.monotonic() - start:.1f}s)[/]", highlight=False
        )
        self._current = None


class FanOutProgress:
    """Passes every call on to each of several reporters."""

    def __init__(self, *targets: Progress) -> None:
        self.targets = targets

    def step(self, action: str, detail: str = "") -> None:
        for t in self.targets:
            t.step(action, detail)

    def log(self, line: str) -> None:
        for t in self.targets:
            t.log(line)

    def warn(self, message: str) -> None:
        for t in self.targets:
            t.warn(message)

    def plan(self, steps: list[tuple[str, str]]) -> None:
        for t in self.targets:
            if callable(plan := getattr(t, "plan", None)):
                plan(steps)


class LogProgress:
    """Sends steps to a ``logging`` logger (the server's)."""

    def __init__(self, logger: object, prefix: str = "") -> None:
        self.logger = logger
        self.prefix = prefix
        self.warnings: list[str] = []

    def step(self, action: str, detail: str = "") -> None:
        self.logger.info("%s%s %s", self.prefix, action, detail)  # type: ignore[attr-defined]

    def log(self, line: str) -> None:
        self.logger.debug("%s%s", self.prefix, line)  # type: ignore[attr-defined]

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.logger.warning("%s%s", self.prefix, message)  # type: ignore[attr-defined]
