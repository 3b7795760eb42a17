"""orbit publish --image, for real: the image is built through the Engine API, run with no Orbit
in it, each notebook's cell runs in its own environment through the server's REST API; the image
is pushed to a registry on 127.0.0.1, removed, pulled back and run again. Packages are resolved
as of 2025-06-01 (the notebooks' stamps)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Orbit, make_notebook
from tests.support.docker import wait_for
from tests.support.kernelws import KernelWS, Server

AS_OF = "2025-06-01"
REPO = "orbit-test-publish"
SHELL = "sub/shell.ipynb"


def stamped(packages: list[str]) -> dict:
    return {"orbit": {"as_of": AS_OF, "packages": {"pypi": packages}}}


def make_project(root: Path) -> Path:
    """Two notebooks with environments of their own, a Python one and a Bash one in a
    subfolder (attrs in both: shared), data, and what must never go into an image."""
    make_notebook(root / "a.ipynb", "print('hello from a')", metadata=stamped(["attrs"]))
    bash = {"kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"}}
    make_notebook(root / SHELL, "echo hi", metadata={**bash, **stamped(["attrs", "idna"])})
    (root / "data").mkdir()
    (root / "data" / "table.csv").write_text("x,y\n1,2\n")
    (root / ".env").write_text("API_KEY=do-not-ship\n")
    (root / "keys").mkdir()
    (root / "keys" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "scratch").mkdir()
    (root / "scratch" / "tmp.txt").write_text("scratch\n")
    # The project's own ignore file: its scratch folder, and an attempt to take a secret back.
    (root / ".orbitignore").write_text("scratch/\n!.env\n")
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Orbit:
    base = tmp_path_factory.mktemp("publish")
    (base / "home").mkdir()
    return Orbit(base / "orbit-home", base / "home")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project") / "demo")


def publish(home: Orbit, project: Path, *args: str) -> dict[str, Any]:
    r = home.run("publish", str(project), "--yes", "--json", *args, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module", autouse=True)
def remove_test_images() -> Iterator[None]:
    """The images these tests make (named REPO:…, here or in a test registry) go at the end."""
    yield
    import docker
    import docker.errors

    client = docker.from_env()
    for img in client.images.list():
        for tag in img.tags:
            if tag.rsplit(":", 1)[0].endswith(REPO):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)


@pytest.fixture(scope="module")
def published(home: Orbit, project: Path, docker_client: Any, docker_base: str) -> dict[str, Any]:
    name = f"{REPO}:{uuid.uuid4().hex[:8]}"
    return publish(home, project, "--image", name)["image"]


class Running:
    """A container of a published image, on an ephemeral port of 127.0.0.1."""

    def __init__(self, client: Any, image: str, token: str | None) -> None:
        env = {"JUPYTER_TOKEN": token} if token else {}
        self.container = client.containers.run(
            image,
            detach=True,
            ports={"8888/tcp": ("127.0.0.1", None)},
            environment=env,
            labels={"org.jupyter.orbit.test": "publish"},
        )
        self.container.reload()
        port = self.container.attrs["NetworkSettings"]["Ports"]["8888/tcp"][0]["HostPort"]
        self.url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:  # any answer: JupyterLab's /api says 200, Voilà has none (404)
                return httpx.get(self.url + "/api", timeout=2).status_code < 500
            except httpx.HTTPError:
                self.container.reload()
                assert self.container.status == "running", self.logs()
                return False

        try:
            wait_for(up, timeout=180, what="the published server")
        except BaseException:
            self.stop()  # never left running when it does not come up
            raise

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def stop(self) -> None:
        self.container.remove(force=True)


@pytest.fixture
def run_image(docker_client: Any) -> Iterator[Any]:
    started: list[Running] = []

    def run(image: str, token: str | None = None) -> Running:
        started.append(Running(docker_client, image, token))
        return started[-1]

    yield run
    for r in started:
        r.stop()


def run_cell(server: Server, notebook: str, code: str, kernel: str = "python3") -> Any:
    session = server.new_session(notebook, kernel=kernel)

    async def go() -> Any:
        async with KernelWS(server, session["kernel"]["id"]) as k:
            await k.kernel_info()
            return await k.execute(code)

    try:
        return asyncio.run(go())
    finally:
        server.delete(f"/api/sessions/{session['id']}")


PROBE = (
    "import os, sys, attrs\n"
    "print(sys.prefix, os.getuid(), os.getcwd(), attrs.__file__)\n"
    "try:\n    import idna\n    print('idna yes')\nexcept ImportError:\n    print('idna no')\n"
)


def test_each_notebook_runs_in_its_own_environment(published: dict, run_image: Any):
    """One container (started the first time a user would: no JUPYTER_TOKEN, so the server
    prints a random token in its log) for every check made through the server's REST API."""
    running = run_image(published["image"])
    found = re.search(r"\?token=([0-9a-f]{32,})", running.logs())
    assert found, running.logs()[-2000:]
    server = Server(running.url, found[1])
    envs = dict(published["notebooks"])
    assert set(envs) == {"a.ipynb", SHELL} and len(set(envs.values())) == 2
    specs = server.get("/api/kernelspecs").json()["kernelspecs"]
    # the generic ones notebooks name, and one per environment to choose by hand
    assert {"python3", "bash"} <= set(specs) and len(specs) == 4

    a = run_cell(server, "a.ipynb", PROBE)
    assert a.status == "ok", a.error
    prefix, uid, cwd, attrs_file = a.stdout.splitlines()[0].split()
    assert prefix == f"/opt/orbit/envs/{envs['a.ipynb']}"
    assert uid == "1000" and cwd == "/opt/orbit/project"
    assert attrs_file.startswith("/opt/orbit/shared/attrs-")  # held alike: one copy for both
    assert a.stdout.splitlines()[1] == "idna no"  # the other notebook's package is not a's

    # The Bash notebook: the Bash kernel of its own environment, which comes first on PATH,
    # in the notebook's folder; its Python reads the shared attrs and its own idna.
    shell = run_cell(
        server,
        SHELL,
        'echo "$VIRTUAL_ENV $(command -v python) $(id -u) $PWD"\n'
        'python -c "import attrs, idna; print(attrs.__file__)"',
        kernel="bash",
    )
    assert shell.status == "ok", shell.error
    prefix = f"/opt/orbit/envs/{envs[SHELL]}"
    first, attrs_file = shell.stdout.strip().splitlines()
    assert first.split() == [prefix, f"{prefix}/bin/python", "1000", "/opt/orbit/project/sub"]
    assert attrs_file.startswith("/opt/orbit/shared/attrs-"), shell.stdout

    # A notebook the image does not know gets the project's environment (the first here).
    new = run_cell(server, "new.ipynb", "import sys; print(sys.prefix)")
    assert new.stdout.strip().startswith("/opt/orbit/envs/")

    # JupyterLab's page itself (its settings read Babel's English data, all the image keeps).
    page = server.get("/lab")
    assert page.status_code == 200 and "JupyterLab" in page.text
    assert server.get("/lab/api/translations/").status_code == 200

    # No token, no access.
    assert httpx.get(server.url + "/api/kernels", timeout=10).status_code == 403

    # The image's healthcheck, run now, says the server is healthy.
    health = running.container.attrs["Config"]["Healthcheck"]["Test"]
    result = running.container.exec_run(health[1:])
    assert result.exit_code == 0, result.output


