"""Line-level editing that leaves every untouched line byte-identical.

The writers of line-oriented formats (requirements.txt, apt.txt, the lists of environment.yml)
work on physical lines with their own endings: they delete, replace or insert whole lines and
never re-serialise the rest. New lines take the file's line ending; a file that did not end
with a newline gets one before anything is appended after its last line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Requirement


@dataclass
class Lines:
    lines: list[str]  # physical lines, each with its own ending (the last may have none)
    newline: str

    @classmethod
    def of(cls, text: str) -> Lines:
        lines = text.splitlines(keepends=True)
        crlf = sum(ln.endswith("\r\n") for ln in lines)
        return cls(lines, "\r\n" if crlf * 2 > len(lines) and crlf else "\n")

    def text(self) -> str:
        return "".join(self.lines)

    @staticmethod
    def body(line: str) -> str:
        """A line without its ending."""
        return line.rstrip("\r\n")

    def ending(self, index: int) -> str:
        line = self.lines[index]
        return line[len(self.body(line)) :] or self.newline

    def replace(self, index: int, content: str) -> None:
        """Put ``content`` in place of line ``index``, keeping that line's own ending."""
        line = self.lines[index]
        self.lines[index] = content + line[len(self.body(line)) :]

    def insert(self, index: int, content: str) -> None:
        """Insert a new line before ``index`` (``len(lines)`` appends)."""
        if index > 0 and not self.lines[index - 1].endswith(("\n", "\r")):
            self.lines[index - 1] += self.newline
        self.lines.insert(index, content + self.newline)

    def last_content(self) -> int:
        """The index after the last line that is not blank (where appended lines go)."""
        for i in range(len(self.lines) - 1, -1, -1):
            if self.lines[i].strip():
                return i + 1
        return 0


def missing_error(names: Sequence[str], what: str, path: object) -> InputError:
    listed = ", ".join(names)
    return InputError(
        f"{listed} {'is' if len(names) == 1 else 'are'} not listed in {what}",
        "check the name (`orbit env` shows what is declared where), or remove it from the file "
        "that declares it with --file",
        path=path,  # type: ignore[arg-type]
    )


def by_name(add: Sequence[Requirement]) -> dict[str, Requirement]:
    return {r.name: r for r in add}
