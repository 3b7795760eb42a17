"""What a failed uv command means, and whether trying it again can help.

uv tells every failure as text ("No solution found … Because there is no version of
numpy==9.0 …"). ``diagnose`` reads that text into one of Orbit's error classes, so each failure
is told as what it is: a name the index does not have, a version it does not have,
requirements that conflict, no release for this Python, an index that could not be reached or
that answered inconsistently — never a conflict when the index is at fault.

Some failures are cured by asking again: a network error or a timeout, and an index that lists
a version at one moment and lacks it the next (a CDN serving an older copy of a package's page
for a moment). For those the diagnosis says how often to retry and which packages' index data
to refresh (``--refresh-package``); ``uvcli.run_uv`` does the retrying.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jupyter_orbit.errors import (
    BuildError,
    ConflictError,
    IndexInconsistent,
    IndexUnreachable,
    NoSuchVersion,
    NoWheelError,
    PackageNotFound,
)

PYPI = "https://pypi.org/simple/"
BACKOFF = (1.0, 3.0)  # seconds to wait before the second and the third try
# Commands that install versions an earlier resolution chose: a version missing there was
# listed a moment ago.
INSTALLS = (("pip", "sync"), ("pip", "install"))

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_FETCH = re.compile(
    r"(?:Failed to fetch:|error sending request for url) \(?`?(?P<url>https?://[^\s`)]+)"
)
_DOWNLOAD = re.compile(
    rf"Failed to download(?: and build)? `(?P<name>{_NAME})==(?P<version>[^`]+)`"
)
_NOT_FOUND = re.compile(rf"Because (?P<name>{_NAME}) was not found in the package registry")
_NO_VERSION = re.compile(rf"there is no version of (?P<name>{_NAME})==(?P<version>[^\s,]+)")
_NO_VERSIONS = re.compile(rf"there are no versions of (?P<name>{_NAME})(?: and|,| we)")
_PYTHON = re.compile(
    r"the (?:current|requested) Python version \((?P<have>[^)]+)\) does not satisfy "
    rf"Python(?P<need>[^\s]+?) and (?P<name>{_NAME})(?:==(?P<version>[^\s]+))? depends on"
)
_TAGS = re.compile(
    rf"(?P<name>{_NAME})==(?P<version>\S+) has no wheels with a matching "
    r"(?P<kind>Python implementation|Python ABI|platform) tag \(e\.g\., `(?P<tag>[^`]+)`\)"
)
_FOUND_TAGS = re.compile(r"with the following [\w ]+? tags?: (?P<tags>(?:`[^`]+`(?:, )?)+)")
_REQUIRE = re.compile(r"you require (?P<req>[^\s,]+?)(?=,|\s|$)")
_BECAUSE = re.compile(r"Because (?P<why>.+?)(?: and you require|, we can conclude| we can)")

# How often each failure is tried again (the network's once: uv itself retried each request).
RETRIES: dict[type[BuildError], int] = {IndexUnreachable: 1, IndexInconsistent: 2, NoSuchVersion: 2}


@dataclass(frozen=True)
class Diagnosis:
    error: BuildError
    brief: str = ""  # what went wrong, for the notice that a retry follows
    refresh: tuple[str, ...] = ()  # packages whose index data a retry asks for afresh
    package: str | None = None  # for a version the index did not list: which one
    version: str | None = None
    index: str | None = None

    def retries(self, args: Sequence[str]) -> int:
        """How often to try ``args`` again. A version missing when resolving is asked for
        once more (it may be a typo); one missing when installing what was just resolved,
        twice (it was listed a moment ago)."""
        if "--offline" in args:
            return 0
        if isinstance(self.error, NoSuchVersion) and tuple(args[:2]) not in INSTALLS:
            return 1
        return RETRIES.get(type(self.error), 0)

    def notice(self, tries: int, total: int, delay: float) -> str:
        """Said after try number ``tries`` failed, before the next one."""
        fresh = f" with fresh index data for {', '.join(self.refresh)}" if self.refresh else ""
        return f"{self.brief}; trying again in {delay:g}s{fresh} (try {tries + 1} of {total})"

    def final(self, args: Sequence[str], tries: int) -> BuildError:
        """The error to raise once no retry is left (``tries``: how many were made)."""
        err = self.error
        if isinstance(err, NoSuchVersion) and tuple(args[:2]) in INSTALLS:
            err = self._inconsistent_listing()
        if tries > 1:
            again = ", refreshing its data" if self.refresh else ""
            err = type(err)(f"{err.message} (tried {tries} times{again})", err.hint)
        return err

    def _inconsistent_listing(self) -> IndexInconsistent:
        """A version the resolution chose a moment ago that the index no longer lists."""
        name = self.package or "a package"
        what = f"{name} {self.version}" if self.version else name
        return IndexInconsistent(
            f"the package index {self.index} answered inconsistently: it listed {what} when "
            "the environment was resolved and does not list it now",
            "the index may be updating: try again in a few minutes; if it persists, pin "
            f"another version of {name}",
        )


def diagnose(
    args: Sequence[str], lines: Sequence[str], environ: Mapping[str, str], cwd: Path | None = None
) -> Diagnosis | None:
    """The failure uv reported in ``lines``, told as what it is; None when it is none of the
    failures Orbit knows (the caller tells it as uv did)."""
    text = " ".join(" ".join(lines).split())
    indexes = index_urls(args, environ)
    for rule in (_unreachable, _not_served, _not_found, _no_version, _no_wheel, _conflict):
        if (found := rule(text, indexes, cwd)) is not None:
            return found
    return None


# -- the rules, most specific first -----------------------------------------------------------


def _unreachable(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    m = _FETCH.search(text)
    reason = _network_reason(text)
    if m is None or reason is None:
        return None
    url = m.group("url")
    index = index_of(url, indexes)
    name = _package_in(url, index)
    err = IndexUnreachable(
        f"could not reach the package index {index} ({reason})",
        "check the network connection (and a proxy, if one is needed), then try again; "
        "environments built before keep working offline",
    )
    return Diagnosis(err, f"could not reach {index} ({reason})", (name,) if name else ())


def _not_served(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    m = _DOWNLOAD.search(text)
    if m is None or not re.search(r"\b(404|410) ", text):
        return None
    name, version = m.group("name"), m.group("version")
    index = index_for(name, indexes)
    err = IndexInconsistent(
        f"the package index {index} answered inconsistently: it lists {name} {version} "
        "but does not serve its file",
        "the index may be updating: try again in a few minutes; if it persists, tell the "
        f"index's keepers, or pin another version of {name}",
    )
    return Diagnosis(err, f"{index} did not serve {name} {version}", (name,))


def _not_found(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    m = _NOT_FOUND.search(text)
    if m is None:
        return None
    name = m.group("name")
    err = PackageNotFound(
        f"no package named {name} on {' or '.join(indexes)}",
        f"check the name (`orbit search {name}`) and fix it where it is declared",
    )
    err.package = name
    return Diagnosis(err)


def _no_version(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    if m := _NO_VERSION.search(text):
        name, version = m.group("name"), m.group("version")
        index = index_for(name, indexes)
        message = f"there is no version {version} of {name} on {index}"
        brief = f"{index} did not list {name} {version}"
    elif m := _NO_VERSIONS.search(text):
        name, version = m.group("name"), None
        index = index_for(name, indexes)
        message = f"{index} lists no versions of {name}"
        brief = message
    else:
        return None
    err = NoSuchVersion(
        message, f"check the versions at {index}{name}/ and fix the pin where it is declared"
    )
    return Diagnosis(err, brief, (name,), name, version, index)


def _no_wheel(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    if m := _PYTHON.search(text):
        name, version, need = m.group("name"), m.group("version"), m.group("need")
        have = m.group("have")
        what = f"{name} {version}" if version else name
        message = f"{what} needs Python{need} and this environment's Python is {have}"
        pythons = _fitting(lambda v: _satisfies(v, need), cwd)
    elif m := _TAGS.search(text):
        name, version, tag, kind = (m.group(g) for g in ("name", "version", "tag", "kind"))
        found = _FOUND_TAGS.search(text)
        tags = re.findall(r"`([^`]+)`", found.group("tags")) if found else []
        if kind == "platform":
            message = f"{name} {version} has no wheel for this platform ({tag})"
            if tags:
                message += f"; it has wheels for {', '.join(tags)}"
            return Diagnosis(
                NoWheelError(message, f"pin a version of {name} that has a wheel for {tag}")
            )
        with_wheels = [v for t in tags if (v := _python_of_tag(t))]
        message = f"{name} {version} has no wheel for this Python ({tag})"
        if with_wheels:
            message += f"; it has wheels for Python {', '.join(with_wheels)}"
        pythons = _fitting(lambda v: v in with_wheels, cwd)
    else:
        return None
    hint = (
        f"choose one that has with `--python {pythons[-1]}` (installed here: {', '.join(pythons)})"
        if pythons
        else f"install a Python that fits and choose it with `--python`, or pin another "
        f"version of {name}"
    )
    return Diagnosis(NoWheelError(message, hint))


def _conflict(text: str, indexes: list[str], cwd: Path | None) -> Diagnosis | None:
    if "No solution found" not in text and "unsatisfiable" not in text:
        return None
    asked = list(dict.fromkeys(m.group("req").rstrip(".") for m in _REQUIRE.finditer(text)))
    why = _BECAUSE.search(text)
    reason = f" ({why.group('why')})" if why else ""
    if asked:
        message = f"these requirements conflict: {', '.join(asked)}{reason}"
        hint = f"loosen one of {' and '.join(asked)} where it is declared"
    else:
        message = f"the requirements cannot be installed together{reason}"
        hint = "loosen one of the pins where it is declared"
    return Diagnosis(ConflictError(message, hint))


# -- indexes ------------------------------------------------------------------------------------

_INDEX_FLAGS = {
    "--index-url": False,
    "-i": False,
    "--default-index": False,
    "--extra-index-url": True,
    "--index": True,
}


def index_urls(args: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Every index uv looks in for this command, in its order (extra ones first, then the
    default), as the user may see them (credentials left out)."""
    extra: list[str] = []
    default: list[str] = []

    def take(option: str, value: str) -> None:
        (extra if _INDEX_FLAGS[option] else default).append(value)

    def scan(words: Sequence[str]) -> None:
        it = iter(words)
        for word in it:
            option, eq, value = word.partition("=")
            if option in _INDEX_FLAGS:
                take(option, value if eq else next(it, ""))

    scan(args)
    for arg in args:  # requirement files carry their own index lines (uv's --emit-index-url)
        if arg.endswith((".txt", ".in")) and Path(arg).is_file():
            for line in Path(arg).read_text(errors="replace").splitlines():
                if line.startswith("-"):
                    scan(line.split())
    extra += environ.get("UV_INDEX", "").split() + environ.get("UV_EXTRA_INDEX_URL", "").split()
    default += [environ.get("UV_DEFAULT_INDEX") or environ.get("UV_INDEX_URL") or PYPI]
    return list(dict.fromkeys(_shown(u) for u in [*extra, default[0]] if u))