def _tar_names(container: Any, path: str) -> set[str]:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {m.name for m in tar.getmembers()}


def test_the_image_holds_the_project_without_its_secrets_and_says_so(
    published: dict, docker_client: Any
):
    assert set(published["left_out"]) >= {".env", ".git/", "keys/id_rsa", "scratch/"}
    container = docker_client.containers.create(published["image"], command=["true"])
    try:
        names = _tar_names(container, "/opt/orbit/project")
    finally:
        container.remove(force=True)
    assert {"project/a.ipynb", f"project/{SHELL}", "project/data/table.csv"} <= names
    assert not [n for n in names if re.search(r"\.env|id_rsa|\.git|scratch|orbitignore", n)]

    image = docker_client.images.get(published["image"])
    config, labels = image.attrs["Config"], image.labels
    assert config["User"] == "1000:100" and "8888/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert labels["org.jupyter.orbit.as-of"] == f"{AS_OF}T00:00:00Z"
    assert json.loads(labels["org.jupyter.orbit.notebooks"]) == published["notebooks"]
    for nb in ("a.ipynb", SHELL):
        lock = json.loads(labels[f"org.jupyter.orbit.lock.{published['notebooks'][nb]}"])
        assert any(line.startswith("attrs==") for line in lock["pypi"])


