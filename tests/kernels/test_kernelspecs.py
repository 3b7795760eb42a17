"""The profile's kernel setup: IPython's history database under many busy kernels."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_orbit.kernels.kernelspecs import HISTORY_CONNECTION, install_ipython_config
from jupyter_orbit.paths import Paths


def test_history_connection_is_patient_and_a_user_s_config_is_kept(tmp_path: Path):
    profile = Paths(tmp_path).profile("default")
    config = profile.ipython_dir / "profile_default" / "ipython_kernel_config.json"
    install_ipython_config(profile)
    assert json.loads(config.read_text()) == {
        "HistoryAccessor": {"connection_options": HISTORY_CONNECTION}
    }
    # a user's own settings stay; a connection they chose is theirs
    config.write_text(json.dumps({"IPKernelApp": {"x": 1}, "HistoryAccessor": {"enabled": True}}))
    install_ipython_config(profile)
    data = json.loads(config.read_text())
    assert data["IPKernelApp"] == {"x": 1} and data["HistoryAccessor"]["enabled"] is True
    assert data["HistoryAccessor"]["connection_options"] == HISTORY_CONNECTION
    mine = {"HistoryAccessor": {"connection_options": {"timeout": 1}}}
    config.write_text(json.dumps(mine))
    install_ipython_config(profile)
    assert json.loads(config.read_text()) == mine
    config.write_text("{not json")  # not Orbit's to repair
    install_ipython_config(profile)
    assert config.read_text() == "{not json"
