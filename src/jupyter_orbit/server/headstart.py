"""The first warm kernel started with the server process, before jupyter_server is imported.

Right after ``orbit up`` the notebook opened first is most likely the one opened last under the
same root, and the pool keeps its environment warm (``recent_opens``). The pool itself starts
only once the server is up, about a second after its process began, so that first notebook
used to wait for a kernel still booting. Here the server process starts, with the standard
library alone and before anything else, the kernel of the environment opened last under its
root (``prestart.start``, as ``orbit run`` does for a run), importing the notebook's packages
as it boots when its recipe can have it do so (``KernelRecipe.warm_argv``: what the pool would
run in it once warm). That command is asked of the recipe when the environment is recorded
(``boot_command``), so the start needs no recipe loaded. The pool adopts it when it warms that
environment (``KernelPool.want(..., started=...)``), and stops it unused otherwise.

Only what the pool would start itself is started: the command the profile's own record keeps
(written by Orbit, readable and writable by the user alone, as ``RecentOpens`` checks), and
only when the server's command line keeps a pool (``pool_per_env``, ``pool_max_envs`` and
``pool_memory_mb`` not 0).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeGuard

from jupyter_orbit import prestart

_POOL_OPTIONS = ("pool_per_env", "pool_max_envs", "pool_memory_mb")
# (env_id, the command the pool would start, the kernel) until claimed
_begun: tuple[str, tuple[str, ...], prestart.Started] | None = None


def _options(argv: list[str]) -> dict[str, str]:
    """``--Section.name=value`` options of the command line, the last one of each name."""
    found: dict[str, str] = {}
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg[2:].partition("=")
            found[name] = value
    return found


def _pooled(options: dict[str, str]) -> bool:
    """Whether the command line keeps a pool: each of its sizes given, and none of them 0."""
    for name in _POOL_OPTIONS:
        value = options.get(f"OrbitExtension.{name}")
        if value is None and name != "pool_memory_mb":  # no budget given: sized from the RAM
            return False
        if value is not None and (not value.strip().isdigit() or int(value) == 0):
            return False
    return True


def boot_command(recipe: str, argv: list[str], imports: Sequence[str]) -> list[str] | None:
    """What a head start runs for a kernel of ``recipe`` started as ``argv``: that command, made
    to import ``imports`` as it boots when the recipe can say so; None when the pool keeps no
    kernels of that recipe. Kept in the recent-opens record beside ``argv``."""
    from jupyter_orbit.kernels.recipes import find_recipe

    found = find_recipe(recipe)
    if found is None or found.adopt_code(Path(), "") is None:  # the pool keeps none
        return None
    return found.warm_argv(argv, imports) or list(argv)


def _command(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(a, str) for a in value)


def begin(argv: list[str], environ: dict[str, str] | None = None) -> prestart.Started | None:
    """Start the kernel of the environment last opened under the server's root, if the pool
    would keep it warm; it waits for ``claim``. Never fails the server's start."""
    global _begun
    environ = dict(os.environ) if environ is None else environ
    try:
        from jupyter_orbit.paths import DEFAULT_PROFILE, Paths
        from jupyter_orbit.server.recent_opens import RecentOpens

        options = _options(argv)
        root = options.get("ServerApp.root_dir")
        if not root or not _pooled(options):
            return None
        root_dir = Path(root).resolve()
        paths = Paths.from_env(environ)
        profile = paths.profile(environ.get("ORBIT_PROFILE", DEFAULT_PROFILE))
        entries = RecentOpens(profile.root / "recent-opens.json").of(root_dir)
        entry = entries[0] if entries else None
        argv_, boot = (entry.get("argv"), entry.get("boot")) if entry else (None, None)
        if not (_command(argv_) and _command(boot) and Path(boot[0]).exists()):
            return None  # none recorded, the pool keeps none of its kind, or removed since
        env = entry.get("env") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            return None
        language = str(entry.get("language", "python"))
        command = prestart.KernelCommand.of(boot, language, env, root_dir, "")
        runtime = Path(environ.get("JUPYTER_RUNTIME_DIR") or profile.runtime_dir)
        started = prestart.start(command, runtime, None)
    except Exception:  # only a head start is lost: the pool starts it as usual
        return None
    if started is not None:
        _begun = (entry["env_id"], tuple(argv_), started)
    return started


def claim(env_id: str, argv: list[str]) -> prestart.Started | None:
    """The kernel begun for ``env_id`` and the pool's command ``argv``, handed over once (None:
    none, or another's)."""
    global _begun
    if _begun is None or _begun[:2] != (env_id, tuple(argv)):
        return None
    started, _begun = _begun[2], None
    return started


def discard() -> None:
    """Stop the kernel begun, if nobody claimed it (the pool did not want that environment)."""
    global _begun
    begun, _begun = _begun, None
    if begun is not None:
        begun[2].discard()
