"""What a published image or repository must never carry: secrets, keys and version control
(whatever the project's own ignore files say), the content of links that lead out of the
project, a token."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from jupyter_orbit.engines.dockerapi import write_context
from jupyter_orbit.paths import Paths
from jupyter_orbit.prepare import Consent
from jupyter_orbit.progress import NullProgress
from jupyter_orbit.publish import dockerfile as pdf
from jupyter_orbit.publish.binder import write_binder
from jupyter_orbit.publish.project import collect
from tests.conftest import make_notebook

SECRETS = (".env", "deploy.env", "keys/id_ed25519", "certs/server.key", ".aws/credentials")


def risky_project(root: Path, elsewhere: Path) -> Path:
    make_notebook(root / "a.ipynb", "1", metadata={"orbit": {"as_of": "2025-06-01"}})
    for rel in SECRETS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("SECRET-VALUE\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote] url = https://user:SECRET-VALUE@host\n")
    # The project's ignore file tries to take secrets back in: it cannot.
    (root / ".orbitignore").write_text("!.env\n!keys/\n!.git\n")
    elsewhere.write_text("SECRET-VALUE outside the project\n")
    (root / "notes.txt").symlink_to(elsewhere)
    return root


def test_the_images_context_holds_no_secret_and_no_content_from_outside(tmp_path: Path):
    root = risky_project(tmp_path / "p", tmp_path / "outside.txt")
    project = collect(Paths(tmp_path / "home"), root, until="resolve")
    assert {".env", "deploy.env", ".git/", "keys/id_ed25519", "certs/server.key"} <= set(
        project.left_out
    ) and ".aws/" in project.left_out
    app = pdf.App(
        "orbit-publish:x",
        "p",
        tuple(project.notebooks.items()),
        tuple((rel, root / rel) for rel in project.files),
        (),
    )
    buf = io.BytesIO()
    write_context(pdf.render_app(app), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
        contents = b"".join(
            f.read() for m in tar.getmembers() if m.isfile() and (f := tar.extractfile(m))
        )
    assert "project/a.ipynb" in members
    assert b"SECRET-VALUE" not in contents
    link = members["project/notes.txt"]
    assert link.issym() and link.linkname == str(tmp_path / "outside.txt")  # a link, not content


def test_a_binder_copy_holds_no_secret_and_follows_no_link_out(tmp_path: Path):
    root = risky_project(tmp_path / "p", tmp_path / "outside.txt")
    paths = Paths(tmp_path / "home")
    project = collect(paths, root, until="resolve")
    out = write_binder(
        paths, project, tmp_path / "repo", consent=Consent(), progress=NullProgress()
    )
    written = [p for p in (tmp_path / "repo").rglob("*") if p.is_file()]
    assert written and not [p for p in written if b"SECRET-VALUE" in p.read_bytes()]
    assert not (tmp_path / "repo" / "notes.txt").exists()
    assert any("notes.txt" in n and "lead out" in n for n in out.notes)


def test_no_token_is_baked_into_an_image():
    env = pdf.KernelEnv(
        "e", "orbit-kernel:e", "sha256:e", "python3", "P", "python", ("p",), (), "a"
    )
    rt = pdf.Runtime("server", (env,), (("python3", "e"),))
    ctx = pdf.render_runtime(rt, launcher="", envtool="")
    assert "token" not in ctx.dockerfile.lower()
    config = json.loads(dict(ctx.files)["orbit/env/etc/jupyter/jupyter_server_config.json"])
    assert "token" not in json.dumps(config).lower() and "password" not in json.dumps(config)
