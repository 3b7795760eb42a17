"""The Dockerfile renders, compared with golden files (ORBIT_UPDATE_GOLDEN=1 rewrites them)."""

from pathlib import Path

import pytest

from jupyter_orbit.ecosystems.apt import Apt
from jupyter_orbit.ecosystems.pypi import pypi_requirement
from jupyter_orbit.engines import dockerfile as df
from jupyter_orbit.imagelayout import LOCAL_ROOTFS, REGISTRY_ROOTFS
from jupyter_orbit.model import EnvSpec, Level, Origin, Requirement
from tests.support.golden import golden_in

GOLDEN = Path(__file__).parent / "golden"
golden = golden_in(GOLDEN)
NB = Origin("metadata.orbit", Path("/p/nb.ipynb"), None, Level.NOTEBOOK)
RECIPE = Origin("kernel recipe python", level=Level.RECIPE)
CA = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def kernel(s: EnvSpec, base: str, constraints: tuple[str, ...] = (), version: str = ""):
    """The kernel image's render as the docker engine makes it: the ecosystems' stages."""
    return df.render_kernel(s, base, df.kernel_stages(s, constraints), version=version)


def spec(*reqs: Requirement, **kw) -> EnvSpec:
    base = (pypi_requirement("ipykernel", RECIPE),)
    return EnvSpec(python="3.11", requirements=tuple(sorted(base + reqs)), **kw)


def test_base_with_the_hosts_extra_certificates():
    ctx = df.render_base(
        LOCAL_ROOTFS,
        kernel_packages=("ipykernel",),
        guard="# guard\n",
        pins="# pins\n",
        host_ca=CA,
    )
    golden("base-with-ca.Dockerfile", ctx.dockerfile)
    assert dict(ctx.files)["host-ca.crt"] == CA
    assert "COPY uv" not in ctx.dockerfile  # uv reaches build stages only (orbit-uv)


def test_base_without_extra_certificates_names_another_digest():
    plain = df.render_base(
        REGISTRY_ROOTFS, kernel_packages=("ipykernel",), guard="# g\n", pins="# p\n"
    )
    golden("base.Dockerfile", plain.dockerfile)
    with_ca = df.render_base(
        REGISTRY_ROOTFS, kernel_packages=("ipykernel",), guard="# g\n", pins="# p\n", host_ca=CA
    )
    assert "host-ca.crt" not in dict(plain.files)
    assert plain.digest() != with_ca.digest()
    again = df.render_base(
        REGISTRY_ROOTFS, kernel_packages=("ipykernel",), guard="# g\n", pins="# p\n"
    )
    assert again.digest() == plain.digest()


def test_uv_image_from_the_host_binary_or_from_pypi(tmp_path: Path):
    binary = tmp_path / "uv"
    binary.write_bytes(b"\x7fELF")
    golden(
        "uv-host.Dockerfile", df.render_uv(binary=binary, version="0.9.9", rootfs="r").dockerfile
    )
    golden("uv-pypi.Dockerfile", df.render_uv(binary=None, version="0.9.9", rootfs="r").dockerfile)


def test_kernel_python_only():
    ctx = kernel(spec(pypi_requirement("pandas", NB)), "orbit-base:0123")
    golden("kernel-pypi.Dockerfile", ctx.dockerfile)
    assert dict(ctx.files)["requirements.in"] == b"ipykernel\npandas\n"


