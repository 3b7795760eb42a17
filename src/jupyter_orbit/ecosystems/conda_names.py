"""Conda match specs (``numpy >=1.26``, ``python=3.10``, ``conda-forge::pandas[version='2.*']``)
read as PEP 440 constraints, and the PyPI equivalents of conda packages: what an environment.yml
means when no conda channel is in use, and what a conda package is checked as when none answers.
"""

from __future__ import annotations

import re

from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Origin

# Conda packages with no PyPI counterpart: interpreters, toolchains, system libraries, and the
# packages ``conda env export`` lists for every environment.
NO_PYPI = frozenset(
    {
        "pip",
        "python",
        "nodejs",
        "r-base",
        "gcc",
        "gxx",
        "gfortran",
        "c-compiler",
        "cxx-compiler",
        "fortran-compiler",
        "compilers",
        "cudatoolkit",
        "mkl",
        "ca-certificates",
        "openssl",
        "bzip2",
        "ncurses",
        "readline",
        "sqlite",
        "tk",
        "tzdata",
        "xz",
        "zlib",
    }
)
# Name prefixes of conda-only packages: C/C++ libraries (lib*), R packages (r-*), conda's
# metapackages (_libgcc_mutex, _openmp_mutex) and the linker (ld_impl_linux-64).
NO_PYPI_PREFIXES = ("lib", "r-", "_", "ld_impl_")
# Python packages whose names happen to start with one of those prefixes.
PYPI_DESPITE_PREFIX = frozenset({"libcst", "librosa", "libsass"})

# Conda names that differ from the PyPI name of the same software. Underscore/dash spelling
# differences need no entry: PyPI names are canonicalised anyway.
RENAMES = {
    "pytorch": "torch",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "python-graphviz": "graphviz",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "pyqt": "PyQt5",
    "tensorflow-base": "tensorflow",
    # conda's dask is the whole of it (dataframes, arrays, distributed); dask-core is PyPI's dask
    "dask": "dask[complete]",
    "dask-core": "dask",
}

_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)(?P<rest>.*)$")
_BRACKET = re.compile(r"^(?P<head>[^\[]*)\[(?P<body>[^\]]*)\]$")
_BRACKET_ITEM = re.compile(
    r"""\s*(?P<key>[a-z_]+)\s*=\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^,'"\s]+))\s*(?:,|$)"""
)
_BUILD = re.compile(r"^(?P<version>.*?[^=<>!~])=(?P<build>[^=<>!~].*)$")
_TERM = re.compile(r"^(?P<op>==|!=|>=|<=|~=|>|<|=)?\s*(?P<version>[A-Za-z0-9*][A-Za-z0-9_.+!*-]*)$")
_OPERATORS = ("==", "!=", ">=", "<=", "~=", ">", "<", "=")


def _bracket_version(body: str, text: str, origin: Origin) -> str | None:
    """The ``version`` key of a ``name[key=value, …]`` spec; other keys are build details."""
    version, pos = None, 0
    while pos < len(body):
        m = _BRACKET_ITEM.match(body, pos)
        if not m:
            raise _bad_spec(text, origin, "the [key=value] part is not understood")
        if m.group("key") == "version":
            version = next(v for v in (m.group("sq"), m.group("dq"), m.group("bare")) if v)
        pos = m.end()
    return version


def _bad_spec(text: str, origin: Origin, why: str) -> InputError:
    return InputError(
        f"cannot read the conda spec {text!r}: {why}",
        "write it as 'name', 'name=1.2', 'name>=1.2,<2' or 'name 1.2.*'",
        path=origin.path,
        line=origin.line,
    )


def _term(term: str, text: str, origin: Origin) -> str:
    """One conda version constraint as a PEP 440 one ("" means any version)."""
    m = _TERM.match(term.strip())
    if not m:
        raise _bad_spec(text, origin, f"{term!r} is not a version constraint")
    op, version = m.group("op"), m.group("version")
    if version == "*":
        return ""
    star = version.endswith("*")
    version = version.rstrip("*").rstrip(".")
    if op in (None, "=", "==") and (star or op == "="):
        return f"=={version}.*"  # conda's "=1.2" and "1.2*" both mean "1.2 or any 1.2.x"
    if op == "!=" and star:
        return f"!={version}.*"
    if op is None:
        return f"=={version}"
    return f"{op}{version}"


def parse_match_spec(text: str, origin: Origin) -> tuple[str, list[str]]:
    """Split a conda match spec into its package name and PEP 440 constraints."""
    spec = text.strip().split("::")[-1].strip()
    bracket = None
    if m := _BRACKET.match(spec):
        spec = m.group("head").strip()
        bracket = _bracket_version(m.group("body"), text, origin)
    m = _NAME.match(spec)
    if not m:
        raise _bad_spec(text, origin, "it does not start with a package name")
    name, rest = m.group("name"), m.group("rest")
    if rest[:1].isspace():
        tokens = rest.split()
        if len(tokens) > 1 and tokens[0] in _OPERATORS:
            tokens = [tokens[0] + tokens[1], *tokens[2:]]
        if len(tokens) > 2:
            raise _bad_spec(text, origin, "expected at most a version and a build string")
        version = tokens[0]
    elif b := _BUILD.match(rest):
        version = b.group("version")  # the build string after it is dropped
    else:
        version = rest
    if bracket is not None:
        version = bracket
    if "|" in version:
        raise InputError(
            f"the conda spec {text!r} allows several versions (an OR with '|')",
            "pin a single range instead, for example 'name>=1.1,<1.3'",
            path=origin.path,
            line=origin.line,
        )
    terms = [_term(t, text, origin) for t in version.split(",")] if version.strip() else []
    return name, [t for t in terms if t]


def python_version(terms: list[str]) -> str | None:
    """``python=3.10`` → "3.10", ``python==3.10.4`` → "3.10.4", else the specifier."""
    if len(terms) == 1 and terms[0].startswith("==") and "," not in terms[0]:
        return terms[0][2:].removesuffix(".*")
    return ",".join(terms) or None


def no_pypi(name: str) -> bool:
    """True for conda packages with no PyPI counterpart."""
    key = name.lower()
    if key in PYPI_DESPITE_PREFIX:
        return False
    return key in NO_PYPI or key.startswith(NO_PYPI_PREFIXES)


def pypi_name(name: str) -> str:
    """The PyPI name of the conda package ``name`` (check ``no_pypi`` first)."""
    return RENAMES.get(name.lower(), name)
