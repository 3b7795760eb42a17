"""The services Orbit knows by name (``compose_catalog.toml``, a data file of this package).

For each: what ``orbit add NAME --in compose`` writes into a compose file, the variables a
kernel gets to reach the service (whoever wrote the service: a service whose image is the
catalog's gets them too), and how to build a stand-in image from Debian packages when no
registry serves the image.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from jupyter_orbit.ecosystems.base import ServiceImage
from jupyter_orbit.imagelayout import SYSTEM_PATH

CATALOG_FILE = "compose_catalog.toml"
STAND_IN_PREFIX = "orbit-service-"
ENTRYPOINT = "/usr/local/bin/orbit-service-entrypoint"
# How often the engine asks a catalog service whether it is ready (Docker's own default, 30
# seconds, would keep a kernel waiting that long for the first answer).
HEALTH_TIMING = {"interval": "2s", "timeout": "5s", "retries": 60}


def split_image(ref: str) -> tuple[str, str | None]:
    """``registry:5000/org/name:tag`` → (``registry:5000/org/name``, ``tag``); no tag: None.
    Docker Hub's official images are named without ``docker.io/library/``."""
    base = ref.split("@", 1)[0]
    slash = base.rfind("/")
    colon = base.rfind(":")
    repo, tag = (base[:colon], base[colon + 1 :]) if colon > slash else (base, None)
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if repo.startswith(prefix):
            repo = repo.removeprefix(prefix)
            break
    return repo, tag


class _Fields(string.Formatter):
    """``{NAME}`` and ``{NAME:url}`` (escaped for a URL)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "url":
            return urllib.parse.quote(str(value), safe="")
        return super().format_field(value, format_spec)


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with ``values``; KeyError when one is missing."""
    return _Fields().vformat(template, (), values)


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str
    image: str
    aliases: tuple[str, ...] = ()
    port: int | None = None
    data: str | None = None
    command: tuple[str, ...] = ()
    healthcheck: str | tuple[str, ...] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    client: dict[str, str] = field(default_factory=dict)
    debian: dict[str, Any] | None = None

    @property
    def repository(self) -> str:
        return split_image(self.image)[0]

    def definition(self, *, image: str, volume: str, password: str) -> dict[str, Any]:
        """The compose service ``orbit add`` writes: ``image``, the data in the named volume
        ``volume``, ``password`` wherever the entry asks for one."""
        env = {k: v.replace("{password}", password) for k, v in self.environment.items()}
        out: dict[str, Any] = {"image": image}
        if self.command:
            out["command"] = list(self.command)
        if env:
            out["environment"] = env
        if self.port:
            out["ports"] = [f"127.0.0.1::{self.port}"]  # loopback only, a port the engine picks
        if self.data:
            out["volumes"] = [f"{volume}:{self.data}"]
        if self.healthcheck:
            values = self.values(env)
            if isinstance(self.healthcheck, str):
                test: list[str] = ["CMD-SHELL", fill(self.healthcheck, values)]
            else:
                test = list(self.healthcheck)
            out["healthcheck"] = {"test": test, **HEALTH_TIMING}
        return out

    def values(self, environment: Mapping[str, Any]) -> dict[str, str]:
        """The service's environment with what the image assumes for what it leaves out."""
        out = {str(k): "" if v is None else str(v) for k, v in environment.items()}
        for key, default in self.defaults.items():
            if key not in out:
                try:
                    out[key] = fill(default, out)
                except (KeyError, ValueError, IndexError):
                    out[key] = default
        return out

    def variables(self, environment: Mapping[str, Any], host: str, port: int) -> dict[str, str]:
        """``[client]``: what a kernel gets to reach this service at ``host``:``port``."""
        values = {**self.values(environment), "host": host, "port": str(port)}
        out = {}
        for key, template in self.client.items():
            try:
                out[key] = fill(template, values)
            except (KeyError, ValueError, IndexError):
                continue  # the service does not say; the kernel does without this one
        return out

    def stand_in(self, image: str) -> ServiceImage | None:
        """The Debian-built image standing in for ``image``, when this entry has one for that
        tag (an image of another major version would not read the same data)."""
        deb = self.debian
        repo, tag = split_image(image)
        if deb is None or repo not in (self.repository, f"{STAND_IN_PREFIX}{self.name}"):
            return None
        if tag is None or not re.fullmatch(deb["tags"], tag):
            return None
        script = deb.get("entrypoint", "").lstrip()
        env = [("LANG", "C.UTF-8")]
        if path := deb.get("path"):
            env.append(("PATH", f"{path}:{SYSTEM_PATH}"))
        return ServiceImage(
            name=self.name,
            version=str(deb["version"]),
            replaces=image,
            packages=tuple(deb["packages"]),
            before=tuple(deb.get("before", ())),
            after=tuple(deb.get("after", ())),
            files=((ENTRYPOINT.rsplit("/", 1)[1], script.encode()),) if script else (),
            env=tuple(env),
            user=deb.get("user", ""),
            workdir=deb.get("workdir", ""),
            volume=self.data,
            entrypoint=(ENTRYPOINT,) if script else (),
            cmd=tuple(deb.get("cmd", ())),
            ports=(self.port,) if self.port else (),
        )


@functools.cache
def catalog() -> dict[str, Entry]:
    data = tomllib.loads((files("jupyter_orbit.ecosystems") / CATALOG_FILE).read_text())
    out = {}
    for name, item in data.items():
        check = item.get("healthcheck")
        out[name] = Entry(
            name=name,
            summary=item["summary"],
            image=item["image"],
            aliases=tuple(item.get("aliases", ())),
            port=item.get("port"),
            data=item.get("data"),
            command=tuple(item.get("command", ())),
            healthcheck=tuple(check) if isinstance(check, list) else check,
            environment=dict(item.get("environment", {})),
            defaults=dict(item.get("defaults", {})),
            client=dict(item.get("client", {})),
            debian=item.get("debian"),
        )
    return out


def find(name: str) -> Entry | None:
    """The entry called ``name`` (or one of its aliases)."""
    name = name.lower()
    for entry in catalog().values():
        if name == entry.name or name in entry.aliases:
            return entry
    return None


def entry_for_image(image: str) -> Entry | None:
    """The entry whose image (or stand-in) ``image`` is, whatever its tag."""
    repo, _ = split_image(str(image))
    for entry in catalog().values():
        if repo in (entry.repository, f"{STAND_IN_PREFIX}{entry.name}"):
            return entry
    return None


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
