"""What the base image takes from the host: extra CA certificates (certificates only) and the
Debian mirror apt uses."""

import base64
import os
from pathlib import Path

import pytest

from jupyter_orbit.engines import baseimage


def pem(kind: str = "CERTIFICATE") -> bytes:
    body = base64.encodebytes(os.urandom(300)).decode()
    return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode()


def test_extra_certificates_are_those_the_public_set_lacks(tmp_path: Path):
    public = [pem(), pem()]
    corporate = pem()
    key = pem("PRIVATE KEY")
    (tmp_path / "public.pem").write_bytes(b"".join(public))
    (tmp_path / "host.pem").write_bytes(b"".join([public[0], corporate, key, public[1]]))
    extra = baseimage.extra_certificates(tmp_path / "host.pem", tmp_path / "public.pem")
    assert extra.strip() == corporate.strip()
    assert b"PRIVATE KEY" not in extra


def test_no_extra_certificates(tmp_path: Path):
    (tmp_path / "b.pem").write_bytes(pem())
    assert baseimage.extra_certificates(tmp_path / "b.pem", tmp_path / "b.pem") == b""


def test_host_bundle_follows_ssl_cert_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bundle = tmp_path / "corp.pem"
    bundle.write_bytes(pem())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert baseimage.host_ca_bundle() == bundle


def test_this_hosts_extra_certificates_are_real_certificates():
    """On a host behind a TLS-inspecting proxy this is its CA; elsewhere it is empty."""
    import ssl

    for cert in baseimage.pem_certificates(baseimage.extra_certificates()):
        assert ssl.PEM_cert_to_DER_cert(cert.decode())


@pytest.mark.parametrize(
    ("files", "mirror"),
    [
        (
            {
                "sources.list.d/debian.sources": "Types: deb\nURIs: http://mirror.example/debian\n"
                "Suites: bookworm\nComponents: main\n\nTypes: deb\n"
                "URIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
            },
            "http://mirror.example/debian",
        ),
        (
            {
                "sources.list": "# comment\ndeb [arch=amd64] https://m.example/debian/ bookworm main\n"
            },
            "https://m.example/debian",
        ),
        ({"sources.list.d/other.list": "deb https://apt.example.com/x stable main\n"}, None),
    ],
)
def test_debian_mirror_from_apt_sources(
    tmp_path: Path, files: dict, mirror: str | None, monkeypatch
):
    monkeypatch.delenv("ORBIT_DEBIAN_MIRROR", raising=False)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert baseimage.debian_mirror(tmp_path) == (mirror or baseimage.DEFAULT_MIRROR)


def test_debian_mirror_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORBIT_DEBIAN_MIRROR", "http://local.mirror/debian/")
    assert baseimage.debian_mirror(tmp_path) == "http://local.mirror/debian"


def test_slim_rootfs(tmp_path: Path):
    root = tmp_path / "root"
    for name in (
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/changelog.gz",
        "usr/share/man/man1/bash.1.gz",
        "usr/share/locale/de/LC_MESSAGES/x.mo",
        "usr/share/locale/locale.alias",
        "var/lib/apt/lists/deb.debian.org_dists",
        "var/cache/apt/archives/x.deb",
        "etc/apt/sources.list",
        "etc/machine-id",
        "etc/hostname",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    baseimage.slim_rootfs(root, "http://deb.debian.org/debian")
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == [
        "etc/apt/sources.list.d/debian.sources",
        "etc/machine-id",
        "usr/share/doc/bash/copyright",
        "usr/share/locale/locale.alias",
    ]
    sources = (root / "etc/apt/sources.list.d/debian.sources").read_text()
    assert "URIs: http://deb.debian.org/debian-security" in sources
    assert (root / "etc/machine-id").read_text() == ""


def test_pin_helper_floats_the_kernels_packages_and_finds_what_is_missing(tmp_path: Path):
    from jupyter_orbit.engines import container_pins as pins

    base = tmp_path / "base.lock.txt"
    base.write_text("ipykernel==7.4.0\nPrompt_Toolkit==3.0.53\ntornado==6.6.1\n")
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "--index-url https://pypi.org/simple\n\n# a comment\nipykernel==7.4.0\n"
        "prompt-toolkit==3.0.53\ntornado==6.4\nsix==1.17.0\n    # via x\n"
    )
    assert pins.floating(str(base), ["tornado"]) == [
        "--exclude-newer-package=ipykernel=false",
        "--exclude-newer-package=prompt-toolkit=false",
    ]
    assert pins.missing(str(base), str(lock)) == [
        "--index-url https://pypi.org/simple",
        "tornado==6.4",
        "six==1.17.0",
    ]
