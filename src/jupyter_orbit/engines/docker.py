"""The docker engine: one slim image per spec (``orbit-kernel:<env-id>``), kernels in containers.

Images are built through the Docker Engine API (Docker, or Podman's compatible socket) from the
Dockerfiles ``dockerfile.py`` renders, over Orbit's base (``baseimage.py``). The image is the
environment: it is complete once tagged (a failed build tags nothing), and its labels say which
spec and which render format made it. A kernel runs in a container of it, started and watched by
``container_kernel.py``, which is the command ``kernel_command`` hands to Jupyter.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from jupyter_orbit import __version__, atomic
from jupyter_orbit.ecosystems import ecosystem_class, in_order
from jupyter_orbit.ecosystems.base import ImageStage, names_of
from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.base import Engine, Launch, Stored
from jupyter_orbit.engines.dockerfile import (
    FORMAT,
    LABEL_BASE,
    LABEL_ENV,
    LABEL_FORMAT,
    LABEL_SPEC,
    BuildContext,
    render_kernel,
)
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.imagelayout import BASE_PYTHON, ENV_PREFIX, ENV_PYTHON, SPEC_DIR
from jupyter_orbit.model import Environment, EnvSpec, Plan, Resolution, Step

if TYPE_CHECKING:
    import docker

    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress

BASE_PYTHON_FULL = "3.11.2"  # Debian bookworm's python3


def image_tag(env_id: str) -> str:
    return f"orbit-kernel:{env_id}"


class DockerEngine(Engine):
    name = "docker"
    label = "a container on this machine"
    stores = "image"
    joins_service_network = True
    dates_kernel = True  # its images' Python is the base's; the kernel's packages are dated

    def __init__(self, paths: Paths, client: docker.DockerClient | None = None) -> None:
        super().__init__(paths)
        self._client = client  # connected on first use

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = dockerapi.connect()
        return self._client

    @property
    def root(self) -> Path:
        """Where the build contexts of this ORBIT_HOME's images are kept, for reading."""
        return self.paths.envs_dir(self.name)

    # -- the Engine interface ------------------------------------------------------------

    def lookup_id(self, env_id: str) -> Environment | None:
        if not env_id.isalnum():
            return None
        found = dockerapi.image(self.client, image_tag(env_id))
        if found is None:
            return None
        labels = found.labels or {}
        if labels.get(LABEL_ENV) != env_id or labels.get(LABEL_FORMAT) != FORMAT:
            return None  # made by another Orbit render format: rebuilt
        record = {
            "image": image_tag(env_id),
            "image_id": found.id,
            "size": int(found.attrs.get("Size", 0)),
            "created": found.attrs.get("Created"),
            "spec": json.loads(labels.get(LABEL_SPEC, "{}")),
        }
        return Environment(self.name, env_id, self.root / env_id, Path(str(ENV_PYTHON)), record)

    def adapt(self, res: Resolution) -> Resolution:
        """The profile's default Python is the host's; in images it is the base's."""
        from_default = any(
            "python" in s.provides and s.kind == "profile default" for s in res.sources
        )
        if not from_default or res.spec.python == BASE_PYTHON:
            return res
        spec = dataclasses.replace(res.spec, python=BASE_PYTHON)
        return dataclasses.replace(res, spec=spec)

    def plan(self, spec: EnvSpec) -> Plan:
        self._check_python(spec)
        tag = image_tag(spec.env_id)
        interpreter = f"{ENV_PYTHON} (Python {BASE_PYTHON_FULL}, in the image)"
        if self.lookup(spec) is not None:
            return Plan(self.name, spec.env_id, spec, tag, True, (), interpreter)
        from jupyter_orbit.engines.baseimage import planned_base

        steps: list[Step] = [BaseStep(planned_base(self.client))]
        warnings = []
        for name in in_order(spec.ecosystems):
            eco = ecosystem_class(name)
            reqs = spec.packages(name)
            if eco.image_stage(spec) is None:
                warnings.append(
                    f"{eco.display_name or name} packages are not installed by the docker "
                    f"engine: {names_of(reqs)}"
                )
                continue
            as_of = f" as of {spec.as_of}" if spec.as_of else ""
            steps.append(LayerStep(f"{eco.display_name or name}{as_of}: {names_of(reqs)}", name))
        steps.append(TagStep(f"{tag} (layers shared with images that start alike)"))
        return Plan(
            self.name, spec.env_id, spec, tag, False, tuple(steps), interpreter, tuple(warnings)
        )

    def realize(self, plan: Plan, progress: Progress) -> Environment:
        from filelock import FileLock

        spec = plan.spec
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / f".{spec.env_id}.lock"):
            if env := self.lookup(spec):
                return env
            build = ImageBuild(self, spec, image_tag(spec.env_id), progress)
            for step in plan.steps:
                progress.step(step.action, step.detail)
                step.run(build)
        env = self.lookup(spec)
        assert env is not None
        return env

    def build_image(self, spec: EnvSpec, base: str, tag: str, progress: Progress) -> str:
        """Build ``spec``'s layers over ``base`` as ``tag`` (also used for hub user images)."""
        build = ImageBuild(self, spec, tag, progress, base=base)
        for name in in_order(spec.ecosystems):
            LayerStep("", name).run(build)
        return build.finish()

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        """The kernel's command inside the image."""
        return recipe.argv(Path(str(ENV_PREFIX)), Path(str(ENV_PYTHON)))

    def kernel_command(self, env: Environment, recipe: KernelRecipe, launch: Launch) -> list[str]:
        """A host process that runs the kernel in a container and lives as long as it."""
        argv = [
            sys.executable,
            "-P",  # it starts in the notebook's folder: nothing is imported from there
            "-m",
            "jupyter_orbit.engines.container_kernel",
            "--image",
            image_tag(env.env_id),
            "--env-id",
            env.env_id,
            "--connection-file",
            "{connection_file}",
        ]
        if launch.project_root is not None:
            argv += ["--mount", str(launch.project_root)]
        if options := self.notebook_options(launch):
            argv += ["--options", json.dumps(options, sort_keys=True, separators=(",", ":"))]
        for network in launch.networks:
            argv += ["--network", network]
        for name in launch.pass_env:  # the values travel in the environment, never in argv
            argv += ["--pass-env", name]
        if devices := self.devices(launch):
            argv += ["--devices", json.dumps(devices, sort_keys=True, separators=(",", ":"))]
        for folder in (*recipe.host_folders(), *launch.read_only):
            argv += ["--read-only", str(folder)]
        return [*argv, "--", *self.kernel_argv(env, recipe)]

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        """Nothing: the image sets what its kernel needs, and host paths mean nothing inside."""
        return {}

    def check_available(self) -> None:
        self.client  # noqa: B018  (connecting says what is wrong, and how to fix it)

    def check_launch(self, launch: Launch) -> None:
        self.notebook_options(launch)
        self.devices(launch)

    def devices(self, launch: Launch) -> dict[str, Any]:
        """The devices the notebook declares (``metadata.orbit.hardware``), as the kernel
        container's host config: GPU device requests (CDI names where this engine resolves
        them), device mappings and groups; a ``BuildError`` saying why when it cannot have them."""
        from jupyter_orbit.hardware.needs import engine_cdi_enabled

        fit = launch.hardware
        if fit is None or fit.needs.empty:
            return {}
        cdi = fit.needs.gpu is not None and engine_cdi_enabled(self.client.info())
        return fit.container_devices(cdi_enabled=cdi).host_config()

    def notebook_options(self, launch: Launch) -> dict[str, Any]:
        """The notebook's ``metadata.orbit.container``, checked (host access needs the flag)."""
        from jupyter_orbit.engines.container_options import kernel_options
        from jupyter_orbit.manifests.notebook import load_notebook

        if launch.notebook is None or launch.notebook.suffix != ".ipynb":
            return {}
        meta = load_notebook(launch.notebook).get("metadata") or {}
        orbit = meta.get("orbit") if isinstance(meta, dict) else None
        if not isinstance(orbit, dict) or "container" not in orbit:
            return {}
        return kernel_options(
            orbit["container"],
            path=launch.notebook,
            base_dir=launch.notebook.parent,
            allow_host_access=launch.allow_host_access,
        )

    def pins(self, plan: Plan) -> list[str]:
        if plan.built:
            text = self.read_file(image_tag(plan.env_id), f"{SPEC_DIR}/requirements.lock.txt")
        else:
            text = self._compile_on_host(plan.spec)
        return [
            ln.strip()
            for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", "-"))
        ]

    def cleanup(self) -> int:
        """Remove kernel containers whose host process is gone, and stopped ones. A container
        only created is being started by its process while that runs (another server's, or a
        kernel this server began before it swept): it goes once its process is gone."""
        from jupyter_orbit.engines.container_kernel import LABEL_KERNEL, LABEL_OWNER, owner_alive
        from jupyter_orbit.engines.container_options import engine_socket_paths

        remote = "://" in os.environ.get("DOCKER_HOST", "").replace("unix://", "")
        if not remote and not any(Path(s).exists() for s in engine_socket_paths()):
            return 0  # no engine here: nothing of ours can be running (and no import of docker)
        try:
            client = dockerapi.connect(timeout=10)
            found = client.containers.list(all=True, filters={"label": LABEL_KERNEL})
        except Exception:
            return 0
        removed = 0
        for c in found:
            alive = owner_alive(c.labels.get(LABEL_OWNER, ""))
            if c.status in ("exited", "dead") or alive is False:
                try:
                    c.remove(force=True)
                    removed += 1
                except Exception:
                    pass
        return removed

    def stored(self) -> list[Stored]:
        """This data root's kernel images (the ones it keeps build contexts of), the images
        they replaced, and contexts whose image is gone."""
        from jupyter_orbit.engines import storage

        root = self.root
        ids = sorted(d.name for d in root.iterdir() if d.name.isalnum()) if root.is_dir() else []
        if not ids:
            return []  # nothing of ours: the engine is not even asked
        out = []
        for env_id in ids:
            found = dockerapi.image(self.client, image_tag(env_id))
            if found is None:
                size, frees = storage.sizes(self.root / env_id)
                out.append(Stored(env_id, str(self.root / env_id), size, frees, None, True))
            else:
                out.append(self._stored(env_id, image_tag(env_id), found, leftover=False))
        for img in self.client.images.list(filters={"dangling": True, "label": LABEL_ENV}):
            env_id = (img.labels or {}).get(LABEL_ENV, "")
            if env_id in ids:  # a rebuild took its tag: replaced
                out.append(self._stored(env_id, img.id, img, leftover=True))
        return out

    def _stored(self, env_id: str, ref: str, img: Any, *, leftover: bool) -> Stored:
        size = int(img.attrs.get("Size", 0))
        base_ref = (img.labels or {}).get(LABEL_BASE)
        base = dockerapi.image(self.client, base_ref) if base_ref else None
        own = size - int(base.attrs.get("Size", 0)) if base is not None else size
        return Stored(env_id, ref, size, max(own, 0), img.attrs.get("Created"), leftover)

    def in_use(self, items: list[Stored]) -> dict[str, str]:
        """Images any container was made from (the engine keeps those anyway)."""
        wanted = {}
        for item in items:
            if not item.location.startswith("/"):
                found = dockerapi.image(self.client, item.location)
                if found is not None:
                    wanted[found.id] = item.location
        out = {}
        for c in self.client.containers.list(all=True):
            image_id = c.attrs.get("Image", "")
            if image_id in wanted:
                out[wanted[image_id]] = f"container {c.name} ({c.status})"
        return out

    def remove(self, item: Stored) -> None:
        import shutil

        import docker.errors

        if not item.location.startswith("/"):
            try:
                self.client.images.remove(item.location)  # never forced
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as e:
                raise OrbitError(f"image {item.location} was not removed: {e}", None) from None
        others = [
            s for s in self.stored() if s.env_id == item.env_id and s.location != item.location
        ]
        if not any(not s.leftover for s in others):
            shutil.rmtree(self.root / item.env_id, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def read_file(self, ref: str, path: str) -> str:
        """A file from an image, read without running anything in it."""
        return dockerapi.image_file(self.client, ref, path).decode()

    def _check_python(self, spec: EnvSpec) -> None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        wanted = spec.python
        if not wanted:
            return
        if wanted[0].isdigit():
            ok = wanted.split(".")[:2] == BASE_PYTHON.split(".")
        else:
            try:
                ok = SpecifierSet(wanted).contains(BASE_PYTHON_FULL)
            except InvalidSpecifier:
                ok = False
        if not ok:
            raise InputError(
                f"the docker engine's images have Python {BASE_PYTHON_FULL} (Debian's); "
                f"the environment asks for Python {wanted}",
                "drop or widen the Python request, or use the local engine (--engine local)",
            )

    def _lock_constraints(self, spec: EnvSpec, progress: Progress) -> list[str]:
        """Pins from a notebook's lock, applied as constraints (as the local engine does)."""
        if spec.lock is None:
            return []
        if spec.lock.format != "uv.lock":
            return [ln for ln in spec.lock.text.splitlines() if ln and not ln.startswith("#")]
        import tempfile

        from jupyter_orbit.ecosystems.pypi import PyPI

        with tempfile.TemporaryDirectory() as tmp:
            return PyPI(self.paths).lock_constraints(spec, Path(tmp), progress.log)

    def _compile_on_host(self, spec: EnvSpec) -> str:
        from jupyter_orbit.ecosystems.pypi import PyPI
        from jupyter_orbit.uvcli import run_uv

        reqs, _, flags = PyPI.image_files(spec, [])
        arch = self.client.info().get("Architecture", "x86_64")
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
        args = [
            "pip",
            "compile",
            "-",
            "--python-version",
            BASE_PYTHON,
            "--python-platform",
            f"{arch}-unknown-linux-gnu",
            "--no-header",
            "--no-annotate",
            "--quiet",
            *flags,
        ]
        if spec.as_of:
            args += ["--exclude-newer", spec.as_of]
        self.root.mkdir(parents=True, exist_ok=True)
        return run_uv(args, cwd=self.root, stdin=reqs)

    def _keep_context(self, env_id: str, context: BuildContext) -> None:
        """The Dockerfile and the files it copies, beside the other environments (for reading)."""
        folder = self.root / env_id
        atomic.write_text(folder / "Dockerfile", context.dockerfile)
        for name, content in context.files:
            if isinstance(content, bytes):
                atomic.write_bytes(folder / name, content)


class ImageBuild:
    """A kernel image being built: the steps of a docker plan run against it. The layer steps
    add their ecosystem's stage; the tag step builds the whole Dockerfile in one go (so layers
    are shared with images that start alike) and tags it."""

    def __init__(
        self, engine: DockerEngine, spec: EnvSpec, tag: str, progress: Progress, base: str = ""
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.tag = tag
        self.progress = progress
        self.base = base
        self.stages: list[tuple[str, ImageStage]] = []
        self._constraints: list[str] | None = None

    @property
    def constraints(self) -> list[str]:
        """Pins from the notebook's lock that the PyPI stage must respect (computed once)."""
        if self._constraints is None:
            self._constraints = self.engine._lock_constraints(self.spec, self.progress)
        return self._constraints

    def finish(self) -> str:
        spec, engine = self.spec, self.engine
        context = render_kernel(
            spec, self.base, [stage for _, stage in self.stages], version=__version__
        )
        engine._keep_context(self.tag.split(":")[-1], context)
        self.progress.step("image", f"{self.tag} over {self.base}")
        return dockerapi.build(
            engine.client,
            context,
            self.tag,
            self.progress,
            what=f"the image {self.tag}",
            blame=self._blame,
        )

    def _blame(self, step: dockerapi.StepFailure) -> tuple[str, str] | None:
        """Which declared packages a failing layer installs, and where they were declared."""
        for name, stage in self.stages:
            if not any(f in step.instruction for f, _ in stage.files):
                continue
            eco = ecosystem_class(name)
            declared = self.spec.declared(name)
            where = sorted({f"{r.origin}" for r in declared if r.origin and r.origin.path})
            names = ", ".join(r.text for r in declared) or "none declared"
            extra = f"{name} packages: {names}" + (
                f", declared in {', '.join(where)}" if where else ""
            )
            return extra, f"{eco.check_hint}; no image was tagged, earlier images are unchanged"
        return None


@dataclass(frozen=True)
class BaseStep(Step):
    """Orbit's base image: found, pulled, or built from Debian packages."""

    ACTION: ClassVar[str] = "base"

    def run(self, build: ImageBuild) -> None:
        from filelock import FileLock

        from jupyter_orbit.engines.baseimage import ensure_base

        with FileLock(build.engine.root / ".base.lock"):
            build.base = ensure_base(build.engine.client, build.progress)


@dataclass(frozen=True)
class LayerStep(Step):
    """One ecosystem's stage of the image (rendered by the ecosystem)."""

    ACTION: ClassVar[str] = "layer"
    ecosystem: str = ""

    @property
    def action(self) -> str:
        return self.ecosystem

    def run(self, build: ImageBuild) -> None:
        eco = ecosystem_class(self.ecosystem)
        constraints = build.constraints if eco.spec_options else []
        stage = eco.image_stage(build.spec, constraints)
        if stage is not None:
            build.stages.append((self.ecosystem, stage))


@dataclass(frozen=True)
class TagStep(Step):
    """Build the image from its stages and tag it: the environment is complete once tagged."""

    ACTION: ClassVar[str] = "tag"

    def run(self, build: ImageBuild) -> None:
        build.finish()
