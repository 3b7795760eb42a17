"""Benchmark of the docker engine (issue 5): image size, build times, container kernel start,
hub spawn, each next to what a user would otherwise do, in one run.

    .venv/bin/python bench/containers.py [--repeat N] [--no-hub] [--keep]

(Not bench/docker.py: a script of that name would shadow docker-py when run.)

1. Image size of a Python + numpy + pandas kernel image, against a repo2docker-style single
   image (one environment with the Jupyter server, the kernel and the packages, built in one
   pass over the same Debian root), and the layers a second environment adds.
2. Build times: cold (no layer cache, base present), and warm after a notebook edit with
   requirements unchanged: Orbit's kernel image (nothing to build), Orbit's hub user image (one
   layer), and a typical hand-written Dockerfile (`COPY . .` then `pip install`).
3. A kernel until kernel_info_reply: in a container (Orbit's host-side process + container), the
   same environment with the local engine, and the engine's floor (`true` in a container).
4. Hub: a user's server from the spawn request until it answers through the proxy.

Prints a Markdown report on stdout, progress on stderr. Needs a Docker engine, network access to
PyPI, and (for part 4) Docker Compose.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_orbit.engines import dockerapi
from jupyter_orbit.engines.base import Launch
from jupyter_orbit.engines.baseimage import ensure_base
from jupyter_orbit.engines.docker import DockerEngine
from jupyter_orbit.engines.dockerfile import BuildContext, render_kernel, render_server, render_user
from jupyter_orbit.engines.local import LocalEngine
from jupyter_orbit.imagelayout import LOCAL_ROOTFS, REGISTRY_ROOTFS
from jupyter_orbit.kernels.recipes import get_recipe
from jupyter_orbit.paths import Paths
from jupyter_orbit.resolve import resolve

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import make_notebook  # noqa: E402

MB = 1e6


PACKAGES = ["numpy", "pandas"]


class Progress:
    def step(self, action: str, detail: str = "") -> None:
        print(f"  [{time.strftime('%X')}] {action} {detail}", file=sys.stderr, flush=True)

    def log(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print(f"  warning: {message}", file=sys.stderr, flush=True)


def say(text: str) -> None:
    print(f"[{time.strftime('%X')}] {text}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s" + (
        f" ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else ""
    )


# -- 1 + 2: images -----------------------------------------------------------------------


def repo2docker_style(base_rootfs: str, project: Path) -> BuildContext:
    """One image, one environment: the Jupyter server, the kernel and the project's packages,
    then the project, built in one pass the way repo2docker lays an image out (it starts from
    buildpack-deps:jammy and conda, neither reachable here, so this understates its size)."""
    lines = [
        f"FROM {base_rootfs}",
        "ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8",
        *TRUST_HOST_CA,
        "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv "
        "ca-certificates less locales unzip wget gettext-base "
        "&& apt-get clean && rm -rf /var/lib/apt/lists/*",
        "RUN python3 -m venv /srv/conda-like && /srv/conda-like/bin/pip install --no-cache-dir "
        "jupyterlab notebook 'jupyterhub>=5,<6' ipykernel",
        "COPY requirements.txt /tmp/requirements.txt",
        "RUN /srv/conda-like/bin/pip install --no-cache-dir -r /tmp/requirements.txt",
        "COPY . /home/jovyan",
    ]
    return BuildContext("\n".join(lines) + "\n", _ca_files(), tree=project)


def hand_written(base_rootfs: str, project: Path) -> BuildContext:
    """What many hand-written Dockerfiles do: copy the project, then install its requirements
    (so any edit invalidates the install)."""
    lines = [
        f"FROM {base_rootfs}",
        *TRUST_HOST_CA,
        "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv "
        "ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/*",
        "COPY . /work",
        "RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir -r "
        "/work/requirements.txt ipykernel",
    ]
    return BuildContext("\n".join(lines) + "\n", _ca_files(), tree=project)


# What a user behind this machine's TLS-inspecting proxy must add to any Dockerfile (Orbit's base
# does it by itself): the proxy's CA, and pip told to use the system store.
TRUST_HOST_CA = [
    "COPY host-ca.crt /usr/local/share/ca-certificates/host-ca.crt",
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
]


def _ca_files() -> tuple[tuple[str, bytes | Path], ...]:
    from jupyter_orbit.engines.baseimage import extra_certificates

    return (("host-ca.crt", extra_certificates() or b"\n"),)


def own_bytes(client: Any, image: str, base: str) -> int:
    """Bytes of ``image``'s layers that ``base`` does not have."""
    ours = client.images.get(image)
    theirs = set(client.images.get(base).attrs["RootFS"]["Layers"])
    layers = ours.attrs["RootFS"]["Layers"]
    history = [h for h in reversed(ours.history()) if h["Size"] or "#(nop)" not in h["CreatedBy"]]
    sizes = [h["Size"] for h in history][-len(layers) :]
    return sum(s for s, layer in zip(sizes, layers, strict=False) if layer not in theirs)


