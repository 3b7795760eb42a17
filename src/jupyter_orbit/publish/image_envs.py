"""Environments side by side in a published image (runs inside the image, stdlib only).

Each kernel image holds its environment at ``/opt/orbit/env``; a published image holds several,
each at ``/opt/orbit/envs/<id>``. Copied there, an environment works as it is (its Python finds
its packages from where it stands) except for files that name its old place: scripts' ``#!``
lines, activation scripts and absolute symlinks. ``relocate`` rewrites those.

``share`` moves the packages that two or more environments hold identically (same name, version
and files) into ``/opt/orbit/shared/<name>-<version>/``, one copy for all, and gives each
environment that uses them a ``.pth`` file naming them: after its own packages, before the
base's. A package is shared only when it owns its top-level names alone (namespace packages
split across distributions, and packages that bring their own ``.pth`` files, stay where they
are).

    python3 -I image_envs.py relocate OLD_PREFIX ENV_DIR...
    python3 -I image_envs.py share SHARED_DIR ENV_DIR...
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

SHARED_PTH = "_orbit_00_shared.pth"  # sorts before _orbit_base.pth: shared, then the base
# Lines of a RECORD that differ between two installs of the very same files.
_NOT_CONTENT = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


# -- relocate ------------------------------------------------------------------------------


def relocate(old: str, env_dir: Path) -> list[Path]:
    """Make the environment copied from ``old`` to ``env_dir`` name its new place; return the
    files changed."""
    new = str(env_dir)
    pattern = re.compile(re.escape(old) + r"(?=[/'\"\s]|$)", re.MULTILINE)
    changed = []
    bin_dir = env_dir / "bin"
    for path in sorted(bin_dir.iterdir()) if bin_dir.is_dir() else []:
        if path.is_symlink():
            target = str(path.readlink())
            if pattern.match(target):
                path.unlink()
                path.symlink_to(pattern.sub(new, target, count=1))
                changed.append(path)
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192] or old.encode() not in data:
            continue  # a binary, or nothing to change
        text = data.decode("utf-8", errors="surrogateescape")
        fixed = pattern.sub(new, text)
        if fixed != text:
            mode = path.stat().st_mode
            path.write_bytes(fixed.encode("utf-8", errors="surrogateescape"))
            path.chmod(mode)
            changed.append(path)
    return changed


# -- share ---------------------------------------------------------------------------------


def site_packages(env_dir: Path) -> Path:
    found = sorted(env_dir.glob("lib/python3*/site-packages"))
    if not found:
        raise SystemExit(f"{env_dir}: no site-packages")
    return found[0]


def record(dist_info: Path) -> tuple[str, ...]:
    """The files a distribution installed, as its RECORD lists them (paths only)."""
    try:
        lines = (dist_info / "RECORD").read_text(errors="replace").splitlines()
    except OSError:
        return ()
    return tuple(line.rsplit(",", 2)[0] for line in lines if line.strip())


def content_key(dist_info: Path) -> tuple[str, ...] | None:
    """What identifies an install of a distribution's files: its RECORD without the lines two
    identical installs can differ in (None: no RECORD, never shared)."""
    try:
        lines = (dist_info / "RECORD").read_text(errors="replace").splitlines()
    except OSError:
        return None
    prefix = dist_info.name + "/"
    kept = [
        ln
        for ln in lines
        if ln.strip() and not any(ln.startswith(prefix + name) for name in _NOT_CONTENT)
    ]
    return (dist_info.name, *sorted(kept))


def _top(entry: str) -> str | None:
    """The top-level name a RECORD path lives under in site-packages (None: outside it)."""
    if entry.startswith(("../", "/")):
        return None
    return entry.split("/", 1)[0]


def movable(site: Path, dist_info: Path) -> list[str] | None:
    """The top-level names of ``site`` the distribution owns alone, to move as a whole; None
    when it cannot be shared (a name another distribution also installs into, a ``.pth``)."""
    mine = {t for e in record(dist_info) if (t := _top(e)) is not None}
    mine.add(dist_info.name)
    if any(name.endswith(".pth") for name in mine):
        return None
    for other in site.glob("*.dist-info"):
        if other == dist_info:
            continue
        theirs = {t for e in record(other) if (t := _top(e)) is not None}
        if (mine - {"__pycache__"}) & theirs:
            return None
    return sorted(mine)


def _modules_cache(site: Path, names: list[str]) -> list[Path]:
    """Compiled files of top-level modules (``six.py`` → ``__pycache__/six.*.pyc``)."""
    out = []
    for name in names:
        if name.endswith(".py"):
            out += sorted((site / "__pycache__").glob(name[:-3] + ".*.pyc"))
    return out


def share(shared_root: Path, env_dirs: list[Path]) -> dict[str, list[str]]:
    """Move distributions identical in two or more environments into ``shared_root``; return
    the shared folders each environment now reads (by environment folder)."""
    by_key: dict[tuple[str, ...], list[tuple[Path, Path]]] = {}
    for env in env_dirs:
        site = site_packages(env)
        for dist_info in sorted(site.glob("*.dist-info")):
            key = content_key(dist_info)
            if key is not None:
                by_key.setdefault(key, []).append((env, dist_info))
    uses: dict[str, list[str]] = {str(env): [] for env in env_dirs}
    for key, holders in sorted(by_key.items()):
        if len(holders) < 2:
            continue
        plans = [(env, movable(site_packages(env), d)) for env, d in holders]
        if any(names is None for _, names in plans):
            continue
        target = shared_root / key[0].removesuffix(".dist-info")
        first_env, names = plans[0]
        assert names is not None
        site = site_packages(first_env)
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name == "__pycache__":
                continue
            if (site / name).exists() or (site / name).is_symlink():
                shutil.move(str(site / name), str(target / name))
        for pyc in _modules_cache(site, names):
            (target / "__pycache__").mkdir(exist_ok=True)
            shutil.move(str(pyc), str(target / "__pycache__" / pyc.name))
        for env, names in plans[1:]:
            assert names is not None
            other = site_packages(env)
            for name in names:
                path = other / name
                if name == "__pycache__":
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
            for pyc in _modules_cache(other, names):
                pyc.unlink()
        for env, _ in plans:
            uses[str(env)].append(str(target))
    for env in env_dirs:
        pth = site_packages(env) / SHARED_PTH
        if uses[str(env)]:
            pth.write_text("".join(f"{folder}\n" for folder in sorted(uses[str(env)])))
    return uses


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("relocate", "share"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "relocate":
        for env in argv[2:]:
            relocate(argv[1], Path(env))
        return 0
    uses = share(Path(argv[1]), [Path(e) for e in argv[2:]])
    for env, folders in sorted(uses.items()):
        print(f"{env}: {len(folders)} shared package(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
