"""Reading a compose file into the services it declares, as Docker Compose reads it.

Which file: ``compose.yaml``, ``compose.yml``, ``docker-compose.yaml``, ``docker-compose.yml``
(Compose's own order), the nearest one from the notebook's folder up to the project root.
Values may use ``${VARIABLE}`` (``:-``/``-`` defaults, ``:?``/``?`` required, ``:+``/``+``
alternatives, ``$$`` for a dollar), filled from the environment and then the ``.env`` file
beside the compose file, as Compose fills them. Services with ``profiles`` are not started,
as Compose does not start them without ``--profile``. Line numbers are kept for messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_orbit.ecosystems.base import Service, Services
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Level, Origin

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>\{[^}]*\}?))"
)


def find_file(folder: Path, root: Path) -> Path | None:
    """The compose file nearest to ``folder``, looking no higher than ``root`` (in a folder,
    or in its ``binder/`` folder, where ``orbit add`` writes in a Binder project)."""
    here = folder
    while True:
        for sub in (here, here / "binder", here / ".binder"):
            for name in COMPOSE_FILES:
                if (sub / name).is_file():
                    return sub / name
        if here == root or here == here.parent or not here.is_relative_to(root):
            return None
        here = here.parent


def load(path: Path, text: str | None = None) -> Any:
    """The compose file as a round-trip document (it keeps line numbers)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8") if text is None else text
        doc = YAML().load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            f"{path.name} is not valid YAML: {getattr(e, 'problem', None) or e}",
            "fix the YAML syntax",
            path=path,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path.name}: {e}", "check the file", path=path) from None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise InputError(
            f"{path.name} is not a compose file (not a mapping)",
            "a compose file lists its services under 'services:'",
            path=path,
        )
    return doc


def line_of(doc: Any, key: str) -> int | None:
    """The 1-based line of a key path like ``services.db.volumes[0]`` in a ruamel document."""
    node, line = doc, None
    for part in key.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            if part.startswith("["):
                index = int(part[1:-1])
                line = node.lc.item(index)[0] + 1
                node = node[index]
            else:
                line = node.lc.key(part)[0] + 1
                node = node[part]
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            break
    return line


def plain(value: Any) -> Any:
    """A ruamel value as plain JSON-able Python (its booleans, numbers and strings)."""
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, ScalarBoolean | bool):
        return bool(value)
    if value is None or isinstance(value, int | float):
        return int(value) if isinstance(value, int) else value
    return str(value)


def dotenv(folder: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of the ``.env`` file in ``folder`` (Compose's), if there is one."""
    try:
        return env_file((folder / ".env").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes, ``export``), as Compose reads them."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        out[key.strip()] = value
    return out


def interpolate(value: Any, variables: Mapping[str, str], *, where: str, path: Path) -> Any:
    """``value`` with ``${VARIABLE}`` filled in every string, as Compose fills them."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, variables, where=f"{where}.{k}", path=path) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate(v, variables, where=f"{where}[{i}]", path=path) for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m["dollar"]:
            return "$"
        if m["bad"] is not None:
            raise InputError(
                f"{where}: {m.group(0)!r} is not a variable Compose can fill",
                "write ${NAME}, ${NAME:-default}, or $$ for a dollar sign",
                path=path,
            )
        name = m["braced"] or m["named"]
        op, arg = m["op"] or "", m["arg"] or ""
        have = variables.get(name)
        is_set, non_empty = have is not None, bool(have)
        if op in (":-", "-"):
            return have if (non_empty if op == ":-" else is_set) else arg  # type: ignore[return-value]
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else is_set):
                raise InputError(
                    f"{where}: {name} is required ({arg or 'not set'})",
                    f"set {name} in the environment or in the .env file beside {path.name}",
                    path=path,
                )
            return have or ""
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else is_set) else ""
        return have or ""

    return _VARIABLE.sub(one, value)


def read(path: Path, *, root: Path, ecosystem: str) -> Services:
    """The services ``path`` declares (each checked to be a mapping under a valid name)."""
    doc = load(path)
    variables = {**dotenv(path.parent), **os.environ}
    services = doc.get("services") or {}
    if not isinstance(services, Mapping):
        raise InputError(
            f"services in {path.name} is not a mapping of service names",
            "write each service as NAME: {image: …}",
            path=path,
            line=line_of(doc, "services"),
        )
    found, notes = [], []
    for name, body in services.items():
        key = f"services.{name}"
        check_name(str(name), key=key, path=path, line=line_of(doc, key))
        if not isinstance(body, Mapping):
            raise InputError(
                f"{key} is not a mapping of options",
                "write the service as its options (image:, ports:, …)",
                path=path,
                line=line_of(doc, key),
            )
        definition = interpolate(plain(body), variables, where=key, path=path)
        if definition.get("profiles"):
            notes.append(f"{key} has profiles: not started (as Compose leaves it out by default)")
            continue
        origin = Origin("compose", path, line_of(doc, key), Level.PROJECT)
        found.append(Service.of(ecosystem, str(name), definition, origin))
    volumes = doc.get("volumes") or {}
    if not isinstance(volumes, Mapping):
        raise InputError(
            f"volumes in {path.name} is not a mapping of volume names",
            "write each named volume as NAME: or NAME: {…}",
            path=path,
            line=line_of(doc, "volumes"),
        )
    return Services(
        ecosystem,
        tuple(found),
        source=path,
        folder=path.parent,
        root=root,
        base=path.parent,
        volumes=interpolate(plain(volumes), variables, where="volumes", path=path),
        key="services",
        line_of=lambda key: line_of(doc, key),
        notes=notes,
    )


def check_name(name: str, *, key: str, path: Path, line: int | None = None) -> None:
    if not SERVICE_NAME.match(name):
        raise InputError(
            f"{key}: {name!r} is not a service name",
            "use letters, digits and . _ - (starting with a letter or digit), at most 63",
            path=path,
            line=line,
        )
