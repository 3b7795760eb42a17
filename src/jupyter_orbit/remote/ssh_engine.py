"""The ssh engine (``ssh:NAME``): environments built on a profile's remote host, kernels run
there and reached through SSH tunnels.

Resolution happens here, exactly as the local engine resolves (same env id, same pins: the
local engine's own lock when it has built the environment); the remote only installs those pins
with uv, into ``~/.cache/orbit-remote/envs/<env-id>/``. The kernel command is a local process
(``kernel_proxy``) that syncs the project, starts the kernel on the remote and tunnels its ports.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import __version__
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Environment, EnvSpec, Plan, Step
from jupyter_orbit.remote._lib import run_sync
from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from jupyter_orbit.remote.url import check_host_name

if TYPE_CHECKING:
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress
    from jupyter_orbit.remote.session import Session

_UNSUPPORTED = {
    "apt": "Debian packages",
    "npm": "npm packages",
    "conda": "conda packages",
}


class SshEngine(Engine):
    """``ssh:NAME``: NAME is one of the profile's remote hosts (``orbit remote add``)."""

    name = "ssh"
    takes_target = True

    def __init__(self, paths: Paths, target: str | None = None) -> None:
        super().__init__(paths, check_host_name(target) if target else None)
        # The profile the process runs for: the server's (ORBIT_PROFILE), the CLI's --profile.
        self.profile = paths.profile(paths.default_profile())
        self.store = HostStore.of(self.profile)

    @property
    def host(self) -> RemoteHost:
        if self.target is None:
            raise InputError(
                "the ssh engine needs a host: ssh:NAME",
                "name one of the profile's remotes (`orbit remote list`), e.g. --engine ssh:lab",
            )
        return self.store.get(self.target)

    async def _session(self) -> Session:
        from jupyter_orbit.remote.session import connect

        return await connect(self.host, self.store)

    # -- the Engine interface ------------------------------------------------------------

    def lookup_id(self, env_id: str) -> Environment | None:
        if not env_id.isalnum():
            return None

        async def look() -> Environment | None:
            from jupyter_orbit.remote import build

            async with await self._session() as s:
                found = await build.lookup(s, env_id)
            return self._environment(found) if found else None

        return run_sync(look())

    def plan(self, spec: EnvSpec) -> Plan:
        from jupyter_orbit.remote import bootstrap, build
        from jupyter_orbit.remote.session import ORBIT_DIR, endpoint

        host = self.host
        ep = endpoint(host)

        async def look() -> tuple[Any, bootstrap.Probe, str]:
            async with await self._session() as s:
                found = await build.lookup(s, spec.env_id)
                probe = bootstrap.parse_probe(
                    str((await s.run(bootstrap.PROBE, what="looking for uv")).stdout)
                )
                return found, probe, await s.orbit_dir("envs", spec.env_id)

        found, probe, location = run_sync(look())
        where = f"{host.name}:{location}"
        request = self.python_request(spec)
        if found is not None:
            return Plan(self.id, spec.env_id, spec, where, True, (), found.python)
        steps = [Step("connect", f"{host.target} as {ep.label}, host key checked")]
        if probe.on_path:
            steps.append(Step("uv", f"the host's own: {probe.on_path}"))
        elif probe.orbit_copy:
            steps.append(Step("uv", f"Orbit's copy, sent earlier: {probe.orbit_copy}"))
        elif bootstrap.can_copy(bootstrap.local_platform(), probe.uname):
            steps.append(Step("uv", f"copy Orbit's uv to ~/{ORBIT_DIR}/bin/uv ({probe.uname})"))
        else:
            raise bootstrap.not_copyable(host.name, bootstrap.local_platform(), probe.uname)
        pypi = spec.packages("pypi")
        as_of = f" as of {spec.as_of}" if spec.as_of else ""
        steps += [
            Step(
                "resolve", f"here, as the local engine does: {len(pypi)} PyPI requirements{as_of}"
            ),
            Step("venv", f"Python {request} on {host.name}"),
            Step("install", f"the resolved pins, with uv on {host.name}"),
            Step("commit", f"move into {where}"),
            Step(
                "sync",
                f"at each kernel start: the project to ~/{ORBIT_DIR}/projects/ on {host.name} "
                "(changed files only; version control, secrets and .orbitignore excluded)",
            ),
        ]
        warnings = tuple(
            f"{what} are not installed by the ssh engine: {', '.join(r.name for r in reqs)}"
            for eco, what in _UNSUPPORTED.items()
            if (reqs := spec.packages(eco))
        )
        return Plan(
            self.id,
            spec.env_id,
            spec,
            where,
            False,
            tuple(steps),
            f"Python {request} on {host.name}",
            warnings,
        )

    def realize(self, plan: Plan, progress: Progress) -> Environment:
        from filelock import FileLock

        spec = plan.spec
        host = self.host
        folder = self.paths.envs_dir("ssh") / host.name
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(folder / f".{spec.env_id}.lock"):
            return run_sync(self._realize(plan, progress))

    async def _realize(self, plan: Plan, progress: Progress) -> Environment:
        from jupyter_orbit.remote import bootstrap, build
        from jupyter_orbit.uvcli import uv_bin

        spec = plan.spec
        host = self.host
        progress.step("connect", str(host.target))
        async with await self._session() as s:
            if found := await build.lookup(s, spec.env_id):
                return self._environment(found)
            uv = await bootstrap.ensure_uv(s, Path(uv_bin()), progress)
            progress.step("resolve", f"here, as the local engine does{_as_of(spec)}")
            lock, hashes = self.resolve_lock(spec)
            req = build.BuildRequest(
                env_id=spec.env_id,
                python=self.python_request(spec),
                lock=lock,
                require_hashes=hashes,
                index_args=tuple(host.index_args()),
                record={
                    "engine": self.id,
                    "host": str(host.target),
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "orbit": __version__,
                    "uv": uv.version,
                    "python": {"request": self.python_request(spec)},
                    "spec": spec.to_dict(),
                    "identity": spec.identity(),
                },
            )
            found = await build.build(s, uv.path, req, progress)
        for warning in plan.warnings:
            progress.warn(warning)
        return self._environment(found)

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        """The kernel's command on the remote."""
        return recipe.argv(env.location, env.python)

    def kernel_command(self, env: Environment, recipe: KernelRecipe, launch: Launch) -> list[str]:
        """A local process that runs the kernel on the remote and lives as long as it."""
        argv = [
            sys.executable,
            "-m",
            "jupyter_orbit.remote.kernel_proxy",
            "--profile-root",
            str(self.profile.root),
            "--host",
            self.host.name,
            "--python",
            str(env.python),
            "--env-prefix",
            str(env.location),
            "--connection-file",
            "{connection_file}",
        ]
        if launch.project_root is not None:
            argv += ["--project", str(launch.project_root)]
        if extra := recipe.kernel_env(env.location):
            argv += ["--kernel-env", json.dumps(extra, sort_keys=True)]
        return [*argv, "--", *self.kernel_argv(env, recipe)]

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        """Nothing here: the recipe's variables go to the remote kernel (``--kernel-env``)."""
        return {}

    def check_available(self) -> None:
        from jupyter_orbit.remote._lib import asyncssh

        asyncssh()
        self.host  # noqa: B018  (an unknown host says which ones exist)

    def pins(self, plan: Plan) -> list[str]:
        if plan.built:
            from jupyter_orbit.remote import build

            async def read() -> str:
                async with await self._session() as s:
                    sftp = await s.sftp()
                    path = await s.orbit_dir("envs", plan.env_id, build.LOCK)
                    async with sftp.open(path, "r") as f:
                        return str(await f.read())

            text = run_sync(read())
        else:
            text = self.resolve_lock(plan.spec)[0]
        return [
            ln.strip()
            for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", "-"))
        ]

    # -- helpers -------------------------------------------------------------------------

    def python_request(self, spec: EnvSpec) -> str:
        from jupyter_orbit.pythons import default_python

        return spec.python or default_python()

    def resolve_lock(self, spec: EnvSpec) -> tuple[str, bool]:
        """The pinned requirements the remote installs, and whether they carry hashes.

        Exactly what the local engine would install: the notebook's own Orbit lock when it is
        current (hash-checked), else the local engine's resolution (its lock file when it has
        built this environment, else ``uv pip compile`` run the way it runs it).
        """
        from jupyter_orbit.ecosystems import lockfile
        from jupyter_orbit.engines.local import LocalEngine

        # Options a requirements file can carry (where packages come from); prerelease flags
        # only matter to resolution, which happens here.
        option_lines = [
            o for o in spec.index_options if not o.startswith(("--pre", "--prerelease"))
        ]
        if spec.lock and lockfile.is_current(spec):
            return "\n".join([*option_lines, spec.lock.text]), True
        local = LocalEngine(self.paths)
        pins = local.pins(local.plan(spec))
        return "\n".join([*option_lines, *pins]) + "\n", False

    def _environment(self, found: Any) -> Environment:
        return Environment(
            self.id, found.env_id, Path(found.prefix), Path(found.python), found.record
        )


def _as_of(spec: EnvSpec) -> str:
    return f" (as of {spec.as_of})" if spec.as_of else ""
