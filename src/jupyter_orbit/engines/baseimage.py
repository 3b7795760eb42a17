"""Orbit's base image, and the Debian root file system under it.

The root file system is ``debian:bookworm-slim`` when a registry serves it. When none is reachable
(air-gapped, or no Docker Hub), Orbit builds an equivalent from Debian packages: ``debootstrap
--variant=minbase`` from the mirror the host's apt uses, slimmed as Debian's -slim images are,
then imported as ``orbit-base-rootfs:bookworm`` — once per engine, and it says so.

The base image over it is named by a digest of its whole build context (Dockerfile, the host's
extra CA certificates, the uv binary), so it is built once and rebuilt only when one of those
changes.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.dockerfile import BuildContext, render_base, render_uv
from jupyter_orbit.errors import BuildError
from jupyter_orbit.imagelayout import BASE_PYTHON, LOCAL_ROOTFS, REGISTRY_ROOTFS, SUITE, UV_IMAGE

if TYPE_CHECKING:
    import docker

    from jupyter_orbit.progress import Progress

DEFAULT_MIRROR = "http://deb.debian.org/debian"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


# -- what the host trusts ------------------------------------------------------------------


def host_ca_bundle() -> Path | None:
    """The file of CA certificates the host's TLS clients trust."""
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if (value := os.environ.get(var)) and Path(value).is_file():
            return Path(value)
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def pem_certificates(data: bytes) -> list[bytes]:
    """The certificate blocks of a PEM file, and nothing else (never a key)."""
    return [m.group(0).replace(b"\r\n", b"\n") for m in _PEM.finditer(data)]


def extra_certificates(bundle: Path | None = None, public: Path | None = None) -> bytes:
    """Certificates the host trusts that the public set (certifi's, Mozilla's) does not hold:
    a corporate proxy's CA, typically. Empty when there are none."""
    bundle = bundle or host_ca_bundle()
    if bundle is None:
        return b""
    if public is None:
        import certifi

        public = Path(certifi.where())
    known = {_der(c) for c in pem_certificates(public.read_bytes())}
    extra = []
    for cert in pem_certificates(bundle.read_bytes()):
        der = _der(cert)
        if der is not None and der not in known:
            known.add(der)
            extra.append(cert)
    return b"\n".join(extra) + b"\n" if extra else b""


def _der(pem: bytes) -> bytes | None:
    try:
        return ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
    except ValueError:
        return None


# -- the host's uv, if it runs in the image ------------------------------------------------


def host_uv_for(client: docker.DockerClient) -> Path | None:
    """The host's uv binary when the engine runs Linux on the same architecture (else None)."""
    if platform.system() != "Linux":
        return None
    try:
        arch = client.info().get("Architecture", "")
    except Exception:
        return None
    same = {"x86_64": ("x86_64", "amd64"), "aarch64": ("aarch64", "arm64")}
    if arch not in same.get(platform.machine(), (platform.machine(),)):
        return None
    from jupyter_orbit.uvcli import uv_bin

    return Path(uv_bin()).resolve()