def test_a_notebook_edit_rebuilds_only_the_projects_layer(
    home: Orbit, project: Path, published: dict, docker_client: Any, tmp_path: Path
):
    copy = shutil.copytree(project, tmp_path / "demo")
    make_notebook(copy / "a.ipynb", "print('edited')", metadata=stamped(["attrs"]))
    name = f"{REPO}:edited-{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    again = publish(home, copy, "--image", name)["image"]
    print(f"rebuild after an edit: {time.perf_counter() - start:.2f} s")  # measured in bench/
    assert again["runtime"] == published["runtime"]  # nothing but the project was rebuilt
    before = docker_client.images.get(published["image"]).attrs["RootFS"]["Layers"]
    after = docker_client.images.get(name).attrs["RootFS"]["Layers"]
    assert after[:-1] == before[:-1] and after[-1] != before[-1]


def test_pushed_removed_pulled_back_and_run(
    home: Orbit, project: Path, published: dict, registry: str, docker_client: Any, run_image
):
    name = published["image"]
    out = publish(home, project, "--image", name, "--push", registry)
    pushed = out["pushed"]
    assert pushed["reference"] == f"{registry}/{name}"
    assert httpx.get(f"http://{registry}/v2/_catalog").json()["repositories"] == [REPO]
    # Removed here: every tag of the image, so its own layers go (the runtime's stay).
    image_id = docker_client.images.get(name).id
    for tag in docker_client.images.get(name).tags:
        docker_client.images.remove(tag)
    with pytest.raises(Exception, match=r"No such image|not found"):
        docker_client.images.get(image_id)
    pulled = docker_client.images.pull(*pushed["reference"].rsplit(":", 1))
    assert f"{registry}/{REPO}@{pushed['digest']}" in pulled.attrs["RepoDigests"]
    token = secrets.token_hex(16)
    server = Server(run_image(pushed["reference"], token).url, token)
    reply = run_cell(server, "a.ipynb", "import attrs, sys; print(sys.prefix)")
    assert reply.status == "ok", reply.error
    assert reply.stdout.strip().endswith(published["notebooks"]["a.ipynb"])
    docker_client.images.get(pushed["reference"]).tag(*name.split(":"))  # for later tests


def test_a_voila_app_shows_one_notebook(
    home: Orbit, project: Path, docker_client: Any, docker_base: str, run_image: Any
):
    name = f"{REPO}:voila-{uuid.uuid4().hex[:6]}"
    out = publish(home, project, "--image", name, "--app", "voila", "a.ipynb")["image"]
    assert list(out["notebooks"]) == ["a.ipynb"]
    running = run_image(name, "v0ila")
    assert httpx.get(running.url + "/", timeout=30).status_code in (302, 403)  # a token first
    page = httpx.get(running.url + "/?token=v0ila", timeout=300, follow_redirects=True)
    assert page.status_code == 200 and "hello from a" in page.text


@pytest.mark.slow
def test_a_hub_image_has_the_single_user_server_and_copies_the_project_home(
    home: Orbit, project: Path, docker_client: Any, tmp_path: Path
):
    """--z2jh: the image holds JupyterHub's single-user server (the chart starts it), and the
    postStart hook its config.yaml gives copies the project into the user's home without
    overwriting what the user changed. A server image of its own (50 to 60 s on a busy machine),
    so CI runs it once in a step of its own (.ci/run)."""
    if os.environ.get("ORBIT_SLOW_TESTS") != "1":
        pytest.skip("slow (JupyterHub's server image): ORBIT_SLOW_TESTS=1 runs it; CI does")
    from ruamel.yaml import YAML

    name = f"{REPO}:hub-{uuid.uuid4().hex[:6]}"
    out = publish(home, project, "--image", name, "--z2jh", str(tmp_path / "k8s"))
    config = YAML(typ="safe").load(tmp_path / "k8s" / "config.yaml")
    repo, tag = name.rsplit(":", 1)
    assert config["singleuser"]["image"]["name"] == repo
    assert config["singleuser"]["image"]["tag"] == tag
    assert list(out["z2jh"]["written"]) == [
        str(tmp_path / "k8s" / n) for n in ("config.yaml", "namespace.yaml")
    ]
    hook = config["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    # As the chart does: the user's home exists (a volume) and the user changed a.ipynb.
    script = (
        "echo mine > $HOME/a.ipynb && "
        + shlex.join(hook)
        + " && cd $HOME && ls -A . sub && cat a.ipynb && jupyterhub-singleuser --version"
    )
    output = docker_client.containers.run(
        name, ["sh", "-c", script], remove=True, labels={"org.jupyter.orbit.test": "publish"}
    ).decode()
    listed = output.split()
    assert {"data", "sub", "shell.ipynb"} <= set(listed) and "mine" in listed
    assert not [n for n in listed if n in {".env", ".git", "keys", "scratch"}]
    assert re.search(r"^5\.\d+\.\d+", output.strip().splitlines()[-1], re.M), output
