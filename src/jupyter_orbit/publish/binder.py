"""``orbit publish PROJECT --binder [DIR]``: Binder/repo2docker files for the project.

Binder builds one environment per repository, from ``binder/``: this writes the project
folder's own environment there (what a notebook without packages of its own gets) in the files
repo2docker reads, by ``orbit export --to binder``'s writers: ``requirements.txt`` and
``runtime.txt`` (``environment.yml`` when the project keeps its packages in one, or declares
conda packages), and ``apt.txt``. Packages a notebook declares itself stay in its metadata,
which the repository carries. Written into the project itself, or, with DIR, into a
Binder-ready copy of it (its files as an image holds them: secrets, keys and version control
left out).

What was written is read back with Orbit's own readers (the pipeline, up to the resolution):
each notebook must get the same environment id from the written repository as from the project.
A difference is reported with the reason (typically a date that came from git history, which a
copy does not carry: ``orbit stamp`` writes it into the notebook).

``pin``: ``requirements.txt`` holds the exact versions the project's image resolved (its lock),
so Binder installs those; Orbit then reads pinned requirements, which is another environment id
(said). Without it, Binder resolves the project's own requirements on the day it builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import atomic
from jupyter_orbit.errors import InputError

if TYPE_CHECKING:
    from jupyter_orbit.model import Resolution
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.prepare import Consent, Prepared
    from jupyter_orbit.progress import Progress
    from jupyter_orbit.publish.project import Project

BINDER = "binder"


@dataclass
class Written:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    env_ids: dict[str, str] = field(default_factory=dict)  # read back: notebook → id

    def public(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "notes": self.notes,
            "environments": self.env_ids,
        }


def binder_files(res: Resolution, *, lock: dict[str, list[str]] | None = None) -> dict[str, str]:
    """``binder/`` file name → text for the environment ``res`` resolved (pure), written by
    ``orbit export``'s writers: environment.yml when the project keeps its packages in one or
    declares conda packages, else requirements.txt and runtime.txt; apt.txt for Debian's."""
    from jupyter_orbit.bazaar import export

    out = {p.name: text for p, text in export.files_for(res, "binder", Path()).items()}
    if "environment.yml" not in out and any(s.kind == "environment.yml" for s in res.sources):
        out.pop("requirements.txt", None)
        out.pop("runtime.txt", None)
        out["environment.yml"] = export.environment_yml(res)
    if lock and "requirements.txt" in out:
        pins = "".join(f"{line}\n" for line in lock.get("pypi", []))
        out["requirements.txt"] = (
            f"# exported by orbit from {res.target.name}: the exact versions its image "
            f"resolved{_as_of(res)}\n{pins}"
        )
    return dict(sorted(out.items()))


def _as_of(res: Resolution) -> str:
    return f" as of {res.spec.as_of}" if res.spec.as_of else ""


def write_binder(
    paths: Paths,
    project: Project,
    dest: Path,
    *,
    pin: bool = False,
    force: bool = False,
    consent: Consent,
    progress: Progress,
) -> Written:
    from jupyter_orbit.prepare import Choices, prepare

    dest = dest.expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} is a file", "give a folder to write the repository into")
    choices = Choices(engine="docker", root=project.root, as_of=project.as_of, consent=consent)
    folder = prepare(project.root, choices, paths, until="resolve")
    lock = _lock(paths, project, folder, choices, progress) if pin else None
    planned: dict[Path, bytes | Path] = {}
    outside = []  # links that lead out of the project: never followed
    if dest != project.root:
        for rel in project.files:
            source = (project.root / rel).resolve()
            if not source.is_relative_to(project.root) or not source.is_file():
                outside.append(rel)
                continue
            planned[dest / rel] = source
    for name, text in binder_files(folder.resolution, lock=lock).items():
        planned[dest / BINDER / name] = text.encode()
    if dest == project.root and (dest / ".binder").is_dir():
        raise InputError(
            f"{dest} has a .binder/ folder; writing binder/ beside it would make both",
            "remove .binder/ (or move its files into binder/) and publish again",
            path=dest / ".binder",
        )
    out = Written()
    clashing = []
    for path, content in planned.items():
        data = content if isinstance(content, bytes) else None
        if path.is_symlink() or (path.exists() and not path.is_file()):
            clashing.append(path)
        elif path.exists():
            same = path.read_bytes() == (data if data is not None else content.read_bytes())
            if same:
                out.unchanged.append(str(path))
            elif not force:
                clashing.append(path)
    if clashing:
        shown = ", ".join(str(p) for p in clashing[:5])
        raise InputError(
            f"will not overwrite {shown}" + (" …" if len(clashing) > 5 else ""),
            "pass --force to overwrite, or write into another folder (--binder DIR)",
            path=clashing[0],
        )
    for path, content in planned.items():
        if str(path) in out.unchanged:
            continue
        if isinstance(content, bytes):
            atomic.write_bytes(path, content)
        else:
            atomic.write_bytes(path, content.read_bytes(), mode=content.stat().st_mode & 0o777)
        out.written.append(str(path))
    progress.step("binder", f"{len(out.written)} file(s) written into {dest}")
    if dest != project.root and project.left_out:
        out.notes.append(f"left out of the copy: {', '.join(project.left_out)}")
    if outside:
        out.notes.append(f"links that lead out of the project, not copied: {', '.join(outside)}")
    _read_back(paths, project, dest, folder, pin=pin, out=out)
    return out


def _lock(
    paths: Paths, project: Project, folder: Prepared, choices: Any, progress: Progress
) -> dict[str, list[str]]:
    """The versions the folder's environment resolves to, from its kernel image (built through
    the pipeline when it is not built yet)."""
    from jupyter_orbit.engines import dockerapi
    from jupyter_orbit.prepare import prepare
    from jupyter_orbit.publish.image import read_lock

    built = prepare(project.root, choices, paths, progress=progress, until="build")
    assert built.environment is not None
    text = read_lock(dockerapi.connect(), built.environment.record["image"])
    return json.loads(text) if text else {}


def _read_back(
    paths: Paths, project: Project, dest: Path, folder: Prepared, *, pin: bool, out: Written
) -> None:
    """Each notebook's environment id, read from the written repository, against the
    project's; differences become notes."""
    from jupyter_orbit.prepare import Choices, prepare

    choices = Choices(engine="docker", root=dest, as_of=project.as_of)
    wanted = {**dict(project.notebooks)}
    targets = {nb: dest / nb for nb in wanted}
    wanted["."] = folder.env_id
    targets["."] = dest
    for name, target in targets.items():
        got = prepare(target, choices, paths, until="resolve")
        out.env_ids[name] = got.env_id
        if got.env_id == wanted[name]:
            continue
        what = "the project folder" if name == "." else name
        if pin and (name == "." or project.notebooks.get(name) == folder.env_id):
            out.notes.append(
                f"{what}: Orbit reads the pinned binder/requirements.txt as another "
                f"environment ({got.env_id}) with the same versions"
            )
            continue
        why = (got.resolution.as_of_detail or "").strip()
        out.notes.append(
            f"{what}: read back as environment {got.env_id}, not {wanted[name]}"
            + (f" (its date now comes from {why})" if why else "")
            + "; stamp the notebook (orbit stamp) so its date travels with it"
        )
    if own := sorted(project.own_packages):
        out.notes.append(
            "Binder builds one environment (binder/); "
            + ", ".join(own)
            + (" declares" if len(own) == 1 else " declare")
            + " packages of its own in the notebook, which Orbit reads and Binder does not"
        )
