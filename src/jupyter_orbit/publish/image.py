"""``orbit publish PROJECT --image NAME[:TAG]``: build the project's standalone image.

The steps: read the project (``project.collect``: every notebook through the pipeline), build
the kernel image of each environment that is not built yet (the docker engine's own, through
the pipeline), the server image (JupyterLab or Voilà, an environment image the docker engine
builds over the same base), the runtime image (``dockerfile.render_runtime``; reused while
its inputs are the same), then the image itself: the runtime + the project's files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.imagelayout import ENV_PREFIX, SITE_PACKAGES, run
from jupyter_orbit.publish import dockerfile as pdf
from jupyter_orbit.publish.project import Environment, Project

if TYPE_CHECKING:
    from jupyter_orbit.engines.dockerfile import BuildContext
    from jupyter_orbit.model import EnvSpec
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Consent
    from jupyter_orbit.progress import Progress

# A Docker image reference: [registry/]name[:tag], lower-case path components.
_NAME = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
APPS = ("jupyterlab", "voila")
SERVER_REPO = "orbit-publish-server"
RUNTIME_REPO = "orbit-publish"


def check_name(name: str) -> str:
    """``name`` as Docker takes it; a tagless name gets ``:latest``."""
    if not _NAME.match(name):
        raise InputError(
            f"{name!r} is not an image name Docker takes",
            "use lower-case letters, digits and . _ - (e.g. my-project:1.0, or "
            "registry.example.org/team/project:1.0)",
        )
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def in_image(name: str) -> str:
    """Where a kernel recipe's system program lives in the image (Debian's packages)."""
    return f"/usr/bin/{name}"


# -- the server ----------------------------------------------------------------------------


def server_packages(app: str, *, hub: bool) -> list[str]:
    """What the server environment installs: JupyterLab at the version Orbit itself runs with,
    or Voilà; JupyterHub's single-user server too for a hub (Zero to JupyterHub)."""
    from importlib.metadata import PackageNotFoundError, version

    from jupyter_orbit.imagelayout import JUPYTERHUB

    if app == "voila":
        wanted = ["voila>=0.5,<0.6"]
    else:
        try:
            wanted = [f"jupyterlab=={version('jupyterlab')}"]
        except PackageNotFoundError:
            wanted = ["jupyterlab>=4"]
    return [*wanted, JUPYTERHUB] if hub else wanted


def server_spec(app: str, *, hub: bool) -> EnvSpec:
    from jupyter_orbit.ecosystems import ecosystem_class
    from jupyter_orbit.imagelayout import BASE_PYTHON
    from jupyter_orbit.model import EnvSpec, Level, Origin

    pypi = ecosystem_class("pypi")
    origin = Origin("orbit publish", level=Level.PROFILE)
    reqs = tuple(sorted(pypi.parse(text, origin) for text in server_packages(app, hub=hub)))
    return EnvSpec(kernel="python", python=BASE_PYTHON, requirements=reqs)


# JupyterLab reads Babel's locale data only to name the language packs installed, and the image
# installs none: English and the root locale stay (a third of the server layer goes).
TRIM = run(
    f"find {ENV_PREFIX}/{SITE_PACKAGES}/babel/locale-data -name '*.dat' ! -name 'en.dat' "
    "! -name 'en_*.dat' ! -name 'root.dat' -delete 2>/dev/null || true"
)


def server_context(spec: EnvSpec, base: str) -> BuildContext:
    """The docker engine's render of the server's environment, its last stage (the one that
    installs the packages) trimmed of what the server never reads."""
    import dataclasses

    from jupyter_orbit import __version__
    from jupyter_orbit.engines.dockerfile import kernel_stages, render_kernel

    stages = kernel_stages(spec)
    stages[-1] = dataclasses.replace(stages[-1], build=(*stages[-1].build, TRIM))
    return render_kernel(spec, base, stages, version=__version__)


def ensure_server(client: Any, base: str, spec: EnvSpec, progress: Progress) -> str:
    """The server image over ``base``, built once per spec and base."""
    from jupyter_orbit.engines import dockerapi

    context = server_context(spec, base)
    tag = f"{SERVER_REPO}:{context.digest()[:16]}"  # named by all that goes into it
    if dockerapi.image(client, tag) is None:
        what = ", ".join(r.text for r in spec.requirements)
        progress.step("server", f"{tag}: {what} over {base} (once)")
        dockerapi.build(client, context, tag, progress, what="the server")
    return tag


# -- environments --------------------------------------------------------------------------


def kernel_env(env: Environment, *, lock: str = "") -> pdf.KernelEnv:
    p = env.prepared
    assert p.environment is not None, "built first"
    recipe = p.recipe
    prefix = Path(str(pdf.env_prefix(env.env_id)))
    argv = recipe.argv(prefix, prefix / "bin" / "python", which=in_image)
    extra = recipe.kernel_env(prefix, which=in_image)
    variables = pdf.kernel_variables(pdf.env_prefix(env.env_id), extra)
    return pdf.KernelEnv(
        env_id=env.env_id,
        image=p.environment.record["image"],
        image_id=p.environment.record["image_id"],
        kernelspec=recipe.kernelspec_name,
        display_name=recipe.display_name,
        language=recipe.language,
        argv=tuple(argv),
        env=tuple(sorted(variables.items())),
        label=env.label,
        apt=tuple(sorted(r.text for r in p.spec.packages("apt"))),
        as_of=p.spec.as_of,
        lock=lock,
        logo=recipe.logo_svg(),
    )


