"""What never leaves this machine when a project is synced, and why (pure; no I/O but reading
``.orbitignore``).

Orbit's own rules come first and cannot be undone by a project: version control folders,
secrets (``.env``, private keys, credentials), local environments and caches. A project's
``.orbitignore`` (gitignore syntax, at its root) can exclude more, never less. Every exclusion is
reported with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jupyter_orbit.errors import InputError

IGNORE_FILE = ".orbitignore"
_MAX_IGNORE = 64 * 1024

# (reason, gitignore patterns): checked in this order, before the project's own patterns.
DEFAULT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("version control", (".git/", ".hg/", ".svn/", ".jj/")),
    (
        "secret",
        (
            ".env",
            ".env.*",
            "*.env",
            ".envrc",
            ".ssh/",
            ".gnupg/",
            ".aws/",
            "id_rsa*",
            "id_dsa*",
            "id_ecdsa*",
            "id_ed25519*",
            "*.pem",
            "*.key",
            "*.p12",
            "*.pfx",
            "*.keytab",
            ".netrc",
            ".pypirc",
            ".npmrc",
            ".git-credentials",
            "credentials.json",
        ),
    ),
    (
        "local environment or cache",
        (
            ".venv/",
            "node_modules/",
            "__pycache__/",
            ".ipynb_checkpoints/",
            ".mypy_cache/",
            ".pytest_cache/",
            ".ruff_cache/",
            ".DS_Store",
        ),
    ),
)


@dataclass(frozen=True)
class Excluded:
    """A path left out, and why. Folders end in ``/`` and stand for all they hold."""

    path: str
    reason: str
    refused: bool = False  # left out because sending it would be unsafe (a link leaving)

    def __str__(self) -> str:
        return f"{self.path}  ({self.reason})"


class Rules:
    """Orbit's rules plus a project's ``.orbitignore`` patterns."""

    def __init__(self, project_patterns: list[str] | tuple[str, ...] = ()) -> None:
        import pathspec

        self._default = [
            (reason, pathspec.GitIgnoreSpec.from_lines(patterns))
            for reason, patterns in DEFAULT_RULES
        ]
        self.project_patterns = [p for p in project_patterns if p.strip()]
        self._project = pathspec.GitIgnoreSpec.from_lines(self.project_patterns)

    @classmethod
    def for_project(cls, root: Path) -> Rules:
        return cls(read_ignore_file(root))

    def reason(self, path: str, *, is_dir: bool = False) -> str | None:
        """Why ``path`` (relative, '/'-separated) is excluded, or None if it is synced."""
        probe = path + "/" if is_dir else path
        for reason, spec in self._default:
            if spec.match_file(probe):
                return reason
        check = self._project.check_file(probe)
        if check.include:
            pattern = self.project_patterns[check.index] if check.index is not None else "?"
            return f"{IGNORE_FILE}: {pattern.strip()}"
        return None


def read_ignore_file(root: Path) -> list[str]:
    """The patterns of ``root/.orbitignore`` (a regular file of at most 64 KiB), or none."""
    path = root / IGNORE_FILE
    if path.is_symlink() or not path.exists():
        return []
    if not path.is_file() or path.stat().st_size > _MAX_IGNORE:
        raise InputError(
            f"{IGNORE_FILE} is not a regular file of at most 64 KiB",
            "keep it a short list of gitignore-style patterns",
            path=path,
        )
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
