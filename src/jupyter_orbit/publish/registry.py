"""``--push REGISTRY``: a published image pushed to a registry through the Engine API.

The image is tagged ``REGISTRY/NAME:TAG`` and pushed with the engine's own credentials
(``docker login REGISTRY``, read by the engine's client from the user's Docker config). A
registry on 127.0.0.1 is spoken to over plain HTTP, as Docker allows for loopback; any other
must serve HTTPS or be listed in the engine's ``insecure-registries``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from jupyter_orbit.errors import BuildError, InputError

if TYPE_CHECKING:
    from jupyter_orbit.progress import Progress

_REGISTRY = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9._-]+)*$"
)


def target(image: str, registry: str) -> tuple[str, str]:
    """(repository, tag) of ``image`` (NAME:TAG) under ``registry`` (host[:port][/path])."""
    registry = registry.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _REGISTRY.match(registry):
        raise InputError(
            f"{registry!r} is not a registry address",
            "give host[:port], e.g. registry.example.org or 127.0.0.1:5000",
        )
    name, _, tag = image.rpartition(":")
    if "/" in tag or not name:
        name, tag = image, "latest"
    return f"{registry}/{name}", tag


def push(image: str, registry: str, *, progress: Progress) -> dict[str, Any]:
    """Tag ``image`` for ``registry`` and push it; return its reference and digest."""
    import docker.errors

    from jupyter_orbit.engines import dockerapi

    repository, tag = target(image, registry)
    reference = f"{repository}:{tag}"
    client = dockerapi.connect()
    found = dockerapi.image(client, image)
    if found is None:
        raise InputError(f"no image {image} to push", f"build it: orbit publish --image {image}")
    found.tag(repository, tag)
    progress.step("push", f"{reference}")
    digest = ""
    try:
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                raise BuildError(
                    f"pushing {reference} failed: {detail.strip()}",
                    _hint(registry, detail),
                )
            if aux := chunk.get("aux"):
                digest = aux.get("Digest", digest)
            elif chunk.get("id") and chunk.get("status") in ("Pushed", "Layer already exists"):
                progress.log(f"{chunk['id']}: {chunk['status']}")
    except docker.errors.APIError as e:
        raise BuildError(f"pushing {reference} failed: {e}", _hint(registry, str(e))) from None
    if not digest:
        raise BuildError(
            f"pushing {reference} ended without a digest",
            "see the engine's log (journalctl -u docker)",
        )
    return {"reference": reference, "digest": digest, "registry": registry}


def _hint(registry: str, detail: str) -> str:
    text = detail.lower()
    if "unauthorized" in text or "denied" in text or "authentication" in text:
        return f"log in first: docker login {registry}"
    if "http response to https client" in text or "x509" in text or "certificate" in text:
        return (
            f"{registry} does not speak HTTPS Docker trusts: serve it with a trusted certificate, "
            'or add it to "insecure-registries" in /etc/docker/daemon.json'
        )
    return f"check that {registry} is a registry that answers (curl http(s)://{registry}/v2/)"