def _shown(url: str) -> str:
    """``name=URL`` (uv's named indexes) as its URL, without user and password."""
    head, eq, rest = url.partition("=")
    if eq and "://" not in head:
        url = rest
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/") + "/", "", ""))


def index_of(url: str, indexes: list[str]) -> str:
    """The index ``url`` (a page or a file uv fetched) belongs to."""
    shown = _shown(url).rstrip("/")
    for index in indexes:
        if shown.startswith(index.rstrip("/")):
            return index
    parts = urlsplit(shown)
    same_host = [i for i in indexes if urlsplit(i).netloc == parts.netloc]
    return same_host[0] if same_host else f"{parts.scheme}://{parts.netloc}/"


def _package_in(url: str, index: str) -> str | None:
    rest = _shown(url)[len(index) :] if _shown(url).startswith(index) else ""
    first = rest.strip("/").split("/")[0] if rest else ""
    return first if first and re.fullmatch(_NAME, first) else None


def index_for(name: str, indexes: list[str], timeout: float = 3) -> str:
    """The index uv takes ``name`` from: the first that has a page for it (uv's
    first-index rule); with one index, that one, unasked."""
    if len(indexes) == 1:
        return indexes[0]
    import urllib.error
    import urllib.request

    for index in indexes:
        request = urllib.request.Request(
            index + name + "/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if response.status < 400:
                    return index
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return " or ".join(indexes)


# -- networks and Pythons -------------------------------------------------------------------------


def _network_reason(text: str) -> str | None:
    lowered = text.lower()
    if m := re.search(r"http status server error \((\d+)[^)]*\)", lowered):
        return f"it answered HTTP {m.group(1)}"
    for needle, reason in (
        ("timed out", "timed out"),
        ("connection refused", "connection refused"),
        ("dns error", "its name does not resolve"),
        ("failed to lookup address", "its name does not resolve"),
        ("connection reset", "the connection was reset"),
        ("connection closed", "the connection was closed"),
        ("tcp connect error", "no connection"),
        ("error sending request", "no answer"),
    ):
        if needle in lowered:
            return reason
    return None


def _python_of_tag(tag: str) -> str | None:
    """``cp312`` → ``3.12`` (CPython tags; ``abi3``, ``py3`` and others name no one Python)."""
    m = re.fullmatch(r"cp3(\d+)t?", tag)
    return f"3.{m.group(1)}" if m else None


def _satisfies(version: str, spec: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


def _fitting(fits: object, cwd: Path | None) -> list[str]:
    """Minor versions of the Pythons installed here that ``fits`` accepts."""
    from jupyter_orbit.uvcli import installed_pythons

    if cwd is None:
        return []
    minors = dict.fromkeys(".".join(v.split(".")[:2]) for v in installed_pythons(cwd=cwd))
    return [v for v in minors if fits(v)]  # type: ignore[operator]
