"""When the files of a notebook's environment last changed in git: read-only, and run safely.

A repository someone cloned is untrusted input, and its ``.git/config`` can name programs for
git to run (an fsmonitor, a pager, hooks, signature checkers, content filters). Orbit only asks
git plumbing questions that run none of them: configuration from the system and the repository
that could start a program is overridden on the command line, the environment is scrubbed of
``GIT_*`` variables, and "is this file changed?" is answered by hashing the file without filters
(``hash-object --no-filters``) rather than by ``git status``, which runs clean filters.
Nothing here writes to the repository (no optional locks, so not even the index is refreshed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Settings that make git start another program, turned off whatever the repository says.
_SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "log.showSignature=false",
    "core.untrackedCache=false",
)
_TIMEOUT = 20


@dataclass(frozen=True)
class GitDate:
    """What git says about a set of files."""

    toplevel: Path
    commit: str | None = None  # the last commit touching any of them (None: none committed)
    date: datetime | None = None  # its committer date
    uncommitted: tuple[str, ...] = ()  # files (relative to toplevel) not as committed
    shallow: bool = False


class GitUnavailable(Exception):
    """No git, not a repository, or git refused (e.g. a repository owned by someone else)."""


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_ATTR_NOSYSTEM="1",
        GIT_LITERAL_PATHSPECS="1",  # a file named "*.ipynb" or ":x" is that file, not a pattern
        LC_ALL="C",
    )
    return env


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    exe = shutil.which("git")
    if exe is None:
        raise GitUnavailable("git is not installed")
    cmd = [exe, "--no-pager", "--no-optional-locks"]
    for setting in _SAFE_CONFIG:
        cmd += ["-c", setting]
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    try:
        r = subprocess.run(
            [*cmd, *args], cwd=cwd, env=_environ(), capture_output=True, timeout=_TIMEOUT, **feed
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitUnavailable(str(e)) from None
    if r.returncode != 0:
        lines = r.stderr.decode(errors="replace").strip().splitlines()
        raise GitUnavailable(lines[-1] if lines else f"git {args[0]} failed")
    return r.stdout


def last_change(files: list[Path]) -> GitDate:
    """The last commit touching ``files`` and which of them differ from it.

    Raises ``GitUnavailable`` when the files are not in a git work tree git will read.
    """
    files = [f.resolve() for f in files]
    out = _git(files[0].parent, "rev-parse", "--show-toplevel", "--is-shallow-repository")
    top_line, shallow_line = out.decode().splitlines()[:2]
    top = Path(top_line).resolve()
    inside = [f for f in files if f.is_relative_to(top)]
    rel = [f.relative_to(top).as_posix() for f in inside]
    shallow = shallow_line.strip() == "true"
    if not rel:
        return GitDate(top, shallow=shallow)
    try:
        tree = _git(top, "ls-tree", "-z", "--full-tree", "HEAD", "--", *rel)
    except GitUnavailable:  # no commit yet
        return GitDate(top, uncommitted=tuple(rel), shallow=shallow)
    committed: dict[str, str] = {}
    for entry in tree.split(b"\0"):
        if entry:
            meta, _, path = entry.decode().partition("\t")
            committed[path] = meta.split()[2]
    present = [(r, f) for r, f in zip(rel, inside, strict=True) if f.is_file() and r in committed]
    hashes = (
        _git(top, "hash-object", "--no-filters", "--", *[r for r, _ in present]).split()
        if present
        else []
    )
    uncommitted = [r for r in rel if r not in committed]
    for (r, f), oid in zip(present, hashes, strict=True):
        if oid.decode() != committed[r] and not _same_with_lf(top, f, committed[r]):
            uncommitted.append(r)
    if not committed:
        return GitDate(top, uncommitted=tuple(rel), shallow=shallow)
    log = _git(top, "log", "-1", "--format=%H%x00%cI", "--", *committed).decode().strip()
    commit, _, when = log.partition("\0")
    return GitDate(
        top,
        commit=commit or None,
        date=datetime.fromisoformat(when) if when else None,
        uncommitted=tuple(dict.fromkeys(uncommitted)),
        shallow=shallow,
    )


def _same_with_lf(top: Path, file: Path, oid: str) -> bool:
    """A checkout with CRLF line endings (core.autocrlf) still matches its LF blob."""
    data = file.read_bytes()
    if b"\r\n" not in data:
        return False
    normalised = data.replace(b"\r\n", b"\n")
    return _git(top, "hash-object", "--no-filters", "--stdin", stdin=normalised).strip() == (
        oid.encode()
    )
