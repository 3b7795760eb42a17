"""A Debian arm64 root run under qemu-user, with Orbit's dependencies installed, cached.

    python -m tests.support.armroot          # build (or find) the cached root; print its path

The root is Debian bookworm (``debootstrap --arch arm64 --variant=minbase``) with Python and a
virtual environment at ``/opt/orbit-venv`` holding Orbit's dependencies from PyPI (aarch64
wheels). It is built once per recipe: its folder under ``ORBIT_ARM_CACHE``
(``/var/cache/orbit-tests``) is named by a hash of everything that goes into it (suite, mirror,
Debian packages, Orbit's dependency list), built beside and renamed into place when complete.

Commands run in it through ``run``: in a mount namespace of their own (``unshare -m``), the
cached root is the lower layer of an overlay whose upper layer is the caller's folder, so the
cache is never written; ``/proc`` and ``/dev`` are mounted, ``resolv.conf`` copied. Arm64
programs run through the kernel's binfmt_misc entry for qemu-aarch64 (``binfmt_ready`` says
whether it is there). Needs root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ORBIT_ARM_CACHE", "/var/cache/orbit-tests"))
MIRROR = os.environ.get("ORBIT_ARM_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
VENV = "/opt/orbit-venv"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
RECIPE_VERSION = 1
CA_INSIDE = "/etc/ssl/certs/orbit-host-ca.crt"  # the host's CA bundle, copied in for each run


def dependencies() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def recipe() -> dict:
    return {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "mirror": MIRROR,
        "debian": list(DEBIAN_PACKAGES),
        "pypi": sorted(dependencies()),
    }


def key() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def binfmt_ready() -> str | None:
    """None when arm64 programs can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mounts)"
    if not BINFMT.exists():
        return (
            "no binfmt_misc entry for qemu-aarch64: apt-get install qemu-user-static "
            "binfmt-support (and mount binfmt_misc on /proc/sys/fs/binfmt_misc)"
        )
    if "enabled" not in BINFMT.read_text():
        return "the qemu-aarch64 binfmt entry is disabled: update-binfmts --enable qemu-aarch64"
    for tool in ("debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    return None


def _nice(argv: list[str]) -> list[str]:
    return ["nice", "-n", "10", *argv]


def host_ca() -> Path | None:
    """The CA bundle this machine trusts (a proxy's own CA may be in it), to trust it inside."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def run(
    root: Path, upper: Path, script: str, *, timeout: float = 3600
) -> subprocess.CompletedProcess:
    """Run a shell ``script`` inside ``root`` (read-only lower layer), writes going to ``upper``."""
    for d in ("u", "w", "m"):
        (upper / d).mkdir(parents=True, exist_ok=True)
    u, w, m = (upper / d for d in ("u", "w", "m"))
    ca = host_ca()
    ca_env = (
        " ".join(f"{v}={CA_INSIDE}" for v in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"))
        if ca
        else ""
    )
    outer = " && ".join(
        [
            "mount --make-rprivate /",
            f"mount -t overlay overlay -o lowerdir={root},upperdir={u},workdir={w} {m}",
            f"mount -t proc proc {m}/proc",
            f"mount --rbind /dev {m}/dev",
            f"cp /etc/resolv.conf {m}/etc/resolv.conf",
            f"cp {ca} {m}{CA_INSIDE}" if ca else "true",
            f"exec chroot {m} /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "
            f"LANG=C.UTF-8 {ca_env} /bin/sh -ec {shlex.quote(script)}",
        ]
    )
    return subprocess.run(
        _nice(["unshare", "--mount", "--fork", "sh", "-ec", outer]),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _unmount_under(path: Path) -> None:
    """Unmount whatever an interrupted debootstrap left mounted under ``path`` (before removing
    it: never delete through a mounted /proc or /dev)."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _remove(path: Path) -> None:
    _unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


def prepare(log=sys.stderr) -> Path:
    """The cached root for the current recipe, built if it is not there yet."""
    from filelock import FileLock

    final = CACHE / f"arm64-{key()}"
    if (final / ".orbit-complete").exists():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / f"arm64-{key()}.lock")):
        if (final / ".orbit-complete").exists():
            return final
        build = CACHE / f".arm64-{key()}.building"
        if not (build / ".orbit-debootstrap-complete").exists():
            _debootstrap(build, log)
        print("armroot: Orbit's dependencies from PyPI", file=log, flush=True)
        layer = CACHE / f".arm64-{key()}.layer"
        _remove(layer)
        deps = " ".join(shlex.quote(d) for d in dependencies())
        r = run(
            build,
            layer,
            f"python3 -m venv {VENV}\n"
            f"{VENV}/bin/pip install --quiet --disable-pip-version-check --no-cache-dir {deps}\n",
        )
        if r.returncode != 0:
            raise RuntimeError(f"pip install in the arm64 root failed:\n{r.stdout}\n{r.stderr}")
        # Fold the layer's venv into the root (the only thing the script wrote that we keep).
        shutil.copytree(layer / "u" / VENV.lstrip("/"), build / VENV.lstrip("/"), symlinks=True)
        _remove(layer)
        (build / ".orbit-complete").write_text(json.dumps(recipe(), indent=2))
        _remove(final)
        build.rename(final)
    return final


def _debootstrap(build: Path, log) -> None:
    _remove(build)
    print(f"armroot: debootstrap arm64 {SUITE} into {build}", file=log, flush=True)
    subprocess.run(
        _nice(
            [
                "debootstrap",
                "--arch=arm64",
                "--variant=minbase",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                SUITE,
                str(build),
                MIRROR,
            ]
        ),
        check=True,
        capture_output=True,
        timeout=3600,
    )
    (build / ".orbit-debootstrap-complete").write_text("")


if __name__ == "__main__":
    if why := binfmt_ready():
        sys.exit(f"armroot: cannot run arm64 here: {why}")
    print(prepare())
