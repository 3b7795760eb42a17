"""Checking ``Class.trait`` settings against the traitlets classes they configure.

The classes are the profile server's own: jupyter_server's ``ServerApp`` and what it configures,
then every server extension enabled in that server (JupyterLab, Orbit, and the extensions the
profile chose) with the classes each one configures. The check therefore runs inside the
profile's server environment (``python -c 'from jupyter_orbit.profiles.traits import main;
main()'``, a JSON request on stdin), where those classes can be imported; ``check`` also works
in-process against whatever is importable there.

Some settings are refused outright because Orbit's safety depends on them, decided by the trait
a key sets whatever class section names it (``allow``). An imported profile is held to more:
only the settings on ``allow.IMPORTABLE`` (limits, timeouts, logging), and no secret is ever
exported.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

from jupyter_orbit.profiles import allow

# Names that load code or point at folders: never taken from an imported profile (the allow-list
# in ``allow`` already leaves them out; this says why).
_LOADS = re.compile(
    r"(_class|_classes|_cmd|_command|_path|_paths|_dir|_dirs|_settings|_services|_options|"
    r"_hook|_module|_modules|_url|_servers|^settings|^handlers)$"
)
_SECRET = re.compile(r"(token|password|secret|credential|(^|_)key(file)?$)", re.IGNORECASE)
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


class TraitProblem(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def split_key(key: str) -> tuple[str, str]:
    m = _KEY.match(key)
    if not m:
        raise TraitProblem(
            f"{key!r} is not a setting name",
            "write Class.setting, e.g. ServerApp.shutdown_no_activity_timeout",
        )
    return m.group(1), m.group(2)


def refusal(key: str) -> str | None:
    """Why ``key`` may not be set in a profile, from its spelling alone (no classes needed):
    refused trait names on any class, refused classes, and the refused keys as written.
    ``check`` then decides by the trait the key really sets (``allow.refusal``)."""
    split_key(key)
    return allow.name_refusal(key) or allow.REFUSED.get(key)


def is_secret(key: str) -> bool:
    return bool(_SECRET.search(split_key(key)[1]))


def loads_code_or_files(key: str, trait: Any = None) -> bool:
    from traitlets import Type

    return bool(_LOADS.search(split_key(key)[1])) or isinstance(trait, Type)


# -- the classes ------------------------------------------------------------------------------


def configurable_classes(config_dir: str | None = None) -> dict[str, type]:
    """Every configurable class of a profile's server, by name (run in its environment)."""
    from traitlets.config import Application, Configurable

    from jupyter_orbit._imports import skip_unused

    skip_unused()
    from jupyter_server.extension.config import ExtensionConfigManager
    from jupyter_server.extension.utils import get_metadata

    from jupyter_orbit.server.app import OrbitServerApp, enforced_config

    found: dict[str, type] = {}

    def add(*classes: type) -> None:
        for cls in classes:
            for parent in cls.mro():
                if isinstance(parent, type) and issubclass(parent, Configurable):
                    found.setdefault(parent.__name__, parent)

    add(OrbitServerApp, *OrbitServerApp.classes)
    paths = [p for p in (config_dir, str(Path(sys.prefix) / "etc" / "jupyter")) if p]
    enabled = ExtensionConfigManager(read_config_path=paths).get_jpserver_extensions()
    enabled |= dict(enforced_config("").ServerApp.jpserver_extensions)
    for module, on in sorted(enabled.items()):
        if not on:
            continue
        try:
            _, points = get_metadata(module)
        except Exception:  # a broken extension has no settings to offer
            continue
        for point in points:
            app = point.get("app")
            if isinstance(app, type):
                add(app, *getattr(app, "classes", []))
    # Extensions that are plain modules (no ExtensionApp) configure classes of their own.
    roots = {m.split(".")[0] for m, on in enabled.items() if on} | {"jupyter_server"}
    todo = list(Configurable.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if (
            cls.__module__.split(".")[0] in roots
            and not issubclass(cls, Application)  # command-line apps, not parts of the server
            and not cls.__name__.startswith("_")
            and cls.class_traits(config=True)
        ):
            add(cls)
    found.pop("Configurable", None)
    found.pop("LoggingConfigurable", None)
    found.pop("SingletonConfigurable", None)
    return dict(sorted(found.items()))


def _trait(classes: dict[str, type], key: str) -> Any:
    cls_name, name = split_key(key)
    cls = classes.get(cls_name)
    if cls is None:
        close = difflib.get_close_matches(cls_name, list(classes), n=3)
        raise TraitProblem(
            f"unknown class {cls_name!r} in {key}",
            (f"did you mean {', '.join(close)}? " if close else "")
            + "classes this profile's server configures: "
            + _some(list(classes)),
        )
    traits = cls.class_traits(config=True)
    if name not in traits:
        close = difflib.get_close_matches(name, list(traits), n=3)
        raise TraitProblem(
            f"{cls_name} has no setting {name!r}",
            (f"did you mean {', '.join(close)}? " if close else "")
            + f"{cls_name}'s settings: {_some(sorted(traits))} (`orbit config get {cls_name}`)",
        )
    return traits[name]


def _some(names: list[str], n: int = 30) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def check(
    classes: dict[str, type],
    key: str,
    *,
    raw: str | None = None,
    value: Any = None,
    strict: bool = False,
) -> Any:
    """The JSON value to store for ``key``: from ``raw`` (command-line text) or ``value``.

    ``strict`` is for imported profiles: only the settings on the allow-list
    (``allow.IMPORTABLE``), whatever class section names them.
    """
    from traitlets import Container, Dict, HasTraits, TraitError, Type

    split_key(key)
    # By what the key sets (a subclass's or a parent's section reaches the same trait).
    if (why := allow.refusal(key, classes)) is not None:
        raise TraitProblem(f"{key} cannot be set in a profile: {why}", "leave it out")
    trait = _trait(classes, key)
    if strict and not allow.importable(key, classes):
        what = (
            "names code or folders for the server to load"
            if loads_code_or_files(key, trait)
            else "is not one of the settings an imported profile may carry"
        )
        raise TraitProblem(
            f"{key} {what}; imported profiles may not set it",
            f"set it yourself after importing, if you want it: `orbit config set {key} VALUE`",
        )
    if raw is not None:
        try:
            container = isinstance(trait, Container | Dict)
            value = _literal(raw) if container else trait.from_string(raw)
        except Exception:
            raise _wrong(key, trait, raw) from None
    try:
        checked = trait.validate(HasTraits(), value)
    except (TraitError, ValueError, TypeError, ImportError) as e:
        raise _wrong(key, trait, raw if raw is not None else value, e) from None
    if isinstance(trait, Type):
        return value if isinstance(value, str) else f"{checked.__module__}.{checked.__qualname__}"
    return _jsonable(checked)


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
    json.dumps(value)  # raises for what a JSON config file cannot hold
    return value


def _wrong(key: str, trait: Any, given: Any, err: Exception | None = None) -> TraitProblem:
    info = trait.info() if hasattr(trait, "info") else type(trait).__name__
    detail = ""
    if err is not None and "expected" not in str(err):
        # traitlets names a throwaway object here ("The 'x' trait of <…> instance must …")
        detail = " (" + re.sub(r"^The '\w+' trait of .*? instance ", "it ", str(err)) + ")"
    from traitlets import Container, Dict

    hint = _first_sentence(trait.help) if trait.help else f"give {info}"
    if isinstance(trait, Container | Dict):
        hint += ' (write lists and dicts as JSON, e.g. \'["a", "b"]\')'
    return TraitProblem(f"{key} takes {info}, not {given!r}{detail}"[:400], hint)


def _first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0][:200]


