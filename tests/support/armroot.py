"""A Debian arm64 root to run Orbit in under qemu-user, built without emulating its installation.

    python -m tests.support.armroot          # build (or find) the cached root; print its path

Only the programs under test run emulated (Python, uv, Orbit, the kernel, numpy). Everything
that builds the root runs natively on the host:

- Debian's ``debootstrap --foreign --arch=arm64 --variant=minbase --include=python3`` downloads
  the packages and unpacks the essential ones; the rest are unpacked the same way
  (``dpkg-deb --fsys-tarfile`` into the root). Their maintainer scripts never run (running them
  is what takes minutes under emulation): the root is unpacked, not configured, which is enough
  to run Python and its programs. The accounts ``base-passwd`` would write are copied from its
  master files.
- A virtual environment at ``/opt/orbit-venv`` (``python3 -m venv --without-pip``, the one
  emulated step: a second) gets Orbit's dependencies from PyPI as aarch64 wheels, installed from
  the host by uv's cross-platform install (``--python-platform aarch64-manylinux_2_36``,
  wheels only).

The root is built once per recipe: its folder under ``ORBIT_ARM_CACHE``
(``/var/cache/orbit-tests``) is named by a hash of everything that goes into it, built beside and
renamed into place when complete. ``install_orbit`` puts a wheel of Orbit into a run's own layer
(from the host too).

Commands run in it through ``run``: in a mount namespace of their own (``unshare -m``), the
cached root is the lower layer of an overlay whose upper layer is the caller's folder, so the
cache is never written; ``/proc`` and ``/dev`` are mounted, ``resolv.conf`` and the host's CA
bundle copied, and uv's cache (``ORBIT_ARM_CACHE/uv-cache``) bound, so a second run downloads
nothing. Arm64 programs run through the kernel's binfmt_misc entry for qemu-aarch64
(``binfmt_ready`` says whether it is there). Needs root.
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
DEBIAN_PACKAGES = ("python3",)
PYTHON = "3.11"  # bookworm's
PLATFORM = "aarch64-manylinux_2_36"  # bookworm's glibc
VENV = "/opt/orbit-venv"
SITE = f"{VENV}/lib/python{PYTHON}/site-packages"
UV_CACHE = "/root/.cache/uv"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
RECIPE_VERSION = 2
CA_INSIDE = "/etc/ssl/certs/orbit-host-ca.crt"  # the host's CA bundle, copied in for each run


def dependencies() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def recipe() -> dict:
    return {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "mirror": MIRROR,
        "debian": list(DEBIAN_PACKAGES),
        "platform": PLATFORM,
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
    for tool in ("debootstrap", "dpkg-deb", "unshare", "chroot"):
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
    uv_cache = CACHE / "uv-cache"
    uv_cache.mkdir(parents=True, exist_ok=True)
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
            f"mkdir -p {m}{UV_CACHE} {m}/etc/ssl/certs",
            f"mount --bind {uv_cache} {m}{UV_CACHE}",
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


def uv_install(target: Path, *args: str) -> None:
    """Install aarch64 wheels into ``target`` (a site-packages folder) from the host, with uv's
    cross-platform install: nothing runs emulated, nothing is built from source."""
    from uv import find_uv_bin

    subprocess.run(
        _nice(
            [
                find_uv_bin(),
                "pip",
                "install",
                "--no-config",
                "--quiet",
                "--target",
                str(target),
                "--python-platform",
                PLATFORM,
                "--python-version",
                PYTHON,
                "--only-binary",
                ":all:",
                *args,
            ]
        ),
        check=True,
        capture_output=True,
        timeout=1800,
    )


def install_orbit(wheel: Path, upper: Path) -> None:
    """Orbit's own wheel into a run's layer (``upper``, as ``run`` uses it)."""
    uv_install(upper / "u" / SITE.lstrip("/"), "--no-deps", str(wheel))


def _unmount_under(path: Path) -> None:
    """Unmount whatever an interrupted run left mounted under ``path`` (before removing it:
    never delete through a mounted /proc or /dev)."""
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
        _remove(build)
        _unpack_debian(build, log)
        print(f"armroot: {VENV}, Orbit's dependencies (aarch64 wheels)", file=log, flush=True)
        subprocess.run(
            _nice(["chroot", str(build), "/usr/bin/python3", "-m", "venv", "--without-pip", VENV]),
            check=True,
            capture_output=True,
            timeout=600,
        )
        uv_install(build / SITE.lstrip("/"), *dependencies())
        (build / ".orbit-complete").write_text(json.dumps(recipe(), indent=2))
        _remove(final)
        build.rename(final)
    return final


def _unpack_debian(build: Path, log) -> None:
    """Debian arm64 with Python, unpacked on the host (see the module's doc)."""
    print(f"armroot: debootstrap --foreign arm64 {SUITE} into {build}", file=log, flush=True)
    subprocess.run(
        _nice(
            [
                "debootstrap",
                "--foreign",
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
    debs = sorted((build / "var/cache/apt/archives").glob("*.deb"))
    print(f"armroot: unpacking {len(debs)} packages", file=log, flush=True)
    for deb in debs:
        # The root has merged /usr (/bin -> usr/bin …): keep those links as tar meets them.
        subprocess.run(
            f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | "
            f"tar -x --keep-directory-symlink -C {shlex.quote(str(build))}",
            shell=True,
            check=True,
            capture_output=True,
            timeout=600,
        )
        deb.unlink()
    for name in ("passwd", "group"):
        shutil.copy(build / f"usr/share/base-passwd/{name}.master", build / "etc" / name)
    shutil.rmtree(build / "debootstrap")  # the second stage's scripts: not run


if __name__ == "__main__":
    if why := binfmt_ready():
        sys.exit(f"armroot: cannot run arm64 here: {why}")
    print(prepare())
