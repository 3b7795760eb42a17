"""A fresh Debian root (this machine's architecture) to run a command in, with no network.

    python -m tests.support.debroot          # build (or find) the cached root; print its path

``debootstrap --variant=minbase --include=python3,…`` builds it once per recipe into
``ORBIT_TEST_CACHE`` (``/var/cache/orbit-tests``, shared with ``armroot``), in a folder named by a
hash of the recipe, built beside and renamed into place when complete. ``run`` then executes a
shell script in it: in new mount and network namespaces (``unshare --mount --net``: only
loopback, which is brought up), the cached root is the lower layer of an overlay whose upper
layer is the caller's folder, so the cache is never written; ``/proc`` and ``/dev`` are mounted
and the caller's files bound in read-only. Needs root and debootstrap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("ORBIT_TEST_CACHE", "/var/cache/orbit-tests"))
MIRROR = os.environ.get("ORBIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
# Python (bookworm's 3.11) and what `sh orbit-installer.sh` itself uses: tar, gzip, awk, tail,
# sha256sum, mktemp come with minbase (coreutils, tar, gzip, mawk).
PACKAGES = ("python3",)
RECIPE_VERSION = 1


def recipe() -> dict:
    return {"suite": SUITE, "packages": PACKAGES, "version": RECIPE_VERSION}


def key() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "a chroot needs root"
    for tool in ("debootstrap", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def prepare(log=sys.stderr) -> Path:
    """The cached root for the current recipe, built if it is not there yet (minutes, once)."""
    from filelock import FileLock

    final = CACHE / f"debian-{key()}"
    if (final / ".orbit-complete").exists():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / f"debian-{key()}.lock")):
        if (final / ".orbit-complete").exists():
            return final
        build = CACHE / f".debian-{key()}.building"
        shutil.rmtree(build, ignore_errors=True)
        print(f"debroot: debootstrap {SUITE} into {build}", file=log, flush=True)
        subprocess.run(
            [
                "nice",
                "-n",
                "10",
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(build),
                MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=3600,
        )
        shutil.rmtree(build / "var/cache/apt/archives", ignore_errors=True)
        (build / ".orbit-complete").write_text(json.dumps(recipe(), indent=2))
        shutil.rmtree(final, ignore_errors=True)
        build.rename(final)
    return final


def run(
    root: Path,
    upper: Path,
    script: str,
    *,
    binds: dict[Path, str] | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) in ``root`` with no network; writes go to ``upper``; each of
    ``binds`` (host path → path inside) is bound in read-only."""
    for d in ("u", "w", "m"):
        (upper / d).mkdir(parents=True, exist_ok=True)
    u, w, m = (upper / d for d in ("u", "w", "m"))
    steps = [
        "ip link set lo up",
        "mount --make-rprivate /",
        f"mount -t overlay overlay -o lowerdir={root},upperdir={u},workdir={w} {m}",
        f"mount -t proc proc {m}/proc",
        f"mount --rbind /dev {m}/dev",
    ]
    for host, inside in (binds or {}).items():
        steps += [
            f"mkdir -p {shlex.quote(str(m) + inside)}",
            f"mount --bind -o ro {shlex.quote(str(host))} {shlex.quote(str(m) + inside)}",
        ]
    steps.append(
        f"exec chroot {m} /usr/bin/env -i PATH=/root/.local/bin:/usr/local/bin:/usr/bin:/bin "
        f"HOME=/root LANG=C.UTF-8 /bin/sh -ec {shlex.quote(script)}"
    )
    return subprocess.run(
        [
            "nice",
            "-n",
            "10",
            "unshare",
            "--mount",
            "--net",
            "--fork",
            "sh",
            "-ec",
            " && ".join(steps),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


if __name__ == "__main__":
    print(prepare())
