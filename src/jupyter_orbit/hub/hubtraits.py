"""Checking ``Class.setting`` values against a hub's own classes, inside the hub's image.

This file runs on its own in the hub's image (``python -I hubtraits.py REQUEST.json``, see
``hubconfig``), where JupyterHub, its spawners (DockerSpawner, SwarmSpawner), authenticators and
proxies can be imported: it imports nothing of Orbit, only the standard library and what the
image has. It answers, in JSON on stdout:

- for each setting to check: whether the class has it, the value as the trait takes it (from
  command-line text or JSON), and the setting it really is (``canonical``: the class that first
  defines the trait, so ``SwarmSpawner.host_ip`` and ``DockerSpawner.host_ip`` are one setting);
- the settings of one class (``describe``), with their defaults and the first line of help.

Besides JupyterHub's classes there is one of Orbit's own, ``IdleCuller``: the options of
jupyterhub-idle-culler, which Orbit runs as a hub service when ``IdleCuller.timeout`` is set.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import sys
from typing import Any

_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
GROUPS = ("jupyterhub.spawners", "jupyterhub.authenticators", "jupyterhub.proxies")


class Problem(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def split_key(key: str) -> tuple[str, str]:
    m = _KEY.match(key)
    if not m:
        raise Problem(
            f"{key!r} is not a setting name",
            "write Class.setting, e.g. Spawner.mem_limit or JupyterHub.allow_named_servers",
        )
    return m.group(1), m.group(2)


def idle_culler_class() -> type:
    from traitlets import Bool, Int
    from traitlets.config import Configurable

    class IdleCuller(Configurable):
        """jupyterhub-idle-culler, run by Orbit as a hub service while ``timeout`` is set."""

        timeout = Int(0, config=True, help="Stop servers idle this many seconds (0: never).")
        cull_every = Int(0, config=True, help="Seconds between checks (0: the culler's own).")
        max_age = Int(0, config=True, help="Stop servers this many seconds old, idle or not.")
        cull_users = Bool(False, config=True, help="Also delete users whose servers were culled.")
        remove_named_servers = Bool(
            False, config=True, help="Also delete named servers that were culled."
        )
        cull_admin_users = Bool(True, config=True, help="Cull admin users' servers too.")

    return IdleCuller


def hub_classes() -> dict[str, type]:
    """JupyterHub's configurable classes and every spawner, authenticator and proxy installed."""
    from importlib.metadata import entry_points

    from jupyterhub.app import JupyterHub
    from traitlets.config import Configurable

    found: dict[str, type] = {}

    def add(*classes: Any) -> None:
        for cls in classes:
            if not isinstance(cls, type):
                continue
            for parent in cls.mro():
                if isinstance(parent, type) and issubclass(parent, Configurable):
                    found.setdefault(parent.__name__, parent)

    add(JupyterHub, *JupyterHub.class_traits()["classes"].default())
    for group in GROUPS:
        for ep in entry_points(group=group):
            try:
                add(ep.load())
            except Exception:  # a broken plug-in has no settings to offer
                continue
    add(idle_culler_class())
    for generic in ("Configurable", "LoggingConfigurable", "SingletonConfigurable"):
        found.pop(generic, None)
    return dict(sorted(found.items()))


def trait_of(classes: dict[str, type], key: str) -> tuple[Any, str]:
    """The trait ``key`` sets, and its canonical key (the class that first defines it)."""
    cls_name, name = split_key(key)
    cls = classes.get(cls_name)
    if cls is None:
        close = difflib.get_close_matches(cls_name, list(classes), n=3)
        raise Problem(
            f"unknown class {cls_name!r} in {key}",
            (f"did you mean {', '.join(close)}? " if close else "")
            + "the hub's classes: "
            + _some(list(classes)),
        )
    traits = cls.class_traits(config=True)
    if name not in traits:
        close = difflib.get_close_matches(name, list(traits), n=3)
        raise Problem(
            f"{cls_name} has no setting {name!r}",
            (f"did you mean {', '.join(close)}? " if close else "")
            + f"{cls_name}'s settings: {_some(sorted(traits))} (`orbit hub config get {cls_name}`)",
        )
    owner = next(
        c for c in reversed(cls.mro()) if isinstance(c, type) and name in vars(c)
    )  # the most basic class that defines it
    return traits[name], f"{owner.__name__}.{name}"


def check(classes: dict[str, type], key: str, *, raw: str | None, value: Any) -> dict[str, Any]:
    from traitlets import Container, Dict, HasTraits, TraitError, Type

    trait, canonical = trait_of(classes, key)
    if raw is not None:
        try:
            value = _literal(raw) if isinstance(trait, Container | Dict) else trait.from_string(raw)
        except Exception:
            if isinstance(trait, Container | Dict):
                raise _wrong(key, trait, raw) from None
            value = raw  # traits that take text of their own ("1G" for a byte size)
    try:
        checked = trait.validate(HasTraits(), value)
    except (TraitError, ValueError, TypeError, ImportError) as e:
        raise _wrong(key, trait, raw if raw is not None else value, e) from None
    if isinstance(trait, Type):
        stored = value if isinstance(value, str) else f"{checked.__module__}.{checked.__qualname__}"
    else:
        stored = _jsonable(checked)
    return {"value": stored, "canonical": canonical, "kind": trait.info()}


def describe(classes: dict[str, type], cls_name: str) -> list[dict[str, Any]]:
    if cls_name not in classes:
        trait_of(classes, f"{cls_name}.x")  # raises with the names there are
    out = []
    for name, trait in sorted(classes[cls_name].class_traits(config=True).items()):
        _, canonical = trait_of(classes, f"{cls_name}.{name}")
        out.append(
            {
                "key": f"{cls_name}.{name}",
                "canonical": canonical,
                "kind": trait.info(),
                "default": default_of(trait),
                "help": _first_sentence(trait.help),
            }
        )
    return out


def default_of(trait: Any) -> Any:
    try:
        return _jsonable(trait.default())
    except Exception:
        return repr(trait.default_value)[:80]


def _literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return ast.literal_eval(raw)


def _jsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    json.dumps(value)  # raises for what a JSON file cannot hold
    return value


def _wrong(key: str, trait: Any, given: Any, err: Exception | None = None) -> Problem:
    from traitlets import Container, Dict

    info = trait.info() if hasattr(trait, "info") else type(trait).__name__
    detail = ""
    if err is not None and "expected" not in str(err):
        detail = " (" + re.sub(r"^The '\w+' trait of .*? instance ", "it ", str(err)) + ")"
    hint = _first_sentence(trait.help) if trait.help else f"give {info}"
    if isinstance(trait, Container | Dict):
        hint += ' (write lists and dicts as JSON, e.g. \'["a", "b"]\')'
    return Problem(f"{key} takes {info}, not {given!r}{detail}"[:400], hint)


def _first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0][:200]


def _some(names: list[str], n: int = 30) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def answer(request: dict[str, Any]) -> dict[str, Any]:
    classes = hub_classes()
    results = []
    for item in request.get("check", []):
        try:
            results.append(
                {"key": item["key"], "ok": True}
                | check(classes, item["key"], raw=item.get("raw"), value=item.get("value"))
            )
        except Problem as p:
            results.append({"key": item["key"], "ok": False, "error": p.message, "hint": p.hint})
    out: dict[str, Any] = {"results": results}
    if cls := request.get("describe"):
        try:
            out["describe"] = describe(classes, cls)
        except Problem as p:
            out["describe_error"] = {"error": p.message, "hint": p.hint}
    return out


if __name__ == "__main__":
    from pathlib import Path

    request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    json.dump(answer(request), sys.stdout)
