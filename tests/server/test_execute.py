"""What a run request may ask of the server (the attacks are in tests/security/test_run_body.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_orbit.server.execute import Refused, check_request


def runtime(root: Path, allow_host_access: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        root_dir=root.resolve(), allow_host_access=allow_host_access, default_engine="local"
    )


def body(cwd: Path, session: Path, **more) -> dict:
    return {"notebook": {}, "env_id": "abc", "cwd": str(cwd), "session": str(session), **more}


def test_requests_inside_the_root(tmp_path: Path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    root = tmp_path / "root"
    request = check_request(runtime(root), body(root / "sub", root / "sub" / "nb.ipynb"))
    assert request.cwd == root / "sub" and request.path == root / "sub" / "nb.ipynb"
    assert request.engine == "local" and request.kernel == "python"
    wide = check_request(
        runtime(root, allow_host_access=True),
        body(root, root / "nb.ipynb", allow_host_access=True, project_root="/"),
    )
    assert wide.cwd == root  # a body's project root is not taken at all


def test_requests_beyond_the_root_or_the_server_s_permissions(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "away").symlink_to(tmp_path, target_is_directory=True)
    for cwd, session, more, why in (
        (tmp_path, root / "nb.ipynb", {}, "not a folder inside"),
        (root / "away", root / "nb.ipynb", {}, "not a folder inside"),
        (Path(), root / "nb.ipynb", {}, "not a folder inside"),
        (root, tmp_path / "nb.ipynb", {}, "outside this server's root"),
        (root, root / "away" / "nb.ipynb", {}, "outside this server's root"),
        (root, root / "nb.ipynb", {"allow_host_access": True}, "--allow-host-access"),
    ):
        with pytest.raises(Refused, match=why):
            check_request(runtime(root), body(cwd, session, **more))
