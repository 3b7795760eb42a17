"""``orbit export``: a spec written as the standard files other tools rebuild from.

=============  =============================================================================
requirements   ``requirements.txt`` for pip/uv (the notebook's lock, hashes and all, when it
               has a current one; else the declared requirements and package sources)
pyproject      ``pyproject.toml`` with ``[project] dependencies`` and ``requires-python``
environment    ``environment.yml`` for conda/mamba/pixi: python, conda packages, a ``pip:`` list
pep723         ``NAME.py``: a PEP 723 script block, for ``uv run`` and juv
binder         ``binder/``: requirements.txt (or environment.yml), apt.txt, runtime.txt
compose        ``compose.yaml``: the services the notebook (or project) runs beside its kernels
=============  =============================================================================

Every file is checked first: none is overwritten without ``force``, and all are written
atomically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from jupyter_orbit import atomic
from jupyter_orbit.ecosystems import lockfile
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import EnvSpec, Resolution
from jupyter_orbit.paths import Paths

FORMATS = ("requirements", "pyproject", "environment", "pep723", "binder", "compose")


def _declared(spec: EnvSpec, eco: str) -> list[str]:
    return [r.text for r in spec.declared(eco)]


def _python(spec: EnvSpec) -> str | None:
    return spec.python


def requirements_txt(res: Resolution) -> str:
    spec = res.spec
    head = f"# exported by orbit from {res.target.name}\n"
    if lockfile.is_current(spec) and spec.lock:
        return head + spec.lock.text
    options = ["--pre" if o.startswith("--prerelease") else o for o in spec.index_options]
    return head + "".join(f"{ln}\n" for ln in [*options, *_declared(spec, "pypi")])


def pyproject_toml(res: Resolution) -> str:
    import tomlkit

    name = re.sub(r"[^A-Za-z0-9]+", "-", res.target.stem if res.notebook else res.target.name)
    doc = tomlkit.document()
    project = tomlkit.table()
    project["name"] = name.strip("-").lower() or "notebook"
    project["version"] = "0"
    if py := _python(res.spec):
        project["requires-python"] = f">={py}" if py[0].isdigit() else py
    deps = tomlkit.array()
    for d in _declared(res.spec, "pypi"):
        deps.append(d)
    project["dependencies"] = deps.multiline(True) if len(deps) else deps
    doc["project"] = project
    return tomlkit.dumps(doc)


def environment_yml(res: Resolution) -> str:
    from jupyter_orbit.manifests.conda_env import _yaml_scalar

    spec = res.spec
    lines = [
        f"name: {_yaml_scalar(res.target.stem.lower() or 'notebook')}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
    ]
    if py := _python(spec):
        lines.append(
            f"  - python={py}" if py[0].isdigit() else f"  - {_yaml_scalar('python' + py)}"
        )
    lines += [f"  - {_yaml_scalar(c)}" for c in _declared(spec, "conda")]
    pip = _declared(spec, "pypi")
    if pip:
        lines += ["  - pip", "  - pip:"] + [f"    - {_yaml_scalar(p)}" for p in pip]
    return "\n".join(lines) + "\n"


def pep723_script(res: Resolution) -> str:
    spec = res.spec
    block = ["# /// script"]
    if py := _python(spec):
        block.append(f"# requires-python = {json.dumps('>=' + py if py[0].isdigit() else py)}")
    deps = _declared(spec, "pypi")
    block.append("# dependencies = [")
    block += [f"#     {json.dumps(d)}," for d in deps]
    block.append("# ]")
    if spec.as_of:
        block += ["#", "# [tool.uv]", f"# exclude-newer = {json.dumps(spec.as_of)}"]
    block.append("# ///")
    return "\n".join(block) + "\n"


def apt_txt(res: Resolution) -> str:
    return "".join(f"{a}\n" for a in _declared(res.spec, "apt"))


def compose_yaml(res: Resolution, paths: Paths) -> str:
    """The services beside the kernels (the notebook's own, else its project's) as a compose
    file Docker Compose runs as it is."""
    from jupyter_orbit.beside import find
    from jupyter_orbit.manifests.compose import named_volumes, render

    services = {s.name: s.definition for g in find(res, paths) for s in g.services}
    if not services:
        raise InputError(
            f"{res.target.name} runs no services beside its kernels",
            "add one first, e.g. `orbit add postgres --in compose --to FOLDER`",
            path=res.target,
        )
    volumes = [v for d in services.values() for v in named_volumes(d)]
    return render(services, list(dict.fromkeys(volumes)))


def files_for(res: Resolution, fmt: str, dest: Path, paths: Paths | None = None) -> dict[Path, str]:
    if fmt == "compose" and paths is not None:
        return {dest / "compose.yaml": compose_yaml(res, paths)}
    if fmt == "requirements":
        return {dest / "requirements.txt": requirements_txt(res)}
    if fmt == "pyproject":
        return {dest / "pyproject.toml": pyproject_toml(res)}
    if fmt == "environment":
        return {dest / "environment.yml": environment_yml(res)}
    if fmt == "pep723":
        return {
            dest / f"{res.target.stem if res.notebook else 'environment'}.py": pep723_script(res)
        }
    if fmt == "binder":
        folder = dest / "binder"
        out = {}
        if _declared(res.spec, "conda"):
            out[folder / "environment.yml"] = environment_yml(res)
        else:
            out[folder / "requirements.txt"] = requirements_txt(res)
            if py := _python(res.spec):
                m = re.match(r"^(\d+\.\d+)", py)
                if m:
                    out[folder / "runtime.txt"] = f"python-{m.group(1)}\n"
        if _declared(res.spec, "apt"):
            out[folder / "apt.txt"] = apt_txt(res)
        return out
    raise InputError(f"unknown export format {fmt!r}", f"use one of: {', '.join(FORMATS)}")


def export(paths: Paths, target: Path, fmt: str, dest: Path, *, force: bool = False) -> list[Path]:
    from jupyter_orbit.prepare import Choices, prepare

    res = prepare(target, Choices(), paths, until="resolve").resolution
    dest = dest.expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} is a file", "give a folder to write into", path=dest)
    files = files_for(res, fmt, dest, paths)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise InputError(
            f"will not overwrite {', '.join(str(p) for p in existing)}",
            "pass --force to overwrite, or export into another folder",
            path=existing[0],
        )
    for path, text in files.items():
        atomic.write_text(path, text)
    return list(files)