def describe(classes: dict[str, type], cls_name: str) -> list[dict]:
    """The settings of one class: name, kind, default, first line of help."""
    if cls_name not in classes:
        _trait(classes, f"{cls_name}.x")  # raises with the valid names
    out = []
    for name, trait in sorted(classes[cls_name].class_traits(config=True).items()):
        key = f"{cls_name}.{name}"
        try:
            default = _jsonable(trait.default())
        except Exception:
            default = repr(trait.default_value)[:80]
        out.append(
            {
                "key": key,
                "kind": trait.info(),
                "default": default,
                "help": _first_sentence(trait.help),
                "refused": allow.refusal(key, classes),
                "importable": allow.importable(key, classes),
            }
        )
    return out


def main() -> None:
    """Answer one JSON request on stdin (run in a profile's server environment)."""
    request = json.loads(sys.stdin.read())
    classes = configurable_classes(request.get("config_dir"))
    results = []
    for item in request.get("check", []):
        try:
            value = check(
                classes,
                item["key"],
                raw=item.get("raw"),
                value=item.get("value"),
                strict=bool(request.get("strict")),
            )
            results.append({"key": item["key"], "ok": True, "value": value})
        except TraitProblem as p:
            results.append({"key": item["key"], "ok": False, "error": p.message, "hint": p.hint})
    answer: dict[str, Any] = {"results": results}
    if cls := request.get("describe"):
        try:
            answer["describe"] = describe(classes, cls)
        except TraitProblem as p:
            answer["describe_error"] = {"error": p.message, "hint": p.hint}
    if request.get("classes"):
        answer["classes"] = list(classes)
    json.dump(answer, sys.stdout)
