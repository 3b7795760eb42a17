"""One search over the ecosystems a kernel can use: each asked in parallel, results merged.

Ranking: an exact name first, then names that start with the query, contain it as a word,
contain it at all, and last packages whose description matches; within a tier, the
ecosystems in the kernel's order (Python: PyPI, conda, apt), then the registry's popularity
where it reports one, then shorter names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_orbit.bazaar import kernel_ecosystems
from jupyter_orbit.ecosystems import get_ecosystem
from jupyter_orbit.ecosystems.base import Found
from jupyter_orbit.errors import InputError
from jupyter_orbit.paths import Paths


def notebook_kernel_name(notebook: Path) -> str:
    """The kernel recipe a notebook runs (its ``metadata.orbit.kernel``, else its kernelspec)."""
    from jupyter_orbit.manifests.notebook import load_notebook, notebook_kernel

    nb = load_notebook(notebook)
    orbit = (nb.get("metadata") or {}).get("orbit")
    if isinstance(orbit, dict) and isinstance(orbit.get("kernel"), str):
        return orbit["kernel"]
    return notebook_kernel(nb) or "python"


def search(
    paths: Paths,
    query: str,
    *,
    ecosystems: Sequence[str] | None = None,
    notebook: Path | None = None,
    kernel: str | None = None,
    limit: int = 10,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if not query.strip():
        raise InputError("nothing to search for", "e.g. `orbit search dataframe`")
    kernel = kernel or (notebook_kernel_name(notebook) if notebook else "python")
    usable = kernel_ecosystems(kernel)
    chosen = list(ecosystems) if ecosystems else list(usable)
    ecos = [get_ecosystem(name, paths, environ) for name in chosen]
    with ThreadPoolExecutor(max_workers=len(ecos)) as pool:
        futures = [
            pool.submit(e.search, query, limit=limit, prefix=usable.get(e.name, "")) for e in ecos
        ]
        found: list[Found] = []
        for eco, fut in zip(ecos, futures, strict=True):
            try:
                found.append(fut.result())
            except Exception as e:  # one broken registry must not break the others
                found.append(Found(eco.name, error=f"{type(e).__name__}: {e}"))
    order = {name: i for i, name in enumerate(chosen)}
    hits = [h for f in found for h in f.hits]
    hits.sort(key=lambda h: (h.tier, order[h.ecosystem], -(h.popularity or 0), len(h.name)))
    return {
        "query": query,
        "kernel": kernel,
        "ecosystems": chosen,
        "results": [h.to_dict() for h in hits[: limit * len(ecos)]],
        "stale": any(f.stale for f in found),
        "partial": any(f.partial for f in found),
        "notes": [f"{f.ecosystem}: {n}" for f in found for n in f.notes],
        "errors": {f.ecosystem: f.error for f in found if f.error},
    }
