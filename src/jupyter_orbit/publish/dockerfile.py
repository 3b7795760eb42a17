"""The published image's Dockerfiles, as pure functions (tests compare them with golden files).

A published image is built in two parts, each named for what it holds:

``orbit-publish:<digest>`` (the runtime)
    the server image (Orbit's base + JupyterLab, or Voilà, built by the docker engine like any
    environment), the Debian packages the environments need, then each environment copied from
    its kernel image ``orbit-kernel:<id>`` to ``/opt/orbit/envs/<id>`` (its own layer; with two
    or more, the packages they hold identically go into one shared layer first), the
    kernelspecs and the table that starts each notebook's kernel in its environment, the
    non-root user, the port, the healthcheck, and labels with each environment's date and lock.
    Its name is a digest of all that, so it is built once and reused.
``NAME:TAG`` (the app)
    the runtime + which environment each notebook runs in + the project's files, last: editing
    a notebook rebuilds one small layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jupyter_orbit.engines.dockerfile import (
    LABEL_ENV,
    LABEL_FORMAT,
    LABEL_ROLE,
    LABEL_SPEC,
    BuildContext,
)
from jupyter_orbit.imagelayout import (
    APT_CLEAN,
    BASE_PREFIX,
    ENV_PREFIX,
    ORBIT,
    SPEC_DIR,
    SYSTEM_PATH,
    env,
    run,
)

FORMAT = "1"  # bump when a render changes meaning: runtimes of another format are rebuilt
PORT = 8888
USER_UID = 1000
USER_GID = 100  # "users", as the Jupyter Docker Stacks and Zero to JupyterHub's fsGid
HOME = PurePosixPath("/home/jovyan")
SERVER_PREFIX = ENV_PREFIX  # the server image is an environment image: its env is the server's
ENVS = ORBIT / "envs"  # one folder per environment: /opt/orbit/envs/<id>
SPECS = ORBIT / "specs"  # each environment's files and lock: /opt/orbit/specs/<id>
SHARED = ORBIT / "shared"  # packages two or more environments hold identically
PROJECT = ORBIT / "project"  # the project's files
SHARE = ORBIT / "share"
KERNELSPECS = SHARE / "jupyter" / "kernels"
TABLE = SHARE / "orbit" / "kernels.json"
NOTEBOOKS = SHARE / "orbit" / "notebooks.json"
LAUNCHER = ORBIT / "bin" / "orbit-kernel"
ENVTOOL = ORBIT / "bin" / "orbit-envs"

LABEL_PREFIX = "org.jupyter.orbit."
LABEL_AS_OF = LABEL_PREFIX + "as-of"
LABEL_ENVIRONMENTS = LABEL_PREFIX + "environments"
LABEL_NOTEBOOKS = LABEL_PREFIX + "notebooks"
LABEL_LOCK = LABEL_PREFIX + "lock."  # + the environment's id
LABEL_APP = LABEL_PREFIX + "app"

# Any answer from the server (even 403 or 404) means it serves; no answer means it does not.
HEALTH = (
    "import http.client as h, sys; c = h.HTTPConnection('127.0.0.1', {port}, timeout=4); "
    "c.request('GET', '/api'); sys.exit(c.getresponse().status >= 500)"
)


@dataclass(frozen=True)
class KernelEnv:
    """One environment as the published image holds it."""

    env_id: str
    image: str  # its kernel image, ``orbit-kernel:<id>``
    image_id: str  # that image's id (so a rebuilt kernel image gives a new runtime)
    kernelspec: str  # the generic kernelspec name its notebooks use (``python3``)
    display_name: str
    language: str
    argv: tuple[str, ...]  # the kernel's command in the image ({connection_file} left in)
    env: tuple[tuple[str, str], ...]  # the kernel's variables
    label: str  # what it is for, in words ("hello.ipynb", "3 notebooks")
    apt: tuple[str, ...] = ()  # Debian packages it needs (installed in place, for all)
    as_of: str | None = None
    lock: str = ""  # the versions its image resolved: JSON {file: ["name==version", …]}
    logo: str = ""  # the kernel's SVG logo

    @property
    def prefix(self) -> PurePosixPath:
        return ENVS / self.env_id


@dataclass(frozen=True)
class Runtime:
    server: str  # the server image (an environment image holding JupyterLab or Voilà)
    envs: tuple[KernelEnv, ...]
    defaults: tuple[tuple[str, str], ...]  # kernelspec → the environment new notebooks get

    @property
    def shares(self) -> bool:
        """Two or more environments: the packages they hold alike are shared."""
        return len(self.envs) > 1


def env_prefix(env_id: str) -> PurePosixPath:
    return ENVS / env_id


def kernel_variables(prefix: PurePosixPath, extra: Mapping[str, str]) -> dict[str, str]:
    """What a kernel of the environment at ``prefix`` runs with: its ``bin/`` first on PATH, so
    ``!python`` and subprocesses use it, as Orbit's own kernels do."""
    return {
        "PATH": f"{prefix}/bin:{BASE_PREFIX}/bin:{SYSTEM_PATH}",
        "VIRTUAL_ENV": str(prefix),
        **dict(extra),
    }


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()


