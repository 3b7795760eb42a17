"""Git repositories made by tests, with commits dated in the past."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(repo: Path, *args: str, date: str | None = None) -> str:
    """Run git in ``repo`` as a fixed test user, ignoring the machine's git configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    r = subprocess.run(
        ["git", "-c", "user.name=Orbit Tests", "-c", "user.email=tests@orbit.invalid", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout


def init(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    return repo


def commit_all(repo: Path, date: str, message: str = "work") -> str:
    """Commit everything in ``repo`` at ``date`` (ISO 8601); return the commit id."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-gpg-sign", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()
