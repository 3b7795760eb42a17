"""The profile's server and JupyterLab settings: ``jupyter/config/jupyter_server_config.json``.

That file is the only Jupyter config the profile's server reads (besides what its server
environment's extensions enable themselves). Keys are ``Class.trait``; each one set is checked in
the profile's server environment against the class it configures (``traits``). The warm-kernel
pool sizes, which Orbit keeps in ``profile.toml``, are read and written here under their
``OrbitExtension`` names too, so one command reaches every server setting.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from typing import Any

from jupyter_orbit import locking
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.paths import Paths, ProfilePaths
from jupyter_orbit.profiles import server_env, traits
from jupyter_orbit.profiles.store import ProfileStore
from jupyter_orbit.progress import NullProgress, Progress
from jupyter_orbit.settings import MAX_POOL, Settings

# Server settings Orbit keeps in profile.toml ([defaults]) and passes on the command line.
ORBIT_KEYS = {
    "OrbitExtension.pool_per_env": "pool_per_env",
    "OrbitExtension.pool_max_envs": "pool_max_envs",
    "OrbitExtension.pool_memory_mb": "pool_memory_mb",  # unset: sized from the machine's RAM
    "OrbitExtension.hot_add_spares": "hot_add_spares",
    "OrbitExtension.announcements": "announcements",
}
_YES, _NO = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_MAX = {"OrbitExtension.pool_memory_mb": 1 << 20}  # MiB; the others are counts up to MAX_POOL
# Where packages may come from (profile.toml's [indexes] allowed): a list, not a trait.
INDEXES_KEY = "indexes.allowed"
PROFILE_KEYS = (*ORBIT_KEYS, INDEXES_KEY)  # the keys kept in profile.toml
_SCRUB = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "JUPYTER_CONFIG_PATH")


def read_file(profile: ProfilePaths) -> dict[str, dict[str, Any]]:
    path = profile.server_config
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", "fix or remove the file", path=path) from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"not valid JSON: {e.msg}", "fix the file, or remove it", path=path, line=e.lineno
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(
            'expected {"Class": {"setting": value}}', "fix the file, or remove it", path=path
        )
    return data


def flatten(data: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{cls}.{name}": v for cls, values in data.items() for name, v in values.items()}


def stored(paths: Paths, profile: str) -> dict[str, Any]:
    """Every setting the profile sets: its config file, and the pool sizes from profile.toml."""
    store = ProfileStore(paths)
    settings = store.settings(profile)
    out = flatten(read_file(store.profile(profile)))
    for key, field in ORBIT_KEYS.items():
        out[key] = getattr(settings.defaults, field)
    out[INDEXES_KEY] = list(settings.allowed_indexes)
    return dict(sorted(out.items()))


def ask(
    paths: Paths,
    prof: ProfilePaths,
    settings: Settings,
    request: dict[str, Any],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``traits.main`` in the profile's server environment (building it if needed)."""
    env = server_env.ensure(paths, settings, progress or NullProgress())
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUB} | prof.jupyter_env()
    request = {"config_dir": str(prof.config_dir), **request}
    proc = subprocess.run(
        [str(env.python), "-c", "from jupyter_orbit.profiles.traits import main; main()"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=environ,
        cwd=paths.home if paths.home.is_dir() else None,
        timeout=300,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise OrbitError(
            f"could not check settings in the server environment {env.env_id}: {tail}",
            "run `orbit doctor` to check the profile",
        )
    return json.loads(proc.stdout)


def check_many(
    paths: Paths,
    prof: ProfilePaths,
    settings: Settings,
    items: dict[str, Any],
    *,
    raw: bool,
    strict: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The values to store for ``items`` (key -> text or JSON value); the first problem raises."""
    for key in items:
        _refuse_early(key)
    if not items:
        return {}
    kind = "raw" if raw else "value"
    answer = ask(
        paths,
        prof,
        settings,
        {"check": [{"key": k, kind: v} for k, v in items.items()], "strict": strict},
        progress,
    )
    out = {}
    for r in answer["results"]:
        if not r["ok"]:
            raise InputError(r["error"], r["hint"])
        out[r["key"]] = r["value"]
    return out


def _refuse_early(key: str) -> None:
    """Refusals that need no server environment: a malformed key, or one Orbit keeps."""
    try:
        traits.split_key(key)
        why = traits.refusal(key)
    except traits.TraitProblem as p:
        raise InputError(p.message, p.hint) from None
    if why is not None:
        raise InputError(f"{key} cannot be set in a profile: {why}", "leave it out")


def set_value(
    paths: Paths, profile: str, key: str, text: str, progress: Progress | None = None
) -> tuple[Any, Any]:
    """Check and store ``key`` = ``text``; return (new value, previous value or None)."""
    store = ProfileStore(paths)
    settings = store.settings(profile, create=True)
    prof = store.profile(profile)
    if key == INDEXES_KEY:
        allowed = _index_list(text)
        store.save(profile, replace(settings, allowed_indexes=allowed))
        return list(allowed), list(settings.allowed_indexes)
    if key in ORBIT_KEYS:
        field = ORBIT_KEYS[key]
        value = _orbit_value(key, getattr(settings.defaults, field), text)
        previous = getattr(settings.defaults, field)
        store.save(profile, _with_default(settings, field, value))
        return value, previous
    with locking.locked(prof.server_config):  # from the read to the write
        seen = locking.read(prof.server_config)
        data = read_file(prof)  # a broken file is reported before anything else happens
        value = check_many(paths, prof, settings, {key: text}, raw=True, progress=progress)[key]
        cls, name = traits.split_key(key)
        previous = data.get(cls, {}).get(name)
        data.setdefault(cls, {})[name] = value
        _write(prof, seen, data)
    return value, previous


def _index_list(text: str) -> tuple[str, ...]:
    """``indexes.allowed``: a JSON list of index URLs, find-links folders or hosts (or one)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = [text]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(
            f"{INDEXES_KEY} takes a list of index URLs, find-links folders or hosts",
            f"""e.g. orbit config set {INDEXES_KEY} '["https://download.pytorch.org/whl/cpu"]'""",
        )
    return tuple(dict.fromkeys(v.strip() for v in value))


def _write(prof: ProfilePaths, seen: bytes | None, data: dict[str, Any]) -> None:
    """Write the server config, unless another program saved it since ``seen`` was read."""
    text = json.dumps(data, indent=2) + "\n"
    locking.replace(prof.server_config, seen, text.encode("utf-8"))


def unset(paths: Paths, profile: str, key: str) -> Any:
    """Remove ``key``; return the value it had. Orbit's own keys go back to their defaults."""
    store = ProfileStore(paths)
    settings = store.settings(profile)
    prof = store.profile(profile)
    try:
        cls, name = traits.split_key(key)
    except traits.TraitProblem as p:
        raise InputError(p.message, p.hint) from None
    if key == INDEXES_KEY:
        store.save(profile, replace(settings, allowed_indexes=()))
        return list(settings.allowed_indexes)
    if key in ORBIT_KEYS:
        field = ORBIT_KEYS[key]
        from jupyter_orbit.settings import Defaults

        previous = getattr(settings.defaults, field)
        default = getattr(Defaults(), field)
        store.save(profile, _with_default(settings, field, default))
        return previous
    with locking.locked(prof.server_config):
        seen = locking.read(prof.server_config)
        data = read_file(prof)
        if name not in data.get(cls, {}):
            raise InputError(
                f"{key} is not set in profile {profile!r}",
                "see what is set with `orbit config get`",
            )
        previous = data[cls].pop(name)
        if not data[cls]:
            del data[cls]
        _write(prof, seen, data)
    return previous


def get(paths: Paths, profile: str, key: str, progress: Progress | None = None) -> dict[str, Any]:
    """One setting (its value, or its default when unset) or, for a class name, all of its."""
    store = ProfileStore(paths)
    settings = store.settings(profile)
    prof = store.profile(profile)
    values = stored(paths, profile)
    if "." not in key:
        answer = ask(paths, prof, settings, {"describe": key}, progress)
        if err := answer.get("describe_error"):
            raise InputError(err["error"], err["hint"])
        rows = answer["describe"]
        for row in rows:
            row["value"] = values.get(row["key"])
            row["set"] = row["key"] in values
        return {"class": key, "settings": rows}
    try:
        cls, _ = traits.split_key(key)
    except traits.TraitProblem as p:
        raise InputError(p.message, p.hint) from None
    if key in values:
        return {"key": key, "value": values[key], "set": True}
    answer = ask(paths, prof, settings, {"describe": cls}, progress)
    if err := answer.get("describe_error"):
        raise InputError(err["error"], err["hint"])
    for row in answer["describe"]:
        if row["key"] == key:
            return {"key": key, "value": row["default"], "set": False, "help": row["help"]}
    # unknown setting of a known class: let the checker word the error
    answer = ask(paths, prof, settings, {"check": [{"key": key, "value": None}]}, progress)
    r = answer["results"][0]
    raise InputError(r.get("error", f"unknown setting {key}"), r.get("hint"))


def _orbit_value(key: str, current: Any, text: str) -> bool | int:
    """``text`` as the value of one of Orbit's own keys (a switch, or a pool size)."""
    if isinstance(current, bool):
        if text.strip().lower() not in (*_YES, *_NO):
            raise InputError(f"{key} is true or false, not {text!r}", "write true or false")
        return text.strip().lower() in _YES
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"{key} takes a whole number, not {text!r}", f"0 to {_MAX.get(key, MAX_POOL)}"
        ) from None
    top = _MAX.get(key, MAX_POOL)
    if not 0 <= value <= top:
        raise InputError(f"{key}: {value} is out of range", f"use 0 to {top}")
    return value


def _with_default(settings: Settings, field: str, value: bool | int) -> Settings:
    return replace(settings, defaults=replace(settings.defaults, **{field: value}))
