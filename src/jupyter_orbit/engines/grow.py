"""Growing an environment from another: what hot add builds while a kernel runs.

Environments are content-addressed and may be shared, so a running kernel's environment is never
changed. The new spec's environment is grown from it instead: the running environment is cloned
(files of its own: reflinked where the disk can, copied elsewhere, so neither can change the
other), resolved with the running versions as constraints (or the notebook's new lock taken as
it is), synced by uv, and committed under the new spec's id, its record naming what
it grew from. The bazaar then switches the kernel over (``bazaar.hot``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_orbit import __version__, atomic, linkmode
from jupyter_orbit.ecosystems import lockfile
from jupyter_orbit.engines.local import MARKER, LocalEngine
from jupyter_orbit.errors import BuildError, OrbitError
from jupyter_orbit.model import Environment, EnvSpec
from jupyter_orbit.progress import Progress
from jupyter_orbit.pythons import site_packages, venv_python

# Files a tool may rewrite in place: copied into the clone instead of linked.
_COPY = {"pyvenv.cfg", MARKER}
_COPY_DIRS = {"orbit", "bin", "Scripts"}


class NeedsRestart(OrbitError):
    """The new packages cannot join the running kernel; a restart will use them."""


def clone(src: Path, dest: Path, *, started: Callable[[int], None] | None = None) -> None:
    """Recreate ``src`` at ``dest`` (symlinks kept as links) with files of its own — cloned
    copy-on-write where the disk can, copied elsewhere — so the running kernel's environment and
    the grown one cannot change each other (``linkmode``); with hardlinks only when the user
    asked uv for them (``UV_LINK_MODE=hardlink``), the few files tools rewrite then copied.
    ``cp`` where there is one: several times faster than walking thousands of files from
    Python. ``started`` gets the copying process's id (to change its priority, or stop it: a
    ``cp`` stopped by a signal raises ``OSError``, and ``dest`` is left for the caller)."""
    import subprocess

    from jupyter_orbit.engines import bytecode

    # a new environment's job is still giving it files of its own (seconds): copy it after
    bytecode.wait(src, timeout=120, marker=bytecode.OWN_PENDING)
    cp = shutil.which("cp")
    if cp and os.name == "posix" and sys.platform.startswith("linux"):
        how = "-al" if linkmode.shares_files() else "--reflink=auto"
        proc = subprocess.Popen(
            [cp, "-a", how, str(src), str(dest)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if started is not None:
            started(proc.pid)
        code = proc.wait()
        if code < 0:
            raise OSError(f"copying {src} was stopped (signal {-code})")
        if code == 0:
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


def spare_folder(engine: LocalEngine, base: Environment) -> Path:
    """Where a clone of ``base`` made ahead goes (see ``clone_ahead``)."""
    import secrets

    return engine.root / f".build-{base.env_id}-spare{secrets.token_hex(4)}"


def clone_ahead(
    engine: LocalEngine,
    base: Environment,
    *,
    started: Callable[[int], None] | None = None,
    dest: Path | None = None,
) -> Path:
    """A clone of ``base`` made before it is known what will grow from it (hot add starts one
    while the new packages are still being checked; the server keeps one ready for a running
    kernel, ``server.spares``), for ``grow(spare=…)``. A hidden sibling named like a build of
    ``base`` (``.build-<id>-spare…``), so an interrupted one is a leftover ``orbit gc``
    removes; the caller removes one ``grow`` did not take. ``started``: as for ``clone``;
    ``dest``: the folder, from ``spare_folder`` (a new one by default)."""
    spare = dest or spare_folder(engine, base)
    try:
        clone(base.location, spare, started=started)
    except BaseException:
        shutil.rmtree(spare, ignore_errors=True)
        raise
    return spare


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
            elif linkmode.shares_files():
                try:
                    os.link(s, t)
                except OSError:  # another filesystem
                    shutil.copy2(s, t)
            else:
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
    spare: Path | None = None,
) -> Environment:
    """The environment of ``spec``, grown from ``base`` (see the module's doc).

    ``candidate`` is a resolution of ``spec`` made already (by ``orbit add``'s check); it is
    used as it is when it keeps every version ``base`` has. With ``later``, the bytecode of
    the new packages is not compiled here: a callable that does it is appended to ``later``
    (the server runs it once the kernel has switched; until then, imports compile in memory).
    ``spare`` is a clone of ``base`` made ahead (``clone_ahead``): taken instead of cloning
    now (moved, so the caller need not remove it when it is gone).
    """
    from filelock import FileLock

    from jupyter_orbit.ecosystems.pypi import LOCK_FILE, PyPI, split_options

    if existing := engine.lookup(spec):
        _check_compatible(base, existing)
        return existing
    root = engine.root
    with FileLock(root / f".{spec.env_id}.lock"):
        if existing := engine.lookup(spec):
            _check_compatible(base, existing)
            return existing
        final = engine.location(spec)
        with atomic.staged_dir(final) as build:
            if spare is not None and spare.is_dir():
                progress.step("clone", f"{base.env_id} (files of its own, made ahead)")
                spare.rename(build)
            else:
                progress.step("clone", f"{base.env_id} (files of its own)")
                clone(base.location, build)
            meta = build / "orbit"
            pinned = meta / LOCK_FILE
            python = venv_python(build)
            flags, lines = split_options(spec.index_options)
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

            site = site_packages(build)
            had = {p.name for s in site for p in s.iterdir()}
            args = ["pip", "sync", "--python", str(python), *flags, *linkmode.args(build)]
            if exact:
                args.append("--require-hashes")
            run_uv([*args, str(pinned)], cwd=meta, on_line=progress.log)
            added = [p.name for s in site for p in s.iterdir() if p.name not in had]
            if later is None:
                progress.step("bytecode", "for the new packages")
                _bytecode(engine, build, [s / n for s in site for n in added])
            else:
                later.append(
                    lambda: _bytecode(
                        engine, final, [s / n for s in site_packages(final) for n in added]
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
            atomic.commit_dir(build, final, marker=MARKER, record=record)
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
    from jupyter_orbit.engines import bytecode

    store = engine.bytecode_store(build)
    if store is None or not new:
        return
    missing = store.link_known(new)
    if missing:
        bytecode.compile_tree(venv_python(build), build, new, to_compile=missing)
        store.keep(new)
