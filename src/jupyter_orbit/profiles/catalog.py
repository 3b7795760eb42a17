"""Finding prebuilt JupyterLab extensions on PyPI.

PyPI has no search API (its XML-RPC search is switched off and its JSON API answers only for a
known name), so ``orbit ext search`` looks in two places: a short list kept here of well-used
prebuilt extensions (picked by PyPI download ranking and by what the JupyterLab documentation
points to), matched against the words asked for; and, when the query is itself a package name,
that name on PyPI. Every hit is then looked up in PyPI's JSON API for its latest version,
summary and whether it declares the ``Framework :: Jupyter :: JupyterLab :: Extensions ::
Prebuilt`` classifier — offline, the list's own descriptions are shown and say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from packaging.utils import canonicalize_name

PREBUILT = "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt"
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# name, what it does, more words people search with
CATALOG: tuple[tuple[str, str, str], ...] = (
    ("jupyterlab-execute-time", "Show when and how long each cell ran", "timing cells"),
    ("jupyterlab-spellchecker", "Spell checking in Markdown cells and text files", "spelling"),
    ("jupyter-resource-usage", "Memory and CPU use of the kernel in the status bar", "monitor"),
    ("jupyterlab-git", "Git: stage, commit, diff, push and pull from JupyterLab", "vcs version"),
    ("jupyterlab-lsp", "Completion, hover, diagnostics from language servers", "ide lint"),
    ("jupyterlab-code-formatter", "Format code cells with black, isort, ruff, styler", "black"),
    ("jupyterlab-vim", "Vim key bindings in notebooks and editors", "keys keyboard"),
    ("jupyterlab-myst", "MyST Markdown in notebooks (admonitions, figures, roles)", "markdown"),
    ("lckr-jupyterlab-variableinspector", "A panel listing the kernel's variables", "debug"),
    ("jupyter-collaboration", "Real-time collaboration on notebooks and files", "rtc share"),
    ("jupyterlab-widgets", "Interactive widgets (ipywidgets) in JupyterLab", "ipywidgets ui"),
    ("jupyter-archive", "Download folders as archives and extract archives", "zip tar"),
    ("jupyterlab-latex", "Edit and compile LaTeX documents", "tex pdf"),
    ("jupyterlab-unfold", "A tree view file browser", "files browser"),
    ("jupyterlab-tour", "Guided tours of the JupyterLab interface", "help teaching"),
    ("jupyterlab-h5web", "Explore and plot HDF5 files", "hdf5 data"),
    ("jupyterlab-night", "A dark theme", "theme dark"),
    ("jupyterlab-theme-solarized-dark", "The Solarized dark theme", "theme dark"),
    ("jupyterlab-miami-nights", "A glowing 80s theme", "theme dark"),
    ("jupyter-scheduler", "Run notebooks as scheduled jobs", "jobs cron"),
    ("jupyterlab-quickopen", "Open a file by typing part of its name", "files search"),
    ("jupyterlab-search-replace", "Search and replace across files", "find grep"),
    ("jupyterlab-favorites", "Favourite folders for quick browsing", "files bookmarks"),
    ("jupyterlab-recents", "Recently opened files and folders", "files history"),
    ("jupyterlab-github", "Browse GitHub repositories", "git vcs"),
    ("jupyterlab-katex", "Render math with KaTeX", "math latex"),
    ("jupyterlab-geojson", "Render GeoJSON files and outputs", "maps geo"),
    ("jupyterlab-fasta", "Render FASTA sequence files", "biology"),
    ("jupyterlab-cell-flash", "Flash a cell when it runs", "cells"),
    ("jupyterlab-gridwidth", "Lay cells out side by side", "cells layout"),
    ("jupyterlab-topbar-text", "Arbitrary text in the top bar", "ui"),
    ("jupyterlab-nvdashboard", "GPU usage dashboards", "gpu monitor nvidia"),
    ("jupyterlab-language-pack-fr-fr", "JupyterLab in French", "language translation"),
    ("jupyterlab-language-pack-de-de", "JupyterLab in German", "language translation"),
    ("jupyterlab-language-pack-es-es", "JupyterLab in Spanish", "language translation"),
    ("jupyterlab-language-pack-zh-cn", "JupyterLab in Simplified Chinese", "language translation"),
    ("jupytext", "Notebooks as Markdown or scripts, paired with the .ipynb", "text markdown"),
)


@dataclass(frozen=True)
class Hit:
    name: str
    summary: str
    version: str | None  # latest on PyPI; None when it was not looked up
    prebuilt: bool | None  # declares the Prebuilt classifier; None when unknown
    listed: bool  # in Orbit's list (else: found by its exact name)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "version": self.version,
            "prebuilt": self.prebuilt,
            "listed": self.listed,
        }


Fetch = Callable[[str], "dict | None"]


def pypi_fetch(timeout: float = 10) -> Fetch:
    """A function that returns PyPI's JSON for a project (None if absent); raises when offline."""
    import httpx

    client = httpx.Client(timeout=timeout, follow_redirects=True)

    def fetch(name: str) -> dict | None:
        r = client.get(PYPI_JSON.format(name=name))
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    return fetch


def matches(query: str) -> list[tuple[str, str]]:
    words = [w for w in re.split(r"[\s,]+", query.lower()) if w]
    out = []
    for name, summary, keywords in CATALOG:
        text = f"{name} {summary} {keywords}".lower()
        if all(w in text for w in words):
            out.append((name, summary))
    return out


def search(query: str, fetch: Fetch | None, *, limit: int = 15) -> tuple[list[Hit], str | None]:
    """Extensions matching ``query``; the second value says why PyPI could not be asked."""
    candidates = matches(query)[:limit]
    listed = {canonicalize_name(n) for n, _ in candidates}
    exact = query.strip()
    if _NAME.match(exact) and canonicalize_name(exact) not in listed:
        candidates.append((exact, ""))
    if fetch is None:
        return [
            Hit(n, s, None, None, True) for n, s in candidates if canonicalize_name(n) in listed
        ], "not asked"

    def look(item: tuple[str, str]) -> tuple[tuple[str, str], dict | None]:
        return item, fetch(item[0])

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(look, candidates))
    except Exception as e:  # offline, or PyPI unwell: still show the list's own entries
        reason = f"{type(e).__name__}: {e}"[:200]
        return [
            Hit(n, s, None, None, True) for n, s in candidates if canonicalize_name(n) in listed
        ], reason
    hits = []
    for (name, summary), data in found:
        if data is None:
            continue
        info = data.get("info", {})
        hits.append(
            Hit(
                info.get("name") or name,
                summary or (info.get("summary") or "").strip(),
                info.get("version"),
                PREBUILT in (info.get("classifiers") or []),
                canonicalize_name(name) in listed,
            )
        )
    return hits, None