# -- 3: kernels --------------------------------------------------------------------------


async def kernel_ready(argv: list[str], cwd: Path) -> float:
    from jupyter_orbit.execute import start_kernel

    with Path(os.devnull).open("wb") as quiet:  # the kernel's banner is not part of the report
        start = time.perf_counter()
        km = await start_kernel(argv, "python", cwd, "", log=quiet)
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=180)
            return time.perf_counter() - start
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=False)


def docker_true(client: Any, image: str) -> float:
    container = client.containers.create(image, ["true"])
    try:
        seconds, _ = timed(lambda: (container.start(), container.wait()))
        return seconds
    finally:
        container.remove(force=True)


# -- 4: hub ------------------------------------------------------------------------------


def hub_spawns(work: Path, project: Path, users: int) -> tuple[list[float], float]:
    import httpx

    from jupyter_orbit.hub.confection import read_env
    from jupyter_orbit.hub.runner import Hub

    paths = Paths(work / "orbit-home")
    profile = paths.profile("bench").ensure()
    hub = Hub(paths, profile)
    up_seconds, info = timed(
        lambda: hub.up(
            project, port=None, rewrite=False, allow_host_access=False, progress=Progress()
        )
    )
    token = read_env((info.folder / "hub.env").read_text())["ORBIT_HUB_API_TOKEN"]
    times = []
    try:
        with httpx.Client(base_url=info.url, headers={"Authorization": f"token {token}"}) as c:
            for i in range(users):
                user = f"bench{i}"
                c.post(f"hub/api/users/{user}")
                start = time.perf_counter()
                c.post(f"hub/api/users/{user}/server", timeout=300)
                while True:
                    try:
                        if c.get(f"user/{user}/api/status", timeout=5).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                times.append(time.perf_counter() - start)
                say(f"hub: {user}'s server answered after {times[-1]:.2f} s")
    finally:
        hub.down(volumes=True)
    return times, up_seconds


# -- the run -----------------------------------------------------------------------------


