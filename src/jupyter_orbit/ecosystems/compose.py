"""Services beside the kernels (a database, a cache, a queue), declared as Docker Compose
declares them: the ``compose`` ecosystem.

Its "packages" are services. ``orbit search postgres --in compose`` looks in Orbit's catalog
(``compose_catalog``) and at the images the local engine holds; ``orbit add postgres --in
compose`` writes a service into the project's compose file (``manifests.compose``) or into a
notebook's ``metadata.orbit.services``. Nothing is installed into a kernel's environment:
when a kernel starts, the launch (``jupyter_orbit.beside``) asks ``services`` what to run,
the engines' service runner starts it, and ``kernel_variables`` says what the kernel gets to
reach each service (``POSTGRES_HOST``, ``DATABASE_URL`` …).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from jupyter_orbit.ecosystems import compose_catalog as catalog
from jupyter_orbit.ecosystems.base import (
    Ecosystem,
    Found,
    Hit,
    Service,
    ServiceImage,
    Services,
    tier,
)
from jupyter_orbit.ecosystems.compose_yaml import COMPOSE_FILES, check_name, find_file, read
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import EnvSpec, Level, Origin, Requirement

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(
    rf"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
NOTEBOOK_KEY = "metadata.orbit.services"
OWN_IMAGES = ("orbit-",)  # Orbit's own images are not services to add


def split_requirement(text: str) -> tuple[str, str]:
    """``NAME=IMAGE``, a catalog name or an image → (service name, image)."""
    raw = text.strip()
    name, eq, image = raw.partition("=")
    if not eq:
        name, image = "", raw
    entry = catalog.find(image) if ":" not in image and "/" not in image else None
    if entry is not None:
        image = entry.image
    if not name:
        found = entry or catalog.entry_for_image(image)
        repo = catalog.split_image(image)[0]
        name = found.name if found else re.sub(r"[^a-z0-9_.-]", "-", repo.rsplit("/", 1)[-1])
    return name, image


def environment_of(definition: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list) as a mapping."""
    env = definition.get("environment") or {}
    if isinstance(env, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    out = {}
    for item in env:
        key, eq, value = str(item).partition("=")
        out[key] = value if eq else os.environ.get(key, "")
    return out


def variable_prefix(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


class Compose(Ecosystem):
    name: ClassVar[str] = "compose"
    display_name: ClassVar[str] = "Compose services"
    files: ClassVar[tuple[str, ...]] = COMPOSE_FILES
    new_file: ClassVar[str | None] = "compose.yaml"
    order: ClassVar[int] = 90
    installed_locally: ClassVar[bool] = False
    runs_beside: ClassVar[bool] = True
    check_hint: ClassVar[str] = "check the services in the compose file"

    # -- requirements ------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        """A service as typed: a catalog name (``postgres``), an image (``postgres:16``,
        ``ghcr.io/org/app:1``), or ``NAME=IMAGE``."""
        where = {"path": origin.path if origin else None, "line": origin.line if origin else None}
        name, image = split_requirement(text)
        if not IMAGE.match(image):
            raise InputError(
                f"not a service or image name: {text.strip()!r}",
                "write a name from `orbit search --in compose`, an image such as postgres:16, "
                "or NAME=IMAGE",
                **where,
            )
        check_name(name, key="service", path=where["path"], line=where["line"])
        return Requirement(cls.name, name, text.strip(), origin)

    @classmethod
    def parse_declared(cls, text: str, origin: Origin) -> Requirement:
        raise InputError(
            "services are not packages: a notebook keeps them in metadata.orbit.services",
            "move them there, e.g. with "
            "`orbit add postgres --in compose --to NOTEBOOK --to-notebook`",
            path=origin.path,
        )

    def definition(self, requirement: Requirement) -> tuple[dict[str, Any], list[str]]:
        """The compose service ``orbit add`` writes for ``requirement``, and the named volumes
        it keeps its data in: a catalog entry as the catalog says (a new random password), an
        image of the local engine with its own ports and volumes."""
        name, image = split_requirement(requirement.text)
        entry = catalog.entry_for_image(image)
        if entry is not None:
            volume = f"{name}-data"
            password = secrets.token_urlsafe(18)
            return (
                entry.definition(image=image, volume=volume, password=password),
                [volume] if entry.data else [],
            )
        out: dict[str, Any] = {"image": image}
        attrs = self._inspect(image) or {}
        config = attrs.get("Config") or {}
        ports = sorted(config.get("ExposedPorts") or {}, key=lambda p: int(p.split("/")[0]))
        if ports:
            out["ports"] = [f"127.0.0.1::{p.removesuffix('/tcp')}" for p in ports]
        targets = sorted(config.get("Volumes") or {})
        volumes = [f"{name}-data" + (f"-{i + 1}" if i else "") for i in range(len(targets))]
        if volumes:
            out["volumes"] = [f"{v}:{t}" for v, t in zip(volumes, targets, strict=True)]
        return out, volumes

    # -- the registry (Orbit's catalog and the local engine) ---------------------------------

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        q = query.strip().lower()
        found = Found(self.name)
        local, note = self._local_images()
        if note:
            found.notes.append(note)
        for entry in catalog.catalog().values():
            best = min(tier(n, q, summary=entry.summary) for n in (entry.name, *entry.aliases))
            if best > 5:
                continue
            here = " (image here)" if entry.image in local else ""
            facts = [f"image {entry.image}{here}"]
            if entry.port:
                facts.append(f"port {entry.port}")
            if entry.data:
                facts.append("data in a named volume")
            if entry.healthcheck:
                facts.append("health check")
            summary = f"{entry.summary}; {', '.join(facts)}"
            tag = catalog.split_image(entry.image)[1]
            found.hits.append(Hit(self.name, entry.name, tag, summary, tier=best))
        listed = {e.image for e in catalog.catalog().values()}
        for ref, size in sorted(local.items()):
            repo, tag = catalog.split_image(ref)
            if ref in listed or repo.startswith(OWN_IMAGES):
                continue
            best = tier(repo.rsplit("/", 1)[-1], q)
            if best > 4:
                continue
            summary = f"an image in the local engine ({size / 1e6:.0f} MB)"
            found.hits.append(Hit(self.name, ref, tag, summary, tier=best))
        found.hits.sort(key=lambda h: (h.tier, h.name))
        del found.hits[limit:]
        return found

    def check_spec(
        self, spec: EnvSpec, added: Sequence[Requirement]
    ) -> tuple[list[str], list[str]]:
        notes = []
        local, _ = self._local_images()
        for req in added:
            _, image = split_requirement(req.text)
            entry = catalog.entry_for_image(image)
            if image in local:
                continue
            if entry is None:
                if self._engine_here():
                    names = ", ".join(catalog.catalog())
                    raise InputError(
                        f"{image} is neither a service Orbit knows nor an image in the local "
                        "engine",
                        f"pull it first (`docker pull {image}`), or add one of: {names}",
                    )
                notes.append(f"{image} could not be checked (no container engine answers)")
                continue
            stand_in = entry.stand_in(image)
            how = (
                f", or built from Debian packages ({', '.join(stand_in.packages)}) when no "
                "registry serves it"
                if stand_in
                else ""
            )
            notes.append(
                f"{image} is not in the local engine: it is pulled when it first starts{how}"
            )
        return [], notes

    # -- beside the kernel ---------------------------------------------------------------------

    def services(
        self, folder: Path, root: Path, notebook: Path | None, orbit: Mapping[str, Any] | None
    ) -> Services | None:
        """The notebook's own ``metadata.orbit.services`` when it has them (they win, as
        everything in its metadata does), else the nearest compose file's."""
        compose = find_file(folder, root)
        if notebook is not None and isinstance(orbit, Mapping) and "services" in orbit:
            return self._notebook_services(orbit["services"], notebook, compose, root)
        if compose is None:
            return None
        return read(compose, root=root, ecosystem=self.name)

    def _notebook_services(
        self, value: Any, notebook: Path, compose: Path | None, root: Path
    ) -> Services:
        if not isinstance(value, Mapping):
            raise InputError(
                f"{NOTEBOOK_KEY} must be an object of service name: options",
                'write e.g. {"db": {"image": "postgres:15"}}',
                path=notebook,
            )
        found = []
        origin = Origin(NOTEBOOK_KEY, notebook, None, Level.NOTEBOOK)
        for name, body in value.items():
            key = f"{NOTEBOOK_KEY}.{name}"
            check_name(str(name), key=key, path=notebook)
            if not isinstance(body, Mapping):
                raise InputError(
                    f"{key} must be an object of Compose service options",
                    'write e.g. {"image": "postgres:15"}',
                    path=notebook,
                )
            found.append(Service.of(self.name, str(name), body, origin))
        return Services(
            self.name,
            tuple(found),
            source=notebook,
            folder=compose.parent if compose else root,  # shared with the project's services
            root=root,
            base=notebook.parent,
            key=NOTEBOOK_KEY,
        )

    def kernel_variables(
        self, service: Service, host: str, ports: Mapping[int, int]
    ) -> dict[str, str]:
        """``NAME_HOST`` and ``NAME_PORT`` for any service; for one whose image is in the
        catalog, the variables its clients read (``PGHOST``, ``DATABASE_URL`` …) too."""
        if not ports:
            return {}
        definition = service.definition
        entry = catalog.entry_for_image(str(definition.get("image", "")))
        prefix = variable_prefix(service.name)
        first = entry.port if entry is not None and entry.port in ports else next(iter(ports))
        out = {f"{prefix}_HOST": host, f"{prefix}_PORT": str(ports[first])}
        if len(ports) > 1:
            out.update({f"{prefix}_PORT_{p}": str(reached) for p, reached in ports.items()})
        if entry is not None and entry.port in ports:
            env = environment_of(definition)
            out.update(entry.variables(env, host, ports[entry.port]))
        return out

    def service_image(self, service: Service) -> ServiceImage | None:
        image = str(service.definition.get("image", ""))
        entry = catalog.entry_for_image(image)
        return entry.stand_in(image) if entry is not None else None

    def edit_notebook(
        self,
        orbit: dict[str, Any],
        path: Path,
        *,
        add: Sequence[Requirement],
        remove: Sequence[str],
        root: Path,
    ) -> bool:
        """``metadata.orbit.services``: a notebook that has none yet starts from its project's
        compose file, so adding one service keeps the others."""
        services = orbit.get("services")
        if services is None:
            group = self.services(path.parent, root, None, None)
            services = {s.name: s.definition for s in group.services} if group else {}
        if not isinstance(services, dict):
            raise InputError(f"{NOTEBOOK_KEY} is not an object", "fix the notebook", path=path)
        missing = sorted(set(remove) - set(services))
        if missing:
            raise InputError(
                f"not among the services of {path.name}: {', '.join(missing)}",
                f"its services: {', '.join(services) or 'none'}",
                path=path,
            )
        for name in remove:
            del services[name]
        for req in add:
            services[req.name] = self.definition(req)[0]
        if services:
            orbit["services"] = services
        else:
            orbit.pop("services", None)
        return True

    # -- the local engine --------------------------------------------------------------------

    def _engine_here(self) -> bool:
        host = self.environ.get("DOCKER_HOST", "")
        if host and not host.startswith("unix://"):
            return True
        return Path(host.removeprefix("unix://") or "/var/run/docker.sock").exists()

    def _client(self) -> Any:
        import docker

        return docker.DockerClient(
            **docker.utils.kwargs_from_env(environment=self.environ), timeout=10
        )

    def _local_images(self) -> tuple[dict[str, int], str | None]:
        """Every tagged image of the local engine, with its size; a note when none answers."""
        if not self._engine_here():
            return {}, "no container engine here: only Orbit's catalog was searched"
        try:
            images = self._client().images.list()
        except Exception as e:
            return {}, f"the container engine did not answer ({type(e).__name__}): catalog only"
        out = {}
        for image in images:
            for ref in image.tags:
                out[ref] = int(image.attrs.get("Size", 0))
        return out, None

    def _inspect(self, image: str) -> dict[str, Any] | None:
        if not self._engine_here():
            return None
        try:
            return self._client().images.get(image).attrs
        except Exception:
            return None
