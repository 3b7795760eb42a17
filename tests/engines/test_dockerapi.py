"""What of a project goes into an image: never version control, secrets or keys (whatever the
project's ignore files say), less what .orbitignore names, and the build says what it left out."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.dockerfile import BuildContext
from jupyter_orbit.progress import NullProgress

SECRETS = (
    ".git/config",
    ".env",
    "sub/.env.local",
    "id_rsa",
    "id_ed25519.pub",
    "keys/server.pem",
    "sub/deep/api.key",
    "my_secrets.txt",
    ".ssh/known_hosts",
    "aws_credentials.json",
    ".netrc",
)
KEPT = ("nb.ipynb", "data.csv", "sub/x.py", "sub/deep/readme.md")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for rel in (*SECRETS, *KEPT, "private/notes.txt", "sub/__pycache__/x.cpython-311.pyc"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"{rel}\n")
    # the user leaves out more; a `!` line cannot bring a secret back
    (root / ".orbitignore").write_text("# mine\nprivate/\n!.env\n")
    (root / ".dockerignore").write_text("!id_rsa\n")
    return root


def test_secrets_never_go_in_and_orbitignore_adds_more(project: Path):
    kept = dockerapi._project_files(project, dockerapi._project_ignore(project))
    files = {p for p in kept if (project / p).is_file()}
    assert files - {".dockerignore"} == set(KEPT)  # docker-py always sends that one along
    assert dockerapi.left_out(project) == [
        ".env",
        ".git/",
        ".netrc",
        ".ssh/",
        "aws_credentials.json",
        "id_ed25519.pub",
        "id_rsa",
        "keys/server.pem",
        "my_secrets.txt",
        "private/",
        "sub/.env.local",
        "sub/deep/api.key",
    ]


def test_an_image_build_leaves_them_out_and_says_so(docker_client: Any, project: Path):
    context = BuildContext("FROM scratch\nCOPY . /project/\n", (), tree=project)
    tag = f"orbit-test-context:{uuid.uuid4().hex[:12]}"
    progress = NullProgress()
    dockerapi.build(docker_client, context, tag, progress, what="the test image")
    try:
        container = docker_client.containers.create(tag, command=["none"])
        try:
            stream, _ = container.get_archive("/project")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                names = {m.name.removeprefix("project/") for m in tar.getmembers() if m.isfile()}
        finally:
            container.remove()
    finally:
        docker_client.images.remove(tag)
    # the engine always keeps the build's own two files in a context
    assert names - {".dockerignore", dockerapi.BUILD_DOCKERFILE} == set(KEPT)
    [said] = progress.warnings
    assert said.startswith("left out of the test image: .env, .git/, .netrc")
    assert ".orbitignore or .dockerignore" in said