# -- the Debian root file system -----------------------------------------------------------


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources), else deb.debian.org."""
    if env := os.environ.get("ORBIT_DEBIAN_MIRROR"):
        return env.rstrip("/")
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        if f.suffix == ".sources":
            uris = re.findall(r"(?mi)^URIs:\s*(.+)$", text)
            candidates = [u for line in uris for u in line.split()]
        else:
            candidates = re.findall(r"(?m)^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text)
        for uri in candidates:
            if uri.startswith(("http://", "https://")) and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def ensure_rootfs(client: docker.DockerClient, progress: Progress) -> str:
    """The Debian image the base is built FROM: one here already, from a registry, or built."""
    for ref in (LOCAL_ROOTFS, REGISTRY_ROOTFS):
        if dockerapi.image(client, ref) is not None:
            return ref
    progress.step("base", f"pulling {REGISTRY_ROOTFS}")
    try:
        client.images.pull(REGISTRY_ROOTFS)
        return REGISTRY_ROOTFS
    except Exception as e:
        reason = dockerapi._short(e)
    progress.warn(
        f"no registry serves {REGISTRY_ROOTFS} ({reason}); building the base from Debian "
        f"packages instead (debootstrap, once)"
    )
    build_rootfs(client, progress, mirror=debian_mirror())
    return LOCAL_ROOTFS


def build_rootfs(client: docker.DockerClient, progress: Progress, *, mirror: str) -> None:
    """debootstrap a minimal Debian, slim it, import it as ``orbit-base-rootfs:<suite>``."""
    command = f"debootstrap --variant=minbase {SUITE} ROOTFS {mirror}"
    if os.geteuid() != 0:
        raise BuildError(
            "no registry is reachable, and building the base from Debian packages needs root",
            f"run once as root: `{command}` then "
            f"`tar -C ROOTFS --numeric-owner -c . | docker import - {LOCAL_ROOTFS}`",
        )
    if shutil.which("debootstrap") is None:
        raise BuildError(
            "no registry is reachable, and debootstrap is not installed to build the base",
            "install it (`apt-get install debootstrap`), or make debian:bookworm-slim available "
            "(`docker load` it, or configure a registry mirror)",
        )
    with tempfile.TemporaryDirectory(prefix="orbit-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        progress.step("base", f"debootstrap {SUITE} from {mirror} (a minute or two, once)")
        _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], progress)
        slim_rootfs(root, mirror)
        progress.step("base", f"importing the Debian root file system as {LOCAL_ROOTFS}")
        archive = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], progress)
        repo, tag = LOCAL_ROOTFS.split(":")
        client.api.import_image(
            src=str(archive),
            repository=repo,
            tag=tag,
            changes=[
                'CMD ["bash"]',
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ],
        )


def slim_rootfs(root: Path, mirror: str) -> None:
    """What Debian's -slim images leave out, and the apt sources a container should use."""
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*",
        "var/log/*.log",
        "var/log/apt/*",
        "var/cache/debconf/*-old",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/lintian/*",
        "etc/hostname",
        "etc/resolv.conf",
    ):
        for p in root.glob(pattern):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for p in (root / "usr/share/doc").glob("*"):
        if p.is_dir() and not p.is_symlink():
            for q in p.iterdir():
                if q.name != "copyright":
                    shutil.rmtree(q) if q.is_dir() and not q.is_symlink() else q.unlink()
    for p in (root / "usr/share/locale").glob("*"):
        if p.name != "locale.alias":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    (root / "etc/machine-id").write_text("")
    security = mirror.rsplit("/", 1)[0] + "/debian-security"
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _run(argv: list[str], progress: Progress) -> None:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        progress.log(line.rstrip())
        tail = [*tail[-5:], line.strip()]
    if proc.wait() != 0:
        raise BuildError(
            f"{argv[0]} failed (exit code {proc.returncode}): {' | '.join(tail)}",
            "check the network and the Debian mirror (ORBIT_DEBIAN_MIRROR overrides it)",
        )


# -- uv, and the base ------------------------------------------------------------------------


def uv_version() -> str:
    from jupyter_orbit.uvcli import uv_bin

    out = subprocess.run([uv_bin(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def ensure_uv(client: docker.DockerClient, rootfs: str, progress: Progress) -> None:
    """``orbit-uv`` holding the same uv as the host's, (re)built when the version differs."""
    version = uv_version()
    found = dockerapi.image(client, UV_IMAGE)
    if found is not None and (found.labels or {}).get("org.jupyter.orbit.uv-version") == version:
        return
    context = render_uv(binary=host_uv_for(client), version=version, rootfs=rootfs)
    dockerapi.build(client, context, UV_IMAGE, progress, what=f"uv {version} for builds")


def base_context(rootfs: str) -> BuildContext:
    from importlib.resources import files

    from jupyter_orbit.kernels.recipes import get_recipe

    here = files("jupyter_orbit.engines")
    return render_base(
        rootfs,
        kernel_packages=get_recipe("python").packages.get("pypi", ()),
        guard=(here / "container_guard.py").read_text(),
        pins=(here / "container_pins.py").read_text(),
        host_ca=extra_certificates(),
    )


def base_tag(context: BuildContext) -> str:
    return f"orbit-base:{context.digest()[:16]}"


def ensure_base(client: docker.DockerClient, progress: Progress) -> str:
    """The tag of Orbit's base image, built if it is not there yet (and ``orbit-uv`` with it)."""
    rootfs = ensure_rootfs(client, progress)
    ensure_uv(client, rootfs, progress)
    context = base_context(rootfs)
    tag = base_tag(context)
    if dockerapi.image(client, tag) is None:
        if any(name == "host-ca.crt" for name, _ in context.files):
            progress.step("base", "the host trusts extra CA certificates: builds trust them too")
        dockerapi.build(client, context, tag, progress, what="the base image")
    return tag


def planned_base(client: docker.DockerClient) -> str:
    """How the base would be had, changing nothing: for plans."""
    what = f"Orbit's base (Debian {SUITE}, Python {BASE_PYTHON}, ipykernel)"
    for ref in (LOCAL_ROOTFS, REGISTRY_ROOTFS):
        if dockerapi.image(client, ref) is not None:
            tag = base_tag(base_context(ref))
            if dockerapi.image(client, tag) is not None:
                return f"{tag} (built)"
            return f"build {what} over {ref}"
    return (
        f"pull {REGISTRY_ROOTFS}, or build it from Debian packages (debootstrap) when no "
        f"registry is reachable; then build {what}"
    )
