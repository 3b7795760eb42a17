"""How orbit status shows the services beside the kernels."""

from __future__ import annotations

import pytest

from jupyter_orbit.cli import _services
from jupyter_orbit.paths import Paths


def test_status_shows_each_service_its_state_ports_and_kernels(capsys: pytest.CaptureFixture):
    _services.show(
        [
            {
                "service": "postgres",
                "project": "orbit-svc-analysis-1234abcd",
                "source": "/p/analysis/compose.yaml",
                "container": "orbit-svc-analysis-1234abcd-postgres",
                "image": "orbit-service-postgres:15-abc",
                "status": "running",
                "health": "healthy",
                "ports": {"5432": "127.0.0.1:49153"},
                "kernels": 2,
                "keep": False,
            }
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "services beside the kernels:"
    assert out[1].split() == [
        "postgres",
        "running,",
        "healthy",
        "127.0.0.1:49153→5432",
        "2",
        "kernels",
    ]
    assert "from /p/analysis/compose.yaml" in out[2]
    _services.show([])
    assert capsys.readouterr().out == ""  # nothing to say


def test_no_engine_here_lists_nothing_and_imports_no_client(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert _services.listing(Paths(tmp_path)) == []