def _label(labels: Sequence[tuple[str, str]]) -> str:
    return "LABEL " + " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels)


def table(rt: Runtime) -> dict:
    """The launcher's table (kernels.json): each environment's command, and the defaults."""
    return {
        "roots": [str(PROJECT), str(HOME)],
        "defaults": dict(rt.defaults),
        "environments": {
            e.env_id: {"kernelspec": e.kernelspec, "argv": list(e.argv), "env": dict(e.env)}
            for e in rt.envs
        },
    }


def kernelspecs(rt: Runtime) -> dict[str, dict]:
    """kernel.json by kernelspec folder: the generic names, each choosing the notebook's
    environment; with several environments, one more per environment to pick by hand."""
    out: dict[str, dict] = {}
    by_spec = {e.kernelspec: e for e in rt.envs if e.env_id == dict(rt.defaults)[e.kernelspec]}
    for name, e in sorted(by_spec.items()):
        out[name] = {
            "argv": ["/usr/bin/python3", "-I", str(LAUNCHER), name, "{connection_file}"],
            "display_name": e.display_name,
            "language": e.language,
            "metadata": {"debugger": e.language == "python"},
        }
    if len(rt.envs) > 1:
        for e in rt.envs:
            out[f"orbit-{e.env_id[:12]}"] = {
                "argv": list(e.argv),
                "env": dict(e.env),
                "display_name": f"{e.display_name} · {e.label}",
                "language": e.language,
                "metadata": {"debugger": e.language == "python"},
            }
    return out


def server_config(rt: Runtime) -> dict:
    """The server's own settings (in its prefix, so ``jupyterhub-singleuser`` reads them too):
    every interface of the container (the host publishes the port, on 127.0.0.1 by the docs),
    only the image's kernels, nothing fetched from the internet unasked. No token here: the
    server takes ``JUPYTER_TOKEN``, or makes one and prints it in the container's log."""
    names = sorted(kernelspecs(rt))
    return {
        "ServerApp": {"ip": "0.0.0.0", "port": PORT, "open_browser": False},
        "KernelSpecManager": {"ensure_native_kernel": False, "allowed_kernelspecs": names},
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            # extensions are the image's: the user cannot install into it anyway
            "extension_manager": "readonly",
        },
    }


PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


