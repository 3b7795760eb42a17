"""The committed JupyterLab extension build matches its sources (rebuild: see README)."""

import importlib.util
import json

from tests.conftest import REPO


def _sources():
    spec = importlib.util.spec_from_file_location("sources", REPO / "labextension" / "sources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_build_matches_the_sources():
    sources = _sources()
    built = REPO / sources.OUTPUT
    recorded = (built / sources.STAMP).read_text().strip()
    assert recorded == sources.source_hash(REPO / "labextension"), (
        "labextension/ changed without a rebuild: run `pip install -e .` with npm on PATH "
        "(the build hook rebuilds it), and commit the result"
    )
    package = json.loads((built / "package.json").read_text())
    assert package["name"] == "jupyter-orbit"
    assert (built / package["jupyterlab"]["_build"]["load"]).is_file()
