"""``orbit publish PROJECT --image NAME --z2jh DIR``: JupyterHub on Kubernetes, with Zero to
JupyterHub's Helm chart.

Written into DIR:

``config.yaml``
    the chart's values: every user's server runs the published image (with JupyterHub's
    single-user server in it), starts in their home, where the project's files are copied on
    first start (their edits are kept), with resource requests and limits, the GPUs the
    project's notebooks declare (``metadata.orbit.hardware``), a ``profileList`` entry per
    environment when there are several (each with its own resources, opening its first
    notebook), and idle servers culled.
``namespace.yaml``
    the namespace to install into, with Kubernetes' Pod Security admission enforcing the
    ``baseline`` profile (and warning at ``restricted``); the chart's iptables init container,
    which that forbids, is off: its network policy keeps the cloud metadata server out instead.

Both are checked offline before they are written: the values, merged over the chart's own
defaults, against the chart's values schema (vendored in ``z2jh_chart/`` with its licence);
the namespace and the pods users' servers become against Kubernetes' schemas
(kubernetes-validate, the ``publish`` extra). No cluster is needed.
"""

from __future__ import annotations

import copy
import io
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import atomic
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.publish import dockerfile as pdf

if TYPE_CHECKING:
    from jupyter_orbit.progress import Progress
    from jupyter_orbit.publish.project import Environment, Project

CHART_VERSION = "4.4.0"  # the chart whose values schema is vendored (z2jh_chart/)
CHART_REPO = "https://hub.jupyter.org/helm-chart/"
KUBERNETES = "1.32.0"  # the Kubernetes version objects are checked against (chart: >=1.28)
CPU = {"guarantee": 0.5, "limit": 2.0}
MEMORY = {"guarantee": "1G", "limit": "2G"}
CULL = {"enabled": True, "timeout": 3600, "every": 300}
FILES = ("config.yaml", "namespace.yaml")


@dataclass
class Written:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"written": self.written, "unchanged": self.unchanged, "notes": self.notes}


def split_image(reference: str) -> tuple[str, str]:
    """(name, tag) of an image reference (``host:port/name:tag``)."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def namespace_name(project: Project) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", project.name.lower()).strip("-")[:40].strip("-")
    return f"jupyterhub-{slug or 'project'}"


# -- hardware ----------------------------------------------------------------------------------
# Seam for issue 19: hardware.needs.kubernetes_limits(resolution.hardware) will replace this
# reading of metadata.orbit.hardware.gpu once the hardware package is on this branch.

_GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "intel": "gpu.intel.com/i915"}


def gpu_limits(notebook: Path | None) -> dict[str, str]:
    """Kubernetes resource limits for the GPUs a notebook declares (none: ``{}``)."""
    from jupyter_orbit.manifests.notebook import load_notebook

    if notebook is None or notebook.suffix != ".ipynb":
        return {}
    meta = load_notebook(notebook).get("metadata") or {}
    orbit = meta.get("orbit") if isinstance(meta, dict) else None
    hardware = orbit.get("hardware") if isinstance(orbit, dict) else None
    gpu = hardware.get("gpu") if isinstance(hardware, dict) else None
    if gpu is None or gpu is False:
        return {}
    vendor, count = None, 1
    if isinstance(gpu, dict):
        vendor, count = gpu.get("vendor"), gpu.get("count", 1)
    elif isinstance(gpu, str):
        vendor = gpu
    elif isinstance(gpu, int) and not isinstance(gpu, bool):
        count = gpu
    elif gpu is not True:
        raise InputError(
            f"metadata.orbit.hardware.gpu: {gpu!r} is not a GPU request",
            'write true, a make ("nvidia", "amd", "intel"), a count, or {"vendor", "count"}',
            path=notebook,
        )
    vendor = (vendor or "nvidia").lower()
    if vendor not in _GPU_RESOURCE:
        raise InputError(
            f"metadata.orbit.hardware.gpu: unknown make of GPU {vendor!r}",
            f"use one of {', '.join(_GPU_RESOURCE)}",
            path=notebook,
        )
    if count == "all" or isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(
            f"metadata.orbit.hardware.gpu: {count!r} GPUs cannot be a Kubernetes limit",
            "give the number of GPUs a user's server should get",
            path=notebook,
        )
    return {_GPU_RESOURCE[vendor]: str(count)}


def env_gpus(project: Project, env: Environment) -> dict[str, str]:
    """The most GPUs any notebook of the environment asks for."""
    out: dict[str, str] = {}
    for nb in env.notebooks:
        for resource, count in gpu_limits(project.root / nb).items():
            out[resource] = str(max(int(count), int(out.get(resource, "0"))))
    return out


# -- the values ----------------------------------------------------------------------------


def values(project: Project, image: str) -> dict[str, Any]:
    """The chart's values for ``project`` served from ``image`` (pure but for reading the
    notebooks' hardware declarations)."""
    name, tag = split_image(image)
    envs = list(project.environments.values())
    singleuser: dict[str, Any] = {
        "image": {"name": name, "tag": tag, "pullPolicy": "IfNotPresent"},
        "defaultUrl": "/lab",
        "uid": pdf.USER_UID,
        "fsGid": pdf.USER_GID,
        "cpu": dict(CPU),
        "memory": dict(MEMORY),
        # The project's files, copied into each user's home on start; their edits are kept.
        "lifecycleHooks": {
            "postStart": {
                "exec": {
                    "command": [
                        "sh",
                        "-c",
                        f"cp -Rn {pdf.PROJECT}/. {pdf.HOME}/ 2>/dev/null || true",
                    ]
                }
            }
        },
        # Pod Security admission (baseline) forbids the privileged iptables init container;
        # the chart's network policy keeps the cloud metadata server out instead.
        "cloudMetadata": {"blockWithIptables": False},
        "networkPolicy": {"egressAllowRules": {"cloudMetadataServer": False}},
    }
    if len(envs) == 1:
        if gpus := env_gpus(project, envs[0]):
            singleuser["extraResource"] = {"limits": gpus, "guarantees": dict(gpus)}
    else:
        singleuser["profileList"] = [profile(project, e, n == 0) for n, e in enumerate(envs)]
    return {
        "hub": {"config": {"KubeSpawner": {"working_dir": str(pdf.HOME)}}},
        "singleuser": singleuser,
        "cull": dict(CULL),
    }


