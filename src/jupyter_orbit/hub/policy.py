"""Check a compose file before it runs: nothing in it may reach into the host unasked.

Every service is held to ``container_options.findings`` (privileged, the engine's socket in short
or long volume syntax, ``/``, host namespaces, ports on every interface, root-equivalent
capabilities). One exception is the point of a hub: the service labelled as Orbit's hub
(``org.jupyter.orbit.role: hub``) may mount the engine's socket, and nothing else of that list,
because DockerSpawner starts the users' servers through it. ``--allow-host-access`` lifts the
check. Refusals name the file, the key and its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_orbit.ecosystems.compose_yaml import line_of as _line
from jupyter_orbit.engines.container_options import Finding, findings, reaches_engine, refuse
from jupyter_orbit.errors import InputError
from jupyter_orbit.hub.confection import ROLE_HUB


def load(path: Path) -> Any:
    """The compose file as a round-trip document (it keeps line numbers)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML().load(path.read_text())
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            f"{path.name} is not valid YAML: {getattr(e, 'problem', None) or e}",
            "fix the YAML syntax (or delete the file and run `orbit hub up` to write it again)",
            path=path,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}", "check the path", path=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise InputError(
            f"{path.name} has no services", "a compose file lists its services under 'services:'"
        )
    return doc


def check(path: Path, *, allow_host_access: bool = False) -> Any:
    """Load ``path`` and refuse what reaches into the host; return the document."""
    doc = load(path)
    if allow_host_access:
        return doc
    found: list[Finding] = []
    for name, service in doc["services"].items():
        if not isinstance(service, dict):
            raise InputError(
                f"services.{name} is not a mapping",
                "fix the service",
                path=path,
                line=_line(doc, f"services.{name}"),
            )
        key = f"services.{name}"
        for f in findings(service, key=key):
            if _is_hub_socket(service, f, key):
                continue
            found.append(f)
    refuse(found, path=path, line_of=lambda key: _line(doc, key))
    return doc


def _is_hub_socket(service: dict, finding: Finding, key: str) -> bool:
    """The hub's own mount of the engine's socket (and nothing broader, such as /run)."""
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels if "=" in item)
    if labels.get("org.jupyter.orbit.role") != ROLE_HUB:
        return False
    if not finding.key.startswith(f"{key}.volumes["):
        return False
    item = service["volumes"][int(finding.key.rsplit("[", 1)[1].rstrip("]"))]
    source = item.split(":")[0] if isinstance(item, str) else str(item.get("source", ""))
    return source.endswith(".sock") and reaches_engine(source)
