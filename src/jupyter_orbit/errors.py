"""The one user-facing error type and its exit codes.

Every failure a user can fix is an ``OrbitError``: a short message saying what failed (naming the
file, and the line where there is one) and a hint saying how to fix it. The CLI turns it into two
lines on stderr and an exit code; nothing else prints tracebacks unless ``ORBIT_DEBUG=1``.
"""

from __future__ import annotations

from pathlib import Path

EXIT_FAILURE = 1
EXIT_USAGE = 2


class OrbitError(Exception):
    """A failure with a message for the user and, when there is one, the fix."""

    exit_code = EXIT_FAILURE

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        path: Path | str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = Path(path) if path is not None else None
        self.line = line

    @property
    def where(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.path else self.message

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "error": self.message,
            "hint": self.hint,
            "path": str(self.path) if self.path else None,
            "line": self.line,
            "kind": type(self).__name__,
        }


class InputError(OrbitError):
    """Bad input or usage: a malformed file, an unknown name, a missing path (exit 2)."""

    exit_code = EXIT_USAGE


class BuildError(OrbitError):
    """An environment could not be built."""

    # Whether a build of another date could succeed (``asof.explain`` then offers one).
    dated = True


class ServerError(OrbitError):
    """The profile's server could not be started, reached or stopped."""


class TrustError(OrbitError):
    """Something would be installed or honoured from a project the user has not trusted."""

    exit_code = EXIT_USAGE


class AsOfError(BuildError):
    """What the requirements ask for had not been published yet at the resolution date."""


# -- what a package index said: each failure told as what it is ------------------------------


class PackageNotFound(BuildError):
    """The index has no package of that name (a typo, or a private package)."""

    dated = False
    package = ""  # the name the index does not have


class NoSuchVersion(BuildError):
    """The index has the package but not the version asked for."""

    dated = False


class ConflictError(BuildError):
    """The requirements asked for cannot be installed together."""


class NoWheelError(BuildError):
    """The package has no release installable on this Python (or platform)."""


class RegistryError(BuildError):
    """The package index is at fault, not the requirements: trying again later may work."""

    dated = False


class IndexUnreachable(RegistryError):
    """The index could not be reached (no network, DNS, a timeout, a server error)."""


class IndexInconsistent(RegistryError):
    """The index answered inconsistently: it listed something it then did not serve."""


class DiskError(OrbitError):
    """A file could not be written (or read): no space left, no permission, a read-only disk."""


# errno -> (what happened, how to fix it); {path} and {where} are filled in.
_OS_ERRORS = {
    "ENOSPC": (
        "no space left on the device holding {path}{free}",
        "free space on that disk, then run the command again (Orbit writes files whole and "
        "removes unfinished builds: nothing half-written was left; `uv cache prune` frees "
        "uv's cache)",
    ),
    "EDQUOT": (
        "disk quota exceeded writing {path}{free}",
        "free space within your quota, then run the command again (`uv cache prune` frees "
        "uv's cache)",
    ),
    "EACCES": (
        "permission denied: {path}",
        "check that you may write there (owner and mode: `ls -ld {where}`), or work on a copy "
        "you own",
    ),
    "EPERM": (
        "operation not permitted: {path}",
        "check the file's owner and attributes (`ls -ld {where}`; `lsattr` for immutable "
        "files), or work on a copy you own",
    ),
    "EROFS": (
        "{path} is on a read-only file system",
        "work on a copy on a writable disk, or remount that one writable",
    ),
    "EIO": (
        "input/output error on {path}",
        "the disk may be failing or gone (a network or removable drive?); check it",
    ),
}


def from_os_error(err: OSError) -> DiskError | None:
    """The ``OSError`` of a full, read-only or forbidden disk as a ``DiskError`` naming the
    file (None for other errors: those are bugs or belong to their caller)."""
    import contextlib
    import errno
    import os
    import shutil

    code = errno.errorcode.get(err.errno or 0)
    if code not in _OS_ERRORS:
        return None
    raw = err.filename if err.filename is not None else None
    path = os.fsdecode(raw) if raw is not None else None
    message, hint = _OS_ERRORS[code]
    free = ""
    if path is not None:
        folder = Path(path)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        with contextlib.suppress(OSError):
            free = f" ({shutil.disk_usage(folder).free // 1024} KiB free)"
    shown = path or "a file Orbit was writing (under ORBIT_HOME, uv's cache or the project)"
    where = str(Path(path).parent) if path else "."
    return DiskError(message.format(path=shown, free=free), hint.format(where=where))
