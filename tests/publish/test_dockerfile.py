"""The published image's renders, compared with golden files (ORBIT_UPDATE_GOLDEN=1 rewrites
them), and what they promise: environments side by side, the project last, no token."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_orbit.publish import dockerfile as pdf
from tests.support.golden import golden_in

golden = golden_in(Path(__file__).parent / "golden")
SERVER = "orbit-publish-server:aaaa-bbbb"


def kenv(env_id: str, *, kernelspec: str = "python3", apt: tuple[str, ...] = (), label="a.ipynb"):
    prefix = pdf.env_prefix(env_id)
    return pdf.KernelEnv(
        env_id=env_id,
        image=f"orbit-kernel:{env_id}",
        image_id=f"sha256:{env_id}",
        kernelspec=kernelspec,
        display_name="Python 3 (ipykernel)" if kernelspec == "python3" else "Bash",
        language="python" if kernelspec == "python3" else "bash",
        argv=(f"{prefix}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"),
        env=tuple(sorted(pdf.kernel_variables(prefix, {}).items())),
        label=label,
        apt=apt,
        as_of="2025-06-01T00:00:00Z",
        lock='{"pypi":["numpy==2.2.6"]}',
        logo="<svg/>",
    )


def runtime(*envs: pdf.KernelEnv, defaults=None) -> pdf.Runtime:
    defaults = defaults or {e.kernelspec: e.env_id for e in reversed(envs)}
    return pdf.Runtime(SERVER, envs, tuple(sorted(defaults.items())))


def render(rt: pdf.Runtime):
    return pdf.render_runtime(rt, launcher="# launcher\n", envtool="# envs\n", version="0.1.0")


def test_one_environment_is_copied_and_relocated_in_place():
    ctx = render(runtime(kenv("e1")))
    golden("runtime-one.Dockerfile", ctx.dockerfile)
    assert " AS envs" not in ctx.dockerfile  # nothing to share with
    files = dict(ctx.files)
    spec = json.loads(files["orbit/share/jupyter/kernels/python3/kernel.json"])
    assert spec["argv"][-2:] == ["python3", "{connection_file}"]  # the launcher decides
    assert list(json.loads(files["orbit/share/orbit/kernels.json"])["environments"]) == ["e1"]
    config = json.loads(files["orbit/env/etc/jupyter/jupyter_server_config.json"])
    assert "token" not in json.dumps(config).lower()  # JUPYTER_TOKEN, else a printed one
    assert config["KernelSpecManager"]["allowed_kernelspecs"] == ["python3"]


def test_several_environments_share_what_they_hold_alike():
    ctx = render(runtime(kenv("e2", label="b.ipynb"), kenv("e1", apt=("graphviz",))))
    golden("runtime-shared.Dockerfile", ctx.dockerfile)
    lines = ctx.dockerfile.splitlines()
    shared = lines.index(f"COPY --from=envs {pdf.SHARED} {pdf.SHARED}")
    own = [i for i, ln in enumerate(lines) if ln.startswith("COPY --from=envs /opt/orbit/envs/")]
    assert len(own) == 2 and shared < min(own)  # one shared layer, then one per environment
    specs = {n for n, _ in ctx.files if n.endswith("kernel.json")}
    assert {s.split("/")[-2] for s in specs} == {"python3", "orbit-e1", "orbit-e2"}
    assert dict(ctx.files)["apt.txt"] == b"graphviz\n"
    labels = dict(ctx.labels)
    assert json.loads(labels[pdf.LABEL_LOCK + "e1"]) == {"pypi": ["numpy==2.2.6"]}
    assert [e["id"] for e in json.loads(labels[pdf.LABEL_ENVIRONMENTS])] == ["e1", "e2"]


def test_the_runtime_is_named_by_its_inputs():
    one = render(runtime(kenv("e1")))
    assert render(runtime(kenv("e1"))).digest() == one.digest()
    rebuilt = pdf.KernelEnv(**{**kenv("e1").__dict__, "image_id": "sha256:other"})
    assert render(runtime(rebuilt)).digest() != one.digest()  # a rebuilt kernel image


def test_each_kernel_gets_its_environment_first_on_path():
    env = dict(kenv("e1").env)
    assert env["PATH"].startswith("/opt/orbit/envs/e1/bin:/opt/orbit/base/bin:")
    assert env["VIRTUAL_ENV"] == "/opt/orbit/envs/e1"


def test_the_app_puts_the_project_last(tmp_path: Path):
    (tmp_path / "a.ipynb").write_text("{}")
    app = pdf.App(
        runtime="orbit-publish:0123",
        title="demo",
        notebooks=(("a.ipynb", "e1"),),
        files=(("a.ipynb", tmp_path / "a.ipynb"),),
        as_of=("2025-06-01T00:00:00Z",),
    )
    ctx = pdf.render_app(app)
    golden("app-lab.Dockerfile", ctx.dockerfile)
    lines = ctx.dockerfile.splitlines()
    copy = lines.index("COPY --chown=1000:100 project /opt/orbit/project/")
    assert [ln.split()[0] for ln in lines[copy + 1 :]][:2] == ["CMD", "LABEL"]  # nothing after
    assert dict(ctx.files)["project/a.ipynb"] == tmp_path / "a.ipynb"
    assert json.loads(dict(ctx.labels)[pdf.LABEL_NOTEBOOKS]) == {"a.ipynb": "e1"}


def test_a_voila_app_serves_one_notebook_with_a_token():
    app = pdf.App("orbit-publish:0123", "demo", (("a.ipynb", "e1"),), (), (), voila="a.ipynb")
    ctx = pdf.render_app(app)
    golden("app-voila.Dockerfile", ctx.dockerfile)
    assert "--Voila.auto_token=True" in ctx.dockerfile


def test_the_server_is_the_engines_render_trimmed_of_what_it_never_reads():
    from jupyter_orbit import __version__
    from jupyter_orbit.ecosystems.pypi import pypi_requirement
    from jupyter_orbit.model import EnvSpec
    from jupyter_orbit.publish.image import TRIM, server_context, server_spec

    spec = EnvSpec(python="3.11", requirements=(pypi_requirement("jupyterlab==4.4.0"),))
    ctx = server_context(spec, "orbit-base:0123")
    golden("server-lab.Dockerfile", ctx.dockerfile.replace(__version__, "V"))
    stage = ctx.dockerfile.split("\n\n")[0]  # the build stage: installed, then trimmed
    assert stage.rstrip().endswith(TRIM)
    hub = server_spec("jupyterlab", hub=True)
    assert {r.name for r in hub.requirements} == {"jupyterlab", "jupyterhub"}
    assert [r.name for r in server_spec("voila", hub=False).requirements] == ["voila"]