def render_runtime(rt: Runtime, *, launcher: str, envtool: str, version: str = "") -> BuildContext:
    """The runtime image: ``rt``'s server, Debian packages, environments, kernels and user.

    ``launcher`` and ``envtool`` are the sources of the two programs the image runs
    (``image_kernel.py``, ``image_envs.py``).
    """
    envs = sorted(rt.envs, key=lambda e: e.env_id)
    prefixes = " ".join(str(e.prefix) for e in envs)
    files: list[tuple[str, bytes | Path]] = [("orbit-envs", envtool.encode())]
    lines = [
        f"# Jupyter Orbit published runtime: {len(envs)} environment(s) over {rt.server}.",
        "# Environments (kernel image ids):",
        *(f"#   {e.env_id} = {e.image_id}" for e in envs),
    ]
    copy_env = [f"COPY orbit-envs {ENVTOOL}"]
    relocate = f"python3 -I {ENVTOOL} relocate {ENV_PREFIX} {prefixes}"
    if rt.shares:
        lines += ["FROM " + rt.server + " AS envs"]
        lines += [f"COPY --from={e.image} {ENV_PREFIX} {e.prefix}" for e in envs]
        lines += [
            *copy_env,
            "# each environment named by its new place; packages held alike moved to one place",
            run(
                relocate,
                f"install -d {SHARED}",
                f"python3 -I {ENVTOOL} share {SHARED} {prefixes}",
            ),
            "",
        ]
    lines.append(f"FROM {rt.server}")
    apt = sorted({p for e in envs for p in e.apt})
    if apt:
        files.append(("apt.txt", ("\n".join(apt) + "\n").encode()))
        lines += [
            "# Debian packages of every environment (installed in place, as kernel images do)",
            f"COPY apt.txt {SHARE}/orbit/apt.txt",
            run(
                "apt-get update",
                f"xargs -a {SHARE}/orbit/apt.txt apt-get install -y --no-install-recommends",
                APT_CLEAN,
            ),
        ]
    if rt.shares:
        lines.append(f"COPY --from=envs {SHARED} {SHARED}")
        lines += [f"COPY --from=envs {e.prefix} {e.prefix}" for e in envs]
    else:
        lines += [f"COPY --from={e.image} {ENV_PREFIX} {e.prefix}" for e in envs]
        lines += [*copy_env, run(relocate)]
    lines += [f"COPY --from={e.image} {SPEC_DIR} {SPECS}/{e.env_id}" for e in envs]

    specs = kernelspecs(rt)
    for name, spec in specs.items():
        files.append((f"orbit/share/jupyter/kernels/{name}/kernel.json", _json(spec)))
        logo = next((e.logo for e in envs if name in (e.kernelspec, f"orbit-{e.env_id[:12]}")), "")
        if logo:
            files.append((f"orbit/share/jupyter/kernels/{name}/logo-svg.svg", logo.encode()))
    files += [
        ("orbit/bin/orbit-kernel", launcher.encode()),
        ("orbit/share/orbit/kernels.json", _json(table(rt))),
        ("orbit/env/etc/jupyter/jupyter_server_config.json", _json(server_config(rt))),
        ("orbit/env/etc/jupyter/labconfig/page_config.json", _json(PAGE_CONFIG)),
    ]
    data_path = ":".join([str(SHARE / "jupyter"), *(f"{e.prefix}/share/jupyter" for e in envs)])
    lines += [
        "# kernelspecs, the table that starts each notebook's kernel, the server's settings",
        f"COPY orbit {ORBIT}",
        run(
            f"useradd --uid {USER_UID} --gid {USER_GID} --create-home --shell /bin/bash jovyan",
            f"install -d -o {USER_UID} -g {USER_GID} {PROJECT}",
        ),
        env(JUPYTER_PATH=data_path, HOME=str(HOME), SHELL="/bin/bash"),
        f"USER {USER_UID}:{USER_GID}",
        f"WORKDIR {PROJECT}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\\n"
        f"  CMD {json.dumps(['/usr/bin/python3', '-I', '-c', HEALTH.format(port=PORT)])}",
    ]
    labels = [
        (LABEL_ROLE, "published-runtime"),
        (LABEL_FORMAT, FORMAT),
        # the server image's labels as an environment image do not describe this one
        (LABEL_ENV, ""),
        (LABEL_SPEC, ""),
        (
            LABEL_ENVIRONMENTS,
            json.dumps(
                [
                    {"id": e.env_id, "kernel": e.kernelspec, "as_of": e.as_of, "for": e.label}
                    for e in envs
                ],
                sort_keys=True,
                separators=(",", ":"),
            ),
        ),
        *((f"{LABEL_LOCK}{e.env_id}", e.lock) for e in envs if e.lock),
    ]
    if version:
        labels.append((LABEL_PREFIX + "version", version))
    lines.append(_label(labels))
    return BuildContext("\n".join(lines) + "\n", tuple(files), labels=tuple(labels))


@dataclass(frozen=True)
class App:
    """The published image over a runtime: what it serves and the project's files."""

    runtime: str
    title: str  # the project's name
    notebooks: tuple[tuple[str, str], ...]  # notebook (relative path) → environment id
    files: tuple[tuple[str, Path], ...]  # the project's files: relative path → host file
    as_of: tuple[str, ...]  # the dates the environments are resolved as of
    voila: str | None = None  # the notebook a Voilà app shows; None: JupyterLab


def app_command(app: App) -> list[str]:
    if app.voila is None:
        return ["jupyter-lab"]
    return [
        "voila",
        "--no-browser",
        f"--port={PORT}",
        "--Voila.ip=0.0.0.0",
        # a token, as JupyterLab has: JUPYTER_TOKEN, else one printed in the log
        "--Voila.auto_token=True",
        app.voila,
    ]


def render_app(app: App) -> BuildContext:
    """The image ``docker run`` serves: the runtime, the notebook table, the project, last."""
    files: list[tuple[str, bytes | Path]] = [("notebooks.json", _json(dict(app.notebooks)))]
    files += [(f"project/{rel}", path) for rel, path in app.files]
    lines = [
        f"# Jupyter Orbit published image of {app.title}: the project's files come last.",
        f"FROM {app.runtime}",
        f"COPY notebooks.json {NOTEBOOKS}",
    ]
    if app.files:
        lines.append(f"COPY --chown={USER_UID}:{USER_GID} project {PROJECT}/")
    lines.append(f"CMD {json.dumps(app_command(app))}")
    labels = [
        (LABEL_ROLE, "published"),
        (LABEL_FORMAT, FORMAT),
        ("org.opencontainers.image.title", app.title),
        (LABEL_APP, f"voila {app.voila}" if app.voila else "jupyterlab"),
        (LABEL_AS_OF, ", ".join(app.as_of)),
        (LABEL_NOTEBOOKS, json.dumps(dict(app.notebooks), sort_keys=True, separators=(",", ":"))),
    ]
    lines.append(_label(labels))
    return BuildContext("\n".join(lines) + "\n", tuple(files), labels=tuple(labels))