def test_kernel_every_ecosystem_in_order_with_date_pins_and_index():
    s = spec(
        Apt.parse("jq", NB),
        Apt.parse("graphviz", NB),
        pypi_requirement("numpy>=1.26", NB),
        Requirement("npm", "left-pad", "left-pad@1.3.0", NB),
        as_of="2024-06-01T00:00:00Z",
        constraints=(pypi_requirement("numpy<3", NB),),
        index_options=("--extra-index-url https://example.org/simple", "--prerelease allow"),
    )
    ctx = kernel(s, "orbit-base:0123", constraints=("six==1.16.0",), version="9.9")
    golden("kernel-all.Dockerfile", ctx.dockerfile)
    files = dict(ctx.files)
    assert files["apt.txt"] == b"graphviz\njq\n"
    assert files["constraints.txt"] == b"numpy<3\nsix==1.16.0\n"
    assert files["npm.txt"] == b"left-pad@1.3.0\n"
    text = ctx.dockerfile
    # Each ecosystem's file is copied right before the step that reads it, in a fixed order.
    order = [text.index(f"COPY {f}") for f in ("apt.txt", "requirements.in", "npm.txt")]
    assert order == sorted(order)
    assert text.index("COPY apt.txt") < text.index("apt-get install")


def test_kernel_without_packages_is_the_base_plus_labels():
    ctx = kernel(EnvSpec(python="3.11"), "orbit-base:0123")
    assert ctx.dockerfile.splitlines()[1] == "FROM orbit-base:0123"
    assert "RUN" not in ctx.dockerfile and "COPY" not in ctx.dockerfile


def test_same_spec_same_text_different_spec_different_text():
    a = kernel(spec(pypi_requirement("six", NB)), "orbit-base:1")
    b = kernel(spec(pypi_requirement("six", NB)), "orbit-base:1")
    c = kernel(spec(pypi_requirement("idna", NB)), "orbit-base:1")
    assert a == b and a.digest() == b.digest()
    assert a.dockerfile != c.dockerfile


def test_hub_server_and_user_images(tmp_path: Path):
    golden("hub.Dockerfile", df.render_hub("orbit-base:0123").dockerfile)
    golden("server.Dockerfile", df.render_server("orbit-base:0123").dockerfile)
    kernelspec = {
        "argv": [
            "/opt/orbit/env/bin/python",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    user = df.render_user("orbit-kernel:abc-hub", kernelspec, project=tmp_path)
    golden("user.Dockerfile", user.dockerfile)
    assert user.tree == tmp_path
    lines = user.dockerfile.splitlines()
    # The project comes last: a notebook edit invalidates only that layer.
    assert lines[-2].startswith("COPY --chown=1000:1000 . ")


@pytest.mark.parametrize("name", ["base.Dockerfile", "kernel-all.Dockerfile", "hub.Dockerfile"])
def test_renders_use_only_the_classic_builder(name: str):
    text = (GOLDEN / name).read_text()
    assert "--mount=" not in text and "# syntax=" not in text and "<<" not in text


def test_service_stand_ins_from_debian_packages():
    from jupyter_orbit.ecosystems.compose_catalog import find

    pg = find("postgres").stand_in("postgres:15")
    ctx = df.render_service(LOCAL_ROOTFS, pg)
    golden("service-postgres.Dockerfile", ctx.dockerfile)
    script = dict(ctx.files)["orbit-service-entrypoint"]
    assert script.startswith(b"#!/bin/sh\n") and b"initdb" in script
    assert df.service_tag(pg, ctx).startswith("orbit-service-postgres:15-")
    redis = find("redis").stand_in("redis:7.0.15")
    golden("service-redis.Dockerfile", df.render_service(REGISTRY_ROOTFS, redis).dockerfile)
    memcached = df.render_service(LOCAL_ROOTFS, find("memcached").stand_in("memcached:1.6"))
    assert "COPY orbit-service-entrypoint" not in memcached.dockerfile  # runs as it comes
    assert "USER memcache" in memcached.dockerfile
    redis7 = df.render_service(REGISTRY_ROOTFS, find("redis").stand_in("redis:7"))
    assert redis7.digest() == df.render_service(REGISTRY_ROOTFS, redis).digest()  # one for both
    other = df.render_service(REGISTRY_ROOTFS, pg)
    assert df.service_tag(pg, other) != df.service_tag(pg, ctx)  # another base, another image