def machine(client: Any) -> str:
    info = client.info()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}; Docker {info.get('ServerVersion')} "
        f"({info.get('Driver')}, cgroup v{info.get('CgroupVersion', '?')}); Python "
        f"{platform.python_version()}; load average {load}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-hub", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a normal machine writes bytecode
    client = dockerapi.connect(timeout=600)
    work = Path(tempfile.mkdtemp(prefix="orbit-bench-docker-"))
    report: list[str] = []
    try:
        say("base image (built once; not timed)")
        base = ensure_base(client, Progress())
        local_rootfs = dockerapi.image(client, LOCAL_ROOTFS) is not None
        rootfs_ref = LOCAL_ROOTFS if local_rootfs else REGISTRY_ROOTFS
        start_machine = machine(client)

        project = work / "project"
        (project / ".git").mkdir(parents=True)
        (project / "requirements.txt").write_text("\n".join(PACKAGES) + "\n")
        nb = make_notebook(
            project / "analysis.ipynb", "import numpy, pandas; print(pandas.__version__)"
        )
        paths = Paths(work / "orbit-home")
        engine = DockerEngine(paths)
        res = engine.adapt(resolve(nb, default_python="3.11"))
        spec = res.spec

        say("1/2: Orbit's kernel image, cold (no layer cache)")
        tag = f"orbit-bench:{spec.env_id}"
        cold, _ = timed(
            lambda: dockerapi.build(
                client,
                render_kernel(spec, base),
                tag,
                Progress(),
                what="bench kernel",
                nocache=True,
            )
        )
        size = dockerapi.image_size(client, tag)
        say("1/2: repo2docker-style single image, cold")
        fat_cold, _ = timed(
            lambda: dockerapi.build(
                client,
                repo2docker_style(rootfs_ref, project),
                "orbit-bench:fat",
                Progress(),
                what="repo2docker-style",
                nocache=True,
            )
        )
        fat_size = dockerapi.image_size(client, "orbit-bench:fat")
        say("1: a second environment (numpy only) over the same base")
        nb2 = make_notebook(
            work / "second" / "nb.ipynb", "1", metadata={"orbit": {"packages": {"pypi": ["numpy"]}}}
        )
        spec2 = engine.adapt(resolve(nb2, default_python="3.11")).spec
        dockerapi.build(
            client, render_kernel(spec2, base), "orbit-bench:second", Progress(), what="second"
        )
        second_own = own_bytes(client, "orbit-bench:second", base)
        first_own = own_bytes(client, tag, base)

        say("2: warm, after a notebook edit (requirements unchanged)")
        engine.build_image(spec, base, f"orbit-kernel:{spec.env_id}", Progress())

        def build_hand() -> str:  # the project as it is now, through a typical Dockerfile
            context = hand_written(rootfs_ref, project)
            return dockerapi.build(client, context, "orbit-bench:hand", Progress(), what="hand")

        hand_cold, _ = timed(build_hand)
        warm_lookup, warm_user, warm_hand = [], [], []
        from jupyter_orbit.hub.runner import Hub

        server = Hub(paths, paths.profile("bench"))._ensure_image(
            "orbit-server", render_server(base), Progress(), "the server"
        )
        hub_kernel = f"orbit-kernel:{spec.env_id}-hub"
        engine.build_image(spec, server, hub_kernel, Progress())
        kernelspec = {
            "argv": get_recipe("python").argv(
                Path("/opt/orbit/env"), Path("/opt/orbit/env/bin/python")
            ),
            "display_name": "Python 3",
            "language": "python",
        }
        dockerapi.build(
            client,
            render_user(hub_kernel, kernelspec, project=project),
            "orbit-bench:user",
            Progress(),
            what="user",
        )
        for i in range(args.repeat):
            make_notebook(nb, f"print({i})")
            t, found = timed(
                lambda: engine.lookup(engine.adapt(resolve(nb, default_python="3.11")).spec)
            )
            assert found is not None
            warm_lookup.append(t)
            t, _ = timed(
                lambda: dockerapi.build(
                    client,
                    render_user(hub_kernel, kernelspec, project=project),
                    "orbit-bench:user",
                    Progress(),
                    what="user",
                )
            )
            warm_user.append(t)
            t, _ = timed(build_hand)
            warm_hand.append(t)

        say("3: kernel until kernel_info_reply")
        env = engine.lookup(spec)
        recipe = get_recipe("python")
        docker_argv = engine.kernel_command(env, recipe, Launch(project_root=project))
        local = LocalEngine(paths)
        lres = resolve(nb, default_python="3.11")
        lenv = local.ensure(lres.spec, Progress())
        local_argv = local.kernel_argv(lenv, recipe)
        asyncio.run(kernel_ready(docker_argv, project))  # warm-up: bytecode, page cache
        asyncio.run(kernel_ready(local_argv, project))
        in_container, on_host, floor = [], [], []
        for _ in range(args.repeat):
            in_container.append(asyncio.run(kernel_ready(docker_argv, project)))
            on_host.append(asyncio.run(kernel_ready(local_argv, project)))
            floor.append(docker_true(client, env.record["image"]))
        say(f"   container {med(in_container)}, local {med(on_host)}, true {med(floor)}")

        spawns: list[float] = []
        hub_up = None
        if not args.no_hub:
            say("4: hub spawn")
            spawns, hub_up = hub_spawns(work, project, users=max(3, args.repeat))

        end_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        report += [
            f"### {time.strftime('%Y-%m-%d')} — repeat {args.repeat}",
            "",
            f"Machine: {start_machine}; load average at the end {end_load}.",
            "",
            "#### 1. Image size (Python + numpy + pandas kernel)",
            "",
            "| image | size | ÷ Orbit |",
            "|---|---|---|",
            f"| Orbit kernel image (`orbit-kernel:<id>`) | {size / MB:.0f} MB | 1.00× |",
            f"| repo2docker-style single image, same Debian root | {fat_size / MB:.0f} MB | {fat_size / size:.2f}× |",
            "| docker-stacks `base-notebook` (published, reference only) | ≈ 700 MB | ≈ 2.3× |",
            "| docker-stacks `scipy-notebook` (published, reference only) | ≈ 4 GB | ≈ 13× |",
            "",
            f"- what a second environment (numpy only) adds over the shared base: **{second_own / MB:.0f} MB** "
            f"(the first, numpy + pandas: {first_own / MB:.0f} MB; both share the base's "
            f"{(size - first_own) / MB:.0f} MB)",
            "",
            "#### 2. Build times, seconds",
            "",
            "| what | Orbit | other | other ÷ Orbit |",
            "|---|---|---|---|",
            f"| cold (no layer cache; base present) | {cold:.1f} s kernel image | {fat_cold:.1f} s repo2docker-style | {fat_cold / cold:.1f}× |",
            f"| warm: notebook edited, requirements unchanged — kernel image | {med(warm_lookup)} (nothing to build: resolve + lookup) | {med(warm_hand)} hand-written Dockerfile (`COPY . .` first) | {statistics.median(warm_hand) / statistics.median(warm_lookup):.0f}× |",
            f"| warm: notebook edited — hub user image (one layer rebuilt) | {med(warm_user)} | {med(warm_hand)} hand-written | {statistics.median(warm_hand) / statistics.median(warm_user):.1f}× |",
            f"| cold, hand-written Dockerfile (first build, pip cache cold) | – | {hand_cold:.1f} s | – |",
            "",
            "#### 3. Kernel until `kernel_info_reply`, seconds",
            "",
            "| kernel | median (min–max) | ÷ local |",
            "|---|---|---|",
            f"| Orbit, in a container (host process + container + ipykernel) | {med(in_container)} | {statistics.median(in_container) / statistics.median(on_host):.2f}× |",
            f"| Orbit, local engine, same packages | {med(on_host)} | 1.00× |",
            f"| floor: `true` in a container of that image (start + exit) | {med(floor)} | {statistics.median(floor) / statistics.median(on_host):.2f}× |",
            "",
        ]
        if spawns:
            report += [
                "#### 4. Hub: spawn request until the user's server answers through the proxy",
                "",
                f"- median **{med(spawns)}** over {len(spawns)} users (each a new container and a new named volume); "
                f"`orbit hub up` with every image built took {hub_up:.1f} s (compose up + JupyterHub start).",
                "",
            ]
        print("\n".join(report))
        return 0
    finally:
        for ref in ("fat", "hand", "user", "second"):
            with contextlib.suppress(Exception):
                client.images.remove(f"orbit-bench:{ref}", force=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
