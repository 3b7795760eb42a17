"""Where packages may come from: the user's configuration, never a project's files.

A project's files may name package indexes, find-links and trusted hosts (requirements.txt's
``--index-url``/``--extra-index-url``/``--find-links``/``--trusted-host``, a PEP 723 block's
``[tool.uv]``, ``metadata.orbit.index_options``, a Pipfile's ``[[source]]``, environment.yml's
pip list). Trusting a project lets it declare *packages*; it does not let it choose *where*
they come from: an index a project names is used only when the user's own configuration has it
too — the profile's ``[indexes] allowed`` list, or the user's uv/pip environment variables
(``UV_DEFAULT_INDEX``, ``UV_INDEX``, ``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``,
``UV_FIND_LINKS``, ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``). Otherwise the build is refused,
with the line that names the index and the line that would allow it.

A ``--find-links`` folder inside the project itself (the project's own wheels) is part of the
project, like a local wheel named as a requirement, and needs the same trust, no more; a
``name @ file:///…`` reference to a file outside the project is a source like any other.
``--no-index`` and ``--prerelease allow`` change nothing about where packages come from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from jupyter_orbit.errors import TrustError
from jupyter_orbit.model import Resolution
from jupyter_orbit.paths import Paths

PYPI_INDEXES = ("https://pypi.org/simple", "https://pypi.python.org/simple")
_ENV_URLS = (
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
)
_SOURCE_FLAGS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host")


class IndexRefused(TrustError):
    """A project names a package index the user's configuration does not have."""


def _url(text: str) -> str:
    """A URL compared without its trailing slash, scheme and host in lower case."""
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        rest = text[len(parts.scheme) + 3 + len(parts.netloc) :]
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}".rstrip("/")
    return text.rstrip("/")


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme and parts.netloc) or text.startswith("file:")


@dataclass(frozen=True)
class IndexPolicy:
    """The indexes a profile allows projects to name (and where to allow more)."""

    allowed: tuple[str, ...] = ()
    settings_file: Path | None = None
    profile: str | None = None  # named in the hint when it is not the default one

    @classmethod
    def for_profile(cls, paths: Paths, profile: str | None = None) -> IndexPolicy:
        """The policy of ``profile`` (default: the default profile); a profile with no
        settings file yet allows nothing beyond the user's environment."""
        from jupyter_orbit import settings as st

        name = profile or paths.default_profile()
        prof = paths.profile(name)
        shown = name if name != paths.default_profile() else None
        if not prof.settings_file.is_file():
            return cls((), prof.settings_file, shown)
        return cls(st.read(prof.settings_file).allowed_indexes, prof.settings_file, shown)

    def user_indexes(self, environ: Mapping[str, str]) -> set[str]:
        """Every index, find-links location and host the user configured."""
        out = {_url(u) for u in PYPI_INDEXES}
        for key in _ENV_URLS:
            for item in environ.get(key, "").replace(",", " ").split():
                out.add(_url(item.split("=", 1)[1] if "=" in item.split("://")[0] else item))
        for item in self.allowed:
            out.add(_url(item) if _is_url(item) else str(Path(item).expanduser().resolve()))
        return out

    def refused(self, res: Resolution, environ: Mapping[str, str] | None = None) -> list[str]:
        """The options of ``res`` that name a source the user did not configure."""
        known = self.user_indexes(os.environ if environ is None else environ)
        hosts = {urlsplit(u).hostname for u in known if _is_url(u)} | known
        root = res.project_root.resolve()
        out = []
        for option in res.spec.index_options:
            flag, _, value = option.partition(" ")
            if flag not in _SOURCE_FLAGS:
                continue  # --no-index, --prerelease allow
            value = value.strip()
            if flag == "--trusted-host":
                ok = value.split(":")[0].lower() in hosts
            elif _is_url(value):
                ok = _url(value) in known
            else:  # a local find-links folder
                local = Path(value).expanduser().resolve()
                ok = local.is_relative_to(root) or str(local) in known
            if not ok:
                out.append(option)
        for req in res.spec.requirements:  # `name @ file:///…`: a local file as a source
            _, _, url = req.text.partition(" @ ")
            url = url.split(" ;")[0].strip()
            if url.startswith("file:"):
                local = Path(unquote(urlsplit(url).path)).resolve()
                if not (local.is_relative_to(root) or str(local) in known):
                    out.append(f"{req.name} @ {url}")
        return out

    def check(self, res: Resolution, environ: Mapping[str, str] | None = None) -> None:
        """Raise ``IndexRefused`` naming each line that names a source not configured."""
        refused = self.refused(res, environ)
        if not refused:
            return
        lines = [where(res, option) for option in refused]
        values = [_value(o) for o in refused]
        what = "a package source" if len(refused) == 1 else "package sources"
        allowed = json.dumps(list(dict.fromkeys([*self.allowed, *values])))
        place = f" ({self.settings_file}, [indexes] allowed)" if self.settings_file else ""
        profile = f" --profile {self.profile}" if self.profile else ""
        raise IndexRefused(
            f"the project names {what} your configuration does not have (Orbit takes package "
            "indexes only from your profile): " + "; ".join(lines),
            f"if you trust it, allow it in your profile{place}: "
            f"orbit config set indexes.allowed '{allowed}'{profile}; "
            "or remove the line from the project",
        )


def check(
    res: Resolution,
    policy: IndexPolicy | None,
    paths: Paths,
    environ: Mapping[str, str] | None = None,
) -> None:
    """``policy.check(res)``; with no policy, the default profile's, read only when ``res``
    names a source at all (most projects name none)."""
    named = any(o.partition(" ")[0] in _SOURCE_FLAGS for o in res.spec.index_options)
    named = named or any(" @ file:" in r.text for r in res.spec.requirements)
    if named:
        (policy or IndexPolicy.for_profile(paths)).check(res, environ)


def _value(option: str) -> str:
    """The URL, path or host an option (or a ``name @ url`` reference) names."""
    if " @ " in option:
        return option.partition(" @ ")[2].strip()
    return option.partition(" ")[2].strip()


def where(res: Resolution, option: str) -> str:
    """``path:line: 'the line'`` naming ``option``'s value, as well as it can be found among
    the files the resolution read (else the file and the option)."""
    from jupyter_orbit import untrusted
    from jupyter_orbit.errors import InputError

    value = _value(option)
    needles = [value, Path(value).name] if not _is_url(value) else [value, value.rstrip("/")]
    files = [s.path for s in res.sources if s.path is not None]
    if res.notebook is not None:
        files.append(res.notebook)
    for path in dict.fromkeys(files):
        try:
            text = untrusted.read_text(path, limit=untrusted.MAX_NOTEBOOK_BYTES)
        except InputError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(n and n in line for n in needles):
                return f"{path}:{number}: {line.strip()[:200]!r}"
    for folder in {p.parent for p in files}:
        for extra in sorted(folder.glob("*.txt")):  # a -r include of requirements.txt
            try:
                text = untrusted.read_text(extra, limit=untrusted.MAX_MANIFEST_BYTES)
            except InputError:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if value in line:
                    return f"{extra}:{number}: {line.strip()[:200]!r}"
    return f"{files[0] if files else res.target} ({option})"
