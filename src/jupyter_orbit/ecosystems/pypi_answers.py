"""What the date fit already learnt from the index about a spec, kept for its build.

Fitting a notebook to its date (``era``) ends with resolving exactly what the build will
install: the notebook's packages and the kernel's, for that Python, as of those dates. The
build's resolve step asks that question again; when uv's cache alone gives the same versions
(a few hundredths of a second, where asking the index takes a second or two) the answer is the
one the index just gave, and the index is not asked again. Any difference, and the index is.

Only answers the index gave in this process count: the fit's own cache of answers, or an answer
kept from another day, may be older than what an index without upload dates serves now.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

from jupyter_orbit.model import EnvSpec


def key(spec: EnvSpec, python_version: str) -> str:
    """The question a build of ``spec`` asks uv, on Python ``python_version`` (``3.11.7``)."""
    from jupyter_orbit import offline

    env = offline.uv_environ(dict(os.environ))
    indexes = (
        "UV_DEFAULT_INDEX",
        "UV_INDEX_URL",
        "UV_INDEX",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
    )
    question = {
        "python": python_version,
        "packages": sorted(r.text for r in spec.packages("pypi")),
        "options": list(spec.index_options),
        "constraints": sorted(r.text for r in spec.constraints),
        "as_of": spec.as_of,
        "kernel_as_of": spec.kernel_as_of,
        "floating": sorted(spec.floating),
        "wheels_only": spec.wheels_only,
        "indexes": {k: env[k] for k in indexes if env.get(k)},
    }
    return hashlib.sha256(json.dumps(question, sort_keys=True).encode()).hexdigest()


# question -> the pins the index gave for it in this process (a fit and its build run in one)
_GIVEN: dict[str, frozenset[str]] = {}
_LOCK = threading.Lock()


def remember(question: str, pins: str) -> None:
    """Keep the pins the index just gave for ``question``."""
    with _LOCK:
        _GIVEN[question] = frozenset(_pins(pins))


def recall(question: str) -> frozenset[str] | None:
    with _LOCK:
        return _GIVEN.get(question)


def same(pins: str, known: frozenset[str]) -> bool:
    """Whether uv's output ``pins`` names exactly the versions ``known``."""
    return _pins(pins) == known


def _pins(text: str) -> set[str]:
    return {
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith(("#", "-"))
    }