def read_lock(client: Any, image: str) -> str:
    """The exact versions a kernel image holds, as JSON: ``{"pypi": ["name==version", …],
    "apt": […], "npm": […]}`` (the files its build wrote), read without running it."""
    import json

    import docker.errors

    from jupyter_orbit.imagelayout import SPEC_DIR

    out = {}
    for eco, name in (("pypi", "requirements.lock.txt"), ("apt", "apt.txt"), ("npm", "npm.txt")):
        try:
            text = _read(client, image, f"{SPEC_DIR}/{name}")
        except docker.errors.NotFound:
            continue
        lines = [ln.strip() for ln in text.splitlines()]
        out[eco] = [ln for ln in lines if ln and not ln.startswith(("#", "-"))]
    return json.dumps(out, sort_keys=True, separators=(",", ":")) if out else ""


def _read(client: Any, image: str, path: str) -> str:
    from jupyter_orbit.engines import dockerapi

    return dockerapi.image_file(client, image, path).decode(errors="replace")


def common_base(client: Any, project: Project) -> str:
    """The base every environment's kernel image was built over (one, or an error)."""
    from jupyter_orbit.engines import dockerapi
    from jupyter_orbit.engines.dockerfile import LABEL_BASE

    bases: dict[str, list[str]] = {}
    for env in project.environments.values():
        assert env.prepared.environment is not None
        found = dockerapi.image(client, env.prepared.environment.record["image"])
        base = (found.labels or {}).get(LABEL_BASE, "") if found is not None else ""
        bases.setdefault(base, []).append(env.env_id)
    if len(bases) != 1 or "" in bases:
        listed = "; ".join(f"{b or 'unknown'}: {', '.join(ids)}" for b, ids in bases.items())
        raise BuildError(
            f"the project's kernel images were built over different bases ({listed})",
            "remove the older kernel images (docker rmi orbit-kernel:<id>) and publish again",
        )
    return next(iter(bases))


# -- the whole image -------------------------------------------------------------------------


@dataclass
class Published:
    image: str
    image_id: str
    size: int  # bytes, uncompressed
    runtime: str
    server: str
    project: Project

    def public(self) -> dict[str, Any]:
        envs = self.project.environments.values()
        return {
            "image": self.image,
            "image_id": self.image_id,
            "size": self.size,
            "runtime": self.runtime,
            "server": self.server,
            "project": str(self.project.root),
            "notebooks": dict(self.project.notebooks),
            "environments": {e.env_id: e.notebooks for e in envs},
            "left_out": list(self.project.left_out),
        }


def publish_image(
    paths: Paths,
    project: Project,
    name: str,
    *,
    app: str = "jupyterlab",
    hub: bool = False,
    consent: Consent,
    progress: Progress,
) -> Published:
    """Build ``name`` from ``project`` (collected with ``project.collect``)."""
    from jupyter_orbit import __version__
    from jupyter_orbit.engines import dockerapi
    from jupyter_orbit.publish.project import build_environments

    name = check_name(name)
    voila = None
    if app == "voila":
        if len(project.notebooks) != 1:
            raise InputError(
                "a Voilà app shows one notebook", "name it: --app voila NOTEBOOK.ipynb"
            )
        voila = next(iter(project.notebooks))
    client = dockerapi.connect()
    if any(e.prepared.plan is None for e in project.environments.values()):
        raise ValueError("collect the project up to its plans to build an image")
    for warning in project.warnings:
        progress.warn(warning)
    build_environments(paths, project, consent, progress)
    base = common_base(client, project)
    server = ensure_server(client, base, server_spec(app, hub=hub), progress)

    envs = [kernel_env(e) for e in project.environments.values()]
    rt = pdf.Runtime(server, tuple(envs), tuple(sorted(project.defaults.items())))
    sources = resources.files("jupyter_orbit.publish")
    scripts = {
        "launcher": (sources / "image_kernel.py").read_text(),
        "envtool": (sources / "image_envs.py").read_text(),
    }
    plain = pdf.render_runtime(rt, version=__version__, **scripts)
    runtime = f"{RUNTIME_REPO}:{plain.digest()[:16]}"
    if dockerapi.image(client, runtime) is None:
        locked = [
            kernel_env(e, lock=read_lock(client, k.image))
            for e, k in zip(project.environments.values(), envs, strict=True)
        ]
        rt = pdf.Runtime(server, tuple(locked), rt.defaults)
        context = pdf.render_runtime(rt, version=__version__, **scripts)
        progress.step("runtime", f"{runtime}: {len(envs)} environment(s) over {server}")
        dockerapi.build(client, context, runtime, progress, what=f"the runtime {runtime}")

    if project.left_out:
        shown = ", ".join(project.left_out[:12])
        more = f" and {len(project.left_out) - 12} more" if len(project.left_out) > 12 else ""
        progress.warn(
            f"left out of {name}: {shown}{more} (version control, secrets, keys and what "
            ".orbitignore or .dockerignore names)"
        )
    app_ctx = pdf.render_app(
        pdf.App(
            runtime=runtime,
            title=project.name,
            notebooks=tuple(sorted(project.notebooks.items())),
            files=tuple((rel, project.root / rel) for rel in project.files),
            as_of=tuple(sorted({e.as_of for e in envs if e.as_of})),
            voila=voila,
        )
    )
    progress.step("image", f"{name}: {project.name}/ over {runtime}")
    image_id = dockerapi.build(client, app_ctx, name, progress, what=f"the image {name}")
    return Published(name, image_id, dockerapi.image_size(client, name), runtime, server, project)