def profile(project: Project, env: Environment, default: bool) -> dict[str, Any]:
    p = env.prepared
    declared = ", ".join(r.text for r in p.spec.declared()) or "no packages of its own"
    as_of = f" as of {p.spec.as_of[:10]}" if p.spec.as_of else ""
    override: dict[str, Any] = {}
    if env.notebooks:
        override["default_url"] = f"/lab/tree/{env.notebooks[0]}"
    if gpus := env_gpus(project, env):
        override["extra_resource_limits"] = gpus
        override["extra_resource_guarantees"] = dict(gpus)
    out: dict[str, Any] = {
        "display_name": f"{p.recipe.display_name} · {env.label}",
        "description": f"{declared}{as_of} (environment {env.env_id[:12]})",
        "slug": env.env_id[:12],
        "kubespawner_override": override,
    }
    if default:
        out["default"] = True
    return out


def namespace(name: str) -> dict[str, Any]:
    levels = {"enforce": "baseline", "warn": "restricted", "audit": "restricted"}
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode, level in levels.items()}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyterhub", **labels}},
    }


# -- checks ------------------------------------------------------------------------------------


def chart_file(name: str) -> str:
    return resources.files("jupyter_orbit.publish").joinpath("z2jh_chart", name).read_text()


def merged(defaults: Any, override: Any) -> Any:
    """Values as Helm merges them: maps key by key, anything else replaced, null removes."""
    if not isinstance(defaults, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(defaults)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(out.get(key), value)
    return out


def check_values(config: dict[str, Any]) -> None:
    """``config`` merged over the chart's defaults must satisfy the chart's values schema."""
    import jsonschema
    from ruamel.yaml import YAML

    defaults = YAML(typ="safe").load(chart_file("values.yaml"))
    schema = json.loads(chart_file("values.schema.json"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(merged(defaults, config)), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "(top)"
        raise BuildError(
            f"the Zero to JupyterHub values do not fit chart {CHART_VERSION}'s schema at "
            f"{where}: {first.message}",
            "this is Orbit's mistake unless the image name is unusual: please report it",
        )


def pods(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources part of the pod each profile's server becomes (what KubeSpawner makes
    of these values), to check against Kubernetes' own schema."""
    s = config["singleuser"]
    base_limits = {"cpu": str(s["cpu"]["limit"]), "memory": s["memory"]["limit"]}
    base_requests = {"cpu": str(s["cpu"]["guarantee"]), "memory": s["memory"]["guarantee"]}
    extra = s.get("extraResource", {})
    variants = [("user", extra.get("limits", {}), extra.get("guarantees", {}))]
    for p in s.get("profileList", []):
        o = p["kubespawner_override"]
        variants.append(
            (p["slug"], o.get("extra_resource_limits", {}), o.get("extra_resource_guarantees", {}))
        )
    out = []
    for slug, limits, requests in variants:
        container = {
            "name": "notebook",
            "image": f"{s['image']['name']}:{s['image']['tag']}",
            "command": ["jupyterhub-singleuser"],
            "workingDir": config["hub"]["config"]["KubeSpawner"]["working_dir"],
            "ports": [{"name": "notebook-port", "containerPort": pdf.PORT}],
            "resources": {
                "limits": {**base_limits, **limits},
                "requests": {**base_requests, **requests},
            },
            "securityContext": {"runAsUser": s["uid"], "allowPrivilegeEscalation": False},
            "lifecycle": s["lifecycleHooks"],
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"jupyter-preview-{slug}"},
                "spec": {"securityContext": {"fsGroup": s["fsGid"]}, "containers": [container]},
            }
        )
    return out


def check_objects(objects: list[dict[str, Any]]) -> bool:
    """Each object against Kubernetes' schema (strict: no unknown fields); False when
    kubernetes-validate is not installed."""
    try:
        import kubernetes_validate
    except ImportError:
        return False
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(top)"
            raise BuildError(
                f"{obj['kind']} {obj['metadata']['name']} does not fit Kubernetes {KUBERNETES}'s "
                f"schema at {where}: {e.message}",
                "this is Orbit's mistake: please report it",
            ) from None
    return True


# -- writing -------------------------------------------------------------------------------------


def dump(data: dict[str, Any], header: str) -> str:
    from ruamel.yaml import YAML

    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.dump(data, out)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + out.getvalue()


def render(project: Project, image: str) -> dict[str, str]:
    """The files, checked: name → text."""
    config = values(project, image)
    check_values(config)
    ns = namespace_name(project)
    release = "jupyterhub"
    header = (
        f"Zero to JupyterHub values for {project.name}, written by `orbit publish --z2jh`.\n"
        f"Every user's server runs {image};\n"
        "the project's files are copied into their home when it starts.\n"
        f"Checked against the values schema of chart {CHART_VERSION}. Install or upgrade:\n"
        f"  kubectl apply -f namespace.yaml\n"
        f"  helm upgrade --install {release} jupyterhub --repo {CHART_REPO} \\\n"
        f"    --version {CHART_VERSION} --namespace {ns} --values config.yaml\n"
        "See docs/publish.md for a walk-through and a check on a real cluster."
    )
    return {
        "config.yaml": dump(config, header),
        "namespace.yaml": dump(
            namespace(ns),
            f"The namespace for {project.name}'s JupyterHub: Pod Security admission enforces\n"
            "the baseline profile (and warns at restricted).",
        ),
    }


def write_z2jh(
    project: Project, dest: Path, image: str, *, force: bool = False, progress: Progress
) -> Written:
    dest = dest.expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} is a file", "give a folder for config.yaml and namespace.yaml")
    files = render(project, image)
    config = values(project, image)
    out = Written()
    if not check_objects([namespace(namespace_name(project)), *pods(config)]):
        out.notes.append(
            "the Kubernetes objects were not checked against Kubernetes' schemas: "
            "pip install 'jupyter-orbit[publish]' adds kubernetes-validate"
        )
    clashing = []
    for name, text in files.items():
        path = dest / name
        if path.exists() and path.read_text() == text:
            out.unchanged.append(str(path))
        elif path.exists() and not force:
            clashing.append(path)
    if clashing:
        raise InputError(
            f"will not overwrite {', '.join(str(p) for p in clashing)}",
            "pass --force to overwrite, or write into another folder",
            path=clashing[0],
        )
    for name, text in files.items():
        if str(dest / name) not in out.unchanged:
            atomic.write_text(dest / name, text)
            out.written.append(str(dest / name))
    progress.step("z2jh", f"{len(out.written)} file(s) written into {dest}")
    host = split_image(image)[0].split("/")[0]
    if "/" not in split_image(image)[0] or host.startswith(("127.", "localhost")):
        out.notes.append(
            f"a cluster pulls {image} from a registry: push it to one the cluster can reach "
            "(--push REGISTRY) and publish again"
        )
    return out
