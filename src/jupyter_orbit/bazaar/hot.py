"""Hot add: a running kernel gets the packages just added, without a restart.

Environments are content-addressed (id = hash of the spec) and may be shared by many
notebooks, so the running kernel's environment is never changed. Instead the new spec's
environment is *grown* from it (``engines.grow``):

1. clone the running environment into a build folder, with files of its own (``grow.clone``);
   the server keeps such a clone ready for a running kernel (``server.spares``), and starts
   one while the new packages are checked when it has none;
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

import contextlib
import json
from pathlib import Path
from typing import Any

from jupyter_orbit.engines.grow import NeedsRestart, clone_ahead, grow
from jupyter_orbit.engines.local import LocalEngine
from jupyter_orbit.errors import BuildError, OrbitError
from jupyter_orbit.model import Environment
from jupyter_orbit.pythons import site_packages, venv_python

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
    old_site, new_site = site_packages(old.location), site_packages(new.location)
    if not old_site or not new_site:
        raise BuildError("no site-packages folder in the environment", None)
    return INJECT.format(
        old=json.dumps(str(old_site[0])),
        new=json.dumps(str(new_site[0])),
        old_bin=json.dumps(str(venv_python(old.location).parent)),
        new_bin=json.dumps(str(venv_python(new.location).parent)),
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


def _affected(runtime: Any, target: Path) -> list[tuple[str, dict[str, Any], Path]]:
    """The running kernels whose notebook is ``target`` or inside it: (id, record, notebook)."""
    target = target.resolve()
    out = []
    for kid, info in list(runtime.kernels.items()):
        nb = Path(info.get("notebook", ""))
        if info.get("env_id") and (nb == target or nb.is_relative_to(target)):
            out.append((kid, info, nb))
    return out


def growable(runtime: Any, info: dict[str, Any]) -> tuple[LocalEngine, Environment] | None:
    """The engine and environment of a running kernel (its record in ``runtime.kernels``), if
    that kernel can grow while it runs: a Python kernel in a local environment."""
    from jupyter_orbit.engines import get_engine
    from jupyter_orbit.kernels.recipes import find_recipe

    recipe = find_recipe(info.get("recipe") or "python")
    if recipe is None or recipe.language != "python" or not info.get("env_id"):
        return None
    engine = get_engine(info.get("engine", "local"), runtime.paths)
    if not isinstance(engine, LocalEngine):
        return None
    base = engine.lookup_id(info["env_id"])
    return (engine, base) if base is not None else None


def clone_ahead_for(runtime: Any, target: Path) -> dict[str, tuple[str, Any]]:
    """A clone of the environment of every local kernel ``target`` concerns, while the new
    packages are checked (the clone is most of what growing costs): the spare the server kept
    (``server.spares``), or one begun now. Kernel id → (the environment's id, a future of the
    clone's folder), for ``hot_update(spares=…)``, which uses each or gives it back."""
    import asyncio

    async def spare_or_clone(engine: LocalEngine, base: Environment) -> Path:
        kept = await runtime.spares.take(base.env_id)
        if kept is not None and kept.is_dir():
            return kept
        return await asyncio.to_thread(clone_ahead, engine, base)

    out: dict[str, tuple[str, Any]] = {}
    started: set[str] = set()  # one clone per environment, however many kernels share it
    for kid, info, _ in _affected(runtime, target):
        found = growable(runtime, info)
        if found is not None and found[1].env_id not in started:
            started.add(found[1].env_id)
            out[kid] = (found[1].env_id, asyncio.ensure_future(spare_or_clone(*found)))
    return out


async def give_back(runtime: Any, spares: dict[str, tuple[str, Any]]) -> None:
    """The clones made ahead that nothing took go back to the server's spares (or are removed
    where it keeps none)."""
    for env_id, future in spares.values():
        try:
            spare = await future
        except Exception:  # a clone that failed removed what it made
            continue
        await _give_back(runtime, env_id, spare)


async def _give_back(runtime: Any, env_id: str, spare: Path) -> None:
    removing = runtime.spares.put(env_id, spare)
    if removing is not None:
        await removing


async def hot_update(
    runtime: Any,
    kernel_manager: Any,
    target: Path,
    candidate: list[str] | None = None,
    spares: dict[str, tuple[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Grow and switch every running kernel whose notebook is ``target`` (or inside it, for a
    project folder) and whose environment the change altered. One entry per kernel.
    ``spares`` are clones made ahead (``clone_ahead_for``); each is used or given back."""
    spares = dict(spares or {})
    try:
        return await _hot_update(runtime, kernel_manager, target, candidate, spares)
    finally:
        await give_back(runtime, spares)


async def _hot_update(
    runtime: Any,
    kernel_manager: Any,
    target: Path,
    candidate: list[str] | None,
    spares: dict[str, tuple[str, Any]],
) -> list[dict[str, Any]]:
    import asyncio

    from jupyter_orbit import indexes, offline
    from jupyter_orbit.engines import get_engine
    from jupyter_orbit.kernels.recipes import get_recipe
    from jupyter_orbit.prepare import Choices, prepare
    from jupyter_orbit.progress import LogProgress

    out: list[dict[str, Any]] = []
    for kid, info, nb in _affected(runtime, target):
        entry: dict[str, Any] = {"kernel": kid, "notebook": str(nb), "from": info["env_id"]}
        out.append(entry)
        try:
            hardware = runtime.choices().hardware  # the profile's torch/jax build, as at start
            choices = Choices(kernel=info.get("recipe"), root=runtime.root_dir, hardware=hardware)
            prepared = await asyncio.to_thread(prepare, nb, choices, runtime.paths, until="lookup")
            res = prepared.resolution
            indexes.check(res, None, runtime.paths)  # grow resolves with its indexes
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
            spare = None
            if kid in spares:
                with contextlib.suppress(Exception):  # a failed clone: grow clones itself
                    spare = await spares.pop(kid)[1]
            try:
                with offline.using(getattr(runtime, "offline", None)):  # installed bundles
                    new = await asyncio.to_thread(
                        grow,
                        engine,
                        base,
                        res.spec,
                        progress,
                        candidate=candidate,
                        later=later,
                        spare=spare,
                    )
            finally:
                if spare is not None and spare.exists():  # grow did not take it
                    await _give_back(runtime, base.env_id, spare)
            ok = await inject(kernel_manager.get_kernel(kid), base, new)
            loop = asyncio.get_running_loop()
            # bytecode for the new packages, once the kernel has them
            jobs = [loop.run_in_executor(None, job) for job in later]
            info.update(env_id=new.env_id, location=str(new.location), grown_from=base.env_id)
            runtime.keep_spare(kid, after=jobs)  # the next add grows from the new one
            runtime.remember(runtime.warm_target(prepared, engine.kernel_argv(new, recipe)))
            entry.update(hot=ok, to=new.env_id)
            if not ok:
                entry["detail"] = "the kernel did not confirm the switch; restart it"
        except OrbitError as e:
            entry.update(hot=False, detail=e.message, hint=e.hint)
        except Exception as e:  # the files are written; a kernel that cannot follow is reported
            runtime.log.warning("Orbit: hot add failed for kernel %s: %s", kid, e)
            entry.update(hot=False, detail=f"{type(e).__name__}: {e}", hint="restart the kernel")
    return out
