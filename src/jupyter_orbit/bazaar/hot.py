"""Hot add: a running kernel gets the packages just added, without a restart.

Environments are content-addressed (id = hash of the spec) and may be shared by many
notebooks, so the running kernel's environment is never changed. Instead the new spec's
environment is *grown* from it:

1. clone the running environment into a build folder: every file hardlinked (uv's cache and
   the bytecode store already share them), the few files tools rewrite copied;
2. resolve the new spec with the running environment's versions as constraints, so nothing
   the kernel may have imported changes version (if that is impossible, say a restart is
   needed), or take the notebook's new lock as it is;
3. ``uv pip sync`` the clone to that resolution (uv unlinks and links, never writes into a
   file, so the hardlinked originals are untouched), compile the new bytecode once;
4. rename the clone into place under the new spec's id, its record naming what it grew from;
5. in the kernel, silently: swap the old site-packages for the new one on ``sys.path`` (the
   modules already imported keep working from the old, unchanged files) and
   ``importlib.invalidate_caches()``.

The grown environment satisfies the new spec exactly as a fresh build would (a locked spec
installs the very same versions; an unlocked one may keep older, still matching versions of
packages the kernel had). The next restart of the kernel resolves the notebook and finds the
grown environment under the new id.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_orbit import __version__, atomic
from jupyter_orbit.bazaar import lockfile
from jupyter_orbit.engines import bytecode
from jupyter_orbit.engines.local import (
    MARKER,
    LocalEngine,
    _read_pyvenv_cfg,
    _site_packages,
    _split_options,
    environment_python,
)
from jupyter_orbit.errors import BuildError, OrbitError
from jupyter_orbit.model import Environment, EnvSpec
from jupyter_orbit.progress import Progress

# Files a tool may rewrite in place: copied into the clone instead of linked.
_COPY = {"pyvenv.cfg", MARKER}
_COPY_DIRS = {"orbit", "bin", "Scripts"}


class NeedsRestart(OrbitError):
    """The new packages cannot join the running kernel; a restart will use them."""


def clone(src: Path, dest: Path) -> None:
    """Recreate ``src`` at ``dest`` with hardlinks (symlinks kept as links), then replace the
    few files tools rewrite with copies. ``cp -al`` where there is one: several times faster
    than walking thousands of files from Python."""
    import subprocess

    cp = shutil.which("cp")
    if cp and os.name == "posix" and sys.platform.startswith("linux"):
        r = subprocess.run([cp, "-al", str(src), str(dest)], capture_output=True)
        if r.returncode == 0:
            for name in _COPY_DIRS:
                if (dest / name).is_dir():
                    shutil.rmtree(dest / name)
                    shutil.copytree(src / name, dest / name, symlinks=True)
            for name in _COPY:
                if (src / name).is_file():
                    (dest / name).unlink()
                    shutil.copy2(src / name, dest / name)
            return
        shutil.rmtree(dest, ignore_errors=True)
    _clone_walk(src, dest)


def _clone_walk(src: Path, dest: Path) -> None:
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        target = dest / rel
        target.mkdir(parents=True, exist_ok=True)
        copy_all = bool(rel.parts) and rel.parts[0] in _COPY_DIRS
        for d in list(dirs):
            if (Path(root) / d).is_symlink():
                (target / d).symlink_to((Path(root) / d).readlink())
                dirs.remove(d)
        for f in files:
            s, t = Path(root) / f, target / f
            if s.is_symlink():
                t.symlink_to(s.readlink())
            elif copy_all or (not rel.parts and f in _COPY):
                shutil.copy2(s, t)
            else:
                try:
                    os.link(s, t)
                except OSError:  # another filesystem
                    shutil.copy2(s, t)


def _pins(env: Environment) -> list[str]:
    try:
        return lockfile.pins((env.location / "orbit" / "requirements.lock.txt").read_text())
    except OSError:
        return []


def grow(
    engine: LocalEngine,
    base: Environment,
    spec: EnvSpec,
    progress: Progress,
    *,
    candidate: list[str] | None = None,
    later: list[Any] | None = None,
) -> Environment:
    """The environment of ``spec``, grown from ``base`` (see the module's doc).

    ``candidate`` is a resolution of ``spec`` made already (by ``orbit add``'s check); it is
    used as it is when it keeps every version ``base`` has. With ``later``, the bytecode of
    the new packages is not compiled here: a callable that does it is appended to ``later``
    (the server runs it once the kernel has switched; until then, imports compile in memory).
    """
    from filelock import FileLock

    from jupyter_orbit.bazaar.pypi import PyPI

    if existing := engine.lookup(spec):
        _check_compatible(base, existing)
        return existing
    root = engine.root
    with FileLock(root / f".{spec.env_id}.lock"):
        if existing := engine.lookup(spec):
            _check_compatible(base, existing)
            return existing
        build = root / f".build-{spec.env_id}-{secrets.token_hex(4)}"
        try:
            progress.step("clone", f"{base.env_id} (hardlinks)")
            clone(base.location, build)
            meta = build / "orbit"
            pinned = meta / "requirements.lock.txt"
            python = environment_python(build)
            flags, lines = _split_options(spec.index_options)
            exact = lockfile.is_current(spec)
            if exact and spec.lock:
                text = spec.lock.text
            elif candidate and not _changes_versions(_pins(base), candidate):
                text = "\n".join(candidate) + "\n"
            else:
                progress.step("resolve", "keeping the running kernel's versions")
                pypi = PyPI(engine.paths)
                try:
                    text = pypi.compile(
                        lines + [r.text for r in spec.packages("pypi")],
                        python=str(python),
                        cwd=meta,
                        constraints=[c.text for c in spec.constraints] + _pins(base),
                        flags=flags,
                        extra=pypi.date_args(spec, str(python), flags, lines),
                        prefer_cache=True,
                    )
                except BuildError as e:
                    raise NeedsRestart(
                        f"the new packages need other versions of packages the kernel already "
                        f"has ({e.message})",
                        "restart the kernel to use them",
                    ) from None
            if _changes_versions(_pins(base), lockfile.pins(text)):
                raise NeedsRestart(
                    "the new packages need other versions of packages the kernel has",
                    "restart the kernel to use them",
                )
            atomic.write_text(pinned, text)
            progress.step("install", "into the clone")
            from jupyter_orbit.uvcli import run_uv

            site = _site_packages(build)
            had = {p.name for s in site for p in s.iterdir()}
            args = ["pip", "sync", "--python", str(python), *flags]
            if exact:
                args.append("--require-hashes")
            run_uv([*args, str(pinned)], cwd=meta, on_line=progress.log)
            final = engine.location(spec)
            added = [p.name for s in site for p in s.iterdir() if p.name not in had]
            if later is None:
                progress.step("bytecode", "for the new packages")
                _bytecode(engine, build, [s / n for s in site for n in added])
            else:
                later.append(
                    lambda: _bytecode(
                        engine, final, [s / n for s in _site_packages(final) for n in added]
                    )
                )
            progress.step("commit", str(final))
            record = json.loads((base.location / MARKER).read_text())
            record.update(
                env_id=spec.env_id,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                orbit=__version__,
                spec=spec.to_dict(),
                identity=spec.identity(),
                grown_from=base.env_id,
            )
            (build / MARKER).unlink(missing_ok=True)
            build.rename(final)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        atomic.write_json(final / MARKER, record)
    env = engine.lookup(spec)
    assert env is not None
    return env


def _changes_versions(before: list[str], after: list[str]) -> bool:
    """True if a package in ``before`` has another version (or is gone) in ``after``."""

    def table(lines: list[str]) -> dict[str, str]:
        out = {}
        for ln in lines:
            name, _, version = ln.split(";")[0].strip().partition("==")
            if version:
                out[name.strip().lower()] = version.strip()
        return out

    old, new = table(before), table(after)
    return any(name in new and new[name] != v for name, v in old.items())


def _check_compatible(base: Environment, other: Environment) -> None:
    if _changes_versions(_pins(base), _pins(other)):
        raise NeedsRestart(
            f"environment {other.env_id} (already built for the new spec) has other versions of "
            "packages the kernel has",
            "restart the kernel to use it",
        )


def _bytecode(engine: LocalEngine, build: Path, new: list[Path]) -> None:
    """Bytecode for what the sync added (the clone's other files have theirs, linked)."""
    cfg = _read_pyvenv_cfg(build / "pyvenv.cfg")
    v = cfg.get("version_info", "")
    if cfg.get("implementation", "").lower() != "cpython" or not v or not new:
        return
    major, minor = v.split(".")[:2]
    store = bytecode.BytecodeStore(engine.root / ".bytecode", f"cpython-{major}{minor}")
    missing = store.link_known(new)
    if missing:
        bytecode.compile_tree(environment_python(build), build, new, to_compile=missing)
        store.keep(new)


# Runs silently in the kernel. Replaces the old environment's site-packages (and what its .pth
# files added) with the new one's at the same place on sys.path, puts the new bin/ first on PATH.
INJECT = """
def _orbit_grow(old, new, old_bin, new_bin):
    import importlib, os, site, sys
    at = sys.path.index(old) if old in sys.path else len(sys.path)
    if old in sys.path:
        sys.path.remove(old)
    before = list(sys.path)
    site.addsitedir(new)
    added = [p for p in sys.path if p not in before]
    for p in added:
        sys.path.remove(p)
    sys.path[at:at] = added
    importlib.invalidate_caches()
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != old_bin]
    os.environ["PATH"] = os.pathsep.join([new_bin, *parts])
    os.environ["VIRTUAL_ENV"] = os.path.dirname(new_bin)
_orbit_grow({old}, {new}, {old_bin}, {new_bin}); del _orbit_grow
"""


def inject_code(old: Environment, new: Environment) -> str:
    old_site, new_site = _site_packages(old.location), _site_packages(new.location)
    if not old_site or not new_site:
        raise BuildError("no site-packages folder in the environment", None)
    return INJECT.format(
        old=json.dumps(str(old_site[0])),
        new=json.dumps(str(new_site[0])),
        old_bin=json.dumps(str(environment_python(old.location).parent)),
        new_bin=json.dumps(str(environment_python(new.location).parent)),
    )


async def inject(km: Any, old: Environment, new: Environment, timeout: float = 60) -> bool:
    """Run the switch in the kernel managed by ``km``; True once the kernel has run it."""
    kc = km.client()
    kc.start_channels()
    try:
        reply = await kc.execute_interactive(
            inject_code(old, new), silent=True, store_history=False, timeout=timeout
        )
        return reply.get("content", {}).get("status") == "ok"
    finally:
        kc.stop_channels()


async def hot_update(
    runtime: Any, kernel_manager: Any, target: Path, candidate: list[str] | None = None
) -> list[dict[str, Any]]:
    """Grow and switch every running kernel whose notebook is ``target`` (or inside it, for a
    project folder) and whose environment the change altered. One entry per kernel."""
    import asyncio

    from jupyter_orbit import asof
    from jupyter_orbit.engines import get_engine
    from jupyter_orbit.engines.local import default_python
    from jupyter_orbit.kernels.recipes import get_recipe
    from jupyter_orbit.manifests import resolve
    from jupyter_orbit.progress import LogProgress

    target = target.resolve()
    out: list[dict[str, Any]] = []
    for kid, info in list(runtime.kernels.items()):
        nb = Path(info.get("notebook", ""))
        if not info.get("env_id") or not (nb == target or nb.is_relative_to(target)):
            continue
        entry: dict[str, Any] = {"kernel": kid, "notebook": str(nb), "from": info["env_id"]}
        out.append(entry)
        try:
            res = await asyncio.to_thread(
                resolve,
                nb,
                root=runtime.root_dir,
                default_python=default_python(),
                recall=asof.recall_now(runtime.paths),
            )
            if res.spec.env_id == info["env_id"]:
                entry.update(hot=False, to=info["env_id"], detail="its environment does not change")
                continue
            engine = get_engine(info.get("engine", "local"), runtime.paths)
            base = engine.lookup_id(info["env_id"])
            recipe = get_recipe(res.spec.kernel)
            if not isinstance(engine, LocalEngine) or base is None or recipe.language != "python":
                raise NeedsRestart(
                    "this kernel's environment cannot grow while it runs", "restart the kernel"
                )
            progress = LogProgress(runtime.log, prefix=f"Orbit [grow {res.spec.env_id[:8]}] ")
            later: list[Any] = []
            new = await asyncio.to_thread(
                grow, engine, base, res.spec, progress, candidate=candidate, later=later
            )
            ok = await inject(kernel_manager.get_kernel(kid), base, new)
            for job in later:  # bytecode for the new packages, once the kernel has them
                asyncio.get_running_loop().run_in_executor(None, job)
            info.update(env_id=new.env_id, location=str(new.location), grown_from=base.env_id)
            runtime.remember(runtime.warm_target(res, engine.kernel_argv(new, recipe)))
            entry.update(hot=ok, to=new.env_id)
            if not ok:
                entry["detail"] = "the kernel did not confirm the switch; restart it"
        except OrbitError as e:
            entry.update(hot=False, detail=e.message, hint=e.hint)
        except Exception as e:  # the files are written; a kernel that cannot follow is reported
            runtime.log.warning("Orbit: hot add failed for kernel %s: %s", kid, e)
            entry.update(hot=False, detail=f"{type(e).__name__}: {e}", hint="restart the kernel")
    return out
