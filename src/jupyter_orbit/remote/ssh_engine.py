"""The ssh engine (``ssh:NAME``): environments built on a profile's remote host, kernels run
there and reached through SSH tunnels.

Resolution happens here, exactly as the local engine resolves (same env id, same pins: the
local engine's own lock when it has built the environment); the remote only installs those pins
with uv, into ``~/.cache/orbit-remote/envs/<env-id>/``.

Asking a host costs a round trip, so the engine keeps what it learnt: environments it saw built
on a host are noted under ``envs/ssh/<host>/`` here (``lookup_id`` answers from the note without
connecting), and one SSH connection per host is kept open for a while with the host's answers
(``connections``). Starting a kernel checks the note against the host (an environment removed
there is noticed), sends the project's changed files and returns the command of a local process
(``kernel_proxy``) that starts the kernel on the remote and tunnels its ports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from jupyter_orbit import __version__, atomic
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Environment, EnvSpec, Plan, Step
from jupyter_orbit.remote.connections import CONNECTIONS, guarded
from jupyter_orbit.remote.errors import ConnectionDropped, RemoteError
from jupyter_orbit.remote.hosts import HostStore, RemoteHost
from jupyter_orbit.remote.url import check_host_name

if TYPE_CHECKING:
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress
    from jupyter_orbit.remote.bootstrap import Probe, RemoteUv
    from jupyter_orbit.remote.build import RemoteEnv
    from jupyter_orbit.remote.session import Session

T = TypeVar("T")
log = logging.getLogger(__name__)
ASK_TIMEOUT = 60.0  # seconds for a question to a connected host (a lookup, a probe)
_UNSUPPORTED = {
    "apt": "Debian packages",
    "npm": "npm packages",
    "conda": "conda packages",
}
# One sync at a time per project and host (two notebooks of a project starting together).
_SYNCING: dict[tuple[str, str], asyncio.Lock] = {}


class SshEngine(Engine):
    """``ssh:NAME``: NAME is one of the profile's remote hosts (``orbit remote add``)."""

    name = "ssh"
    takes_target = True
    warm_kernels = False  # a warm kernel would hold a process on the host for nothing
    dates_kernel = True  # its PyPI packages are resolved here, with uv, as the local engine's

    def __init__(self, paths: Paths, target: str | None = None) -> None:
        super().__init__(paths, check_host_name(target) if target else None)
        # The profile the process runs for: the server's (ORBIT_PROFILE), the CLI's --profile.
        self.profile = paths.profile(paths.default_profile())
        self.store = HostStore.of(self.profile)

    @classmethod
    def offers(cls, paths: Paths) -> list[tuple[str, str]]:
        """The profile's hosts."""
        store = HostStore.of(paths.profile(paths.default_profile()))
        return [(h.engine, f"{h.name} ({h.target}, over SSH)") for h in store.hosts()]

    @property
    def host(self) -> RemoteHost:
        if self.target is None:
            raise InputError(
                "the ssh engine needs a host: ssh:NAME",
                "name one of the profile's remotes (`orbit remote list`), e.g. --engine ssh:lab",
            )
        return self.store.get(self.target)

    @property
    def notes(self) -> Path:
        """Where the environments seen built on this host are noted (one JSON file each)."""
        return self.paths.envs_dir(self.name) / str(self.target)

    def ask(
        self,
        what: str,
        work: Callable[[Session], Awaitable[T]],
        timeout: float | None = ASK_TIMEOUT,
    ) -> T:
        """``work`` on the host's kept connection; a host that stops answering is dropped."""
        host, store = self.host, self.store

        async def run() -> T:
            session = await CONNECTIONS.session(host, store)
            try:
                if timeout is None:
                    return await work(session)
                return await guarded(host, what, work(session), timeout)
            except ConnectionDropped:
                await CONNECTIONS.drop(host, store)
                raise

        return CONNECTIONS.call(run)

    # -- the Engine interface ------------------------------------------------------------

    def lookup_id(self, env_id: str) -> Environment | None:
        from jupyter_orbit.remote import build

        if not env_id.isalnum():
            return None
        if env := self._noted(env_id):
            return env
        found = self.ask("looking for the environment", lambda s: build.lookup(s, env_id))
        return self._note(found) if found else None

    def plan(self, spec: EnvSpec) -> Plan:
        from jupyter_orbit.remote import bootstrap
        from jupyter_orbit.remote.session import ORBIT_DIR, endpoint

        if env := self.lookup(spec):
            return Plan(self.id, spec.env_id, spec, self._where(env), True, (), str(env.python))
        host = self.host
        probe, home = self.ask("looking for uv", lambda s: self._probe())
        where = f"{host.name}:{home}/{ORBIT_DIR}/envs/{spec.env_id}"
        request = self.python_request(spec)
        if probe.on_path:
            uv = f"the host's own: {probe.on_path}"
        elif probe.orbit_copy:
            uv = f"Orbit's copy, sent earlier: {probe.orbit_copy}"
        elif bootstrap.can_copy(bootstrap.local_platform(), probe.uname):
            uv = f"copy Orbit's uv to ~/{ORBIT_DIR}/bin/uv ({probe.uname})"
        else:
            raise bootstrap.not_copyable(host.name, bootstrap.local_platform(), probe.uname)
        pypi = spec.packages("pypi")
        as_of = f" as of {spec.as_of}" if spec.as_of else ""
        steps: tuple[Step, ...] = (
            ConnectStep(f"{host.target} as {endpoint(host).label}, host key checked"),
            UvStep(uv),
            ResolveStep(f"here, as the local engine does: {len(pypi)} PyPI requirements{as_of}"),
            InstallStep(
                f"on {host.name}: a venv of Python {request}, the resolved pins installed with "
                f"uv, moved into {where.split(':', 1)[1]} (under a lock there)"
            ),
        )
        warnings = tuple(
            f"{what} are not installed by the ssh engine: {', '.join(r.name for r in reqs)}"
            for eco, what in _UNSUPPORTED.items()
            if (reqs := spec.packages(eco))
        )
        return Plan(
            self.id, spec.env_id, spec, where, False, steps, f"Python {request} on {host.name}",
            warnings,
        )  # fmt: skip

    def realize(self, plan: Plan, progress: Progress) -> Environment:
        from filelock import FileLock

        self.notes.mkdir(parents=True, exist_ok=True)
        with FileLock(self.notes / f".{plan.env_id}.lock"):
            if env := self.lookup(plan.spec):
                return env
            build = RemoteBuild(self, plan.spec, progress)
            for step in plan.steps:
                progress.step(step.action, step.detail)
                step.run(build)
        for warning in plan.warnings:
            progress.warn(warning)
        assert build.found is not None
        return self._note(build.found)

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        """The kernel's command on the remote."""
        return recipe.argv(env.location, env.python)

    def kernel_command(self, env: Environment, recipe: KernelRecipe, launch: Launch) -> list[str]:
        """Check the environment is still on the host, send the project's changes, and return
        the local process that runs the kernel there and lives as long as it."""
        cwd = self.ask("starting the kernel", lambda s: self._ready(s, env, launch), None)
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
            "--cwd",
            cwd,
            "--connection-file",
            "{connection_file}",
        ]
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
        from jupyter_orbit.ecosystems.lockfile import pins

        if plan.built:
            from jupyter_orbit.remote import build

            async def read(s: Session) -> str:
                sftp = await s.sftp()
                path = await s.orbit_dir("envs", plan.env_id, build.LOCK)
                async with s.guard("reading the lock"), sftp.open(path, "r") as f:
                    return str(await f.read())

            return pins(self.ask("reading the lock", read))
        return pins(self.resolve_lock(plan.spec)[0])

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

    def forget(self, env_id: str | None = None) -> None:
        """Drop the notes of environments seen on this host (all of them without ``env_id``)."""
        for note in self.notes.glob(f"{env_id or '*'}.json"):
            note.unlink(missing_ok=True)

    async def _probe(self) -> tuple[Probe, str]:
        from jupyter_orbit.remote import bootstrap

        async def ask(s: Session) -> tuple[Probe, str]:
            out = await s.run(bootstrap.PROBE, what="looking for uv")
            return bootstrap.parse_probe(str(out.stdout)), await s.home()

        return await CONNECTIONS.fact(self.host, self.store, "probe", ask)

    async def _ready(self, session: Session, env: Environment, launch: Launch) -> str:
        """The kernel's folder on the remote, once its environment is known to be there and
        the project's changes are sent."""
        from jupyter_orbit.remote import build
        from jupyter_orbit.remote.sync import ProjectSync

        if await build.lookup(session, env.env_id) is None:
            self.forget(env.env_id)
            raise RemoteError(
                f"the environment {env.env_id} is no longer on {self.host.name}",
                "restart the kernel: Orbit builds it there again",
            )
        if launch.project_root is None:
            return await session.home()
        root = launch.project_root.resolve()
        lock = _SYNCING.setdefault((self.host.name, str(root)), asyncio.Lock())
        async with lock:
            report = await ProjectSync(session, root, _LogProgress()).push()
        log.info(
            "Orbit: synced %s to %s: %d sent, %d deleted, %d unchanged, %d excluded%s",
            root, self.host.name, len(report.sent), len(report.deleted), report.unchanged,
            len(report.excluded),
            f" ({', '.join(e.path for e in report.excluded[:8])})" if report.excluded else "",
        )  # fmt: skip
        here = (launch.notebook.parent if launch.notebook else root).resolve()
        rel = here.relative_to(root).as_posix() if here.is_relative_to(root) else "."
        return report.remote_root if rel == "." else f"{report.remote_root}/{rel}"

    def _noted(self, env_id: str) -> Environment | None:
        try:
            note = json.loads((self.notes / f"{env_id}.json").read_text())
        except (OSError, ValueError):
            return None
        if note.get("target") != str(self.host.target):  # the name now means another host
            return None
        return Environment(
            self.id, env_id, Path(note["prefix"]), Path(note["python"]), note.get("record", {})
        )

    def _note(self, found: RemoteEnv) -> Environment:
        note = {
            "target": str(self.host.target),
            "prefix": found.prefix,
            "python": found.python,
            "record": found.record,
        }
        try:
            atomic.write_json(self.notes / f"{found.env_id}.json", note)
        except OSError as e:  # only a shortcut: the host is asked next time
            log.warning("Orbit: could not note environment %s: %s", found.env_id, e)
        return Environment(
            self.id, found.env_id, Path(found.prefix), Path(found.python), found.record
        )

    def _where(self, env: Environment) -> str:
        return f"{self.target}:{env.location}"


def forget_notes(paths: Paths, host: RemoteHost) -> None:
    """Drop what this machine noted of ``host``'s environments (the host was removed)."""
    for note in (paths.envs_dir(SshEngine.name) / host.name).glob("*.json"):
        try:
            if json.loads(note.read_text()).get("target") == str(host.target):
                note.unlink()
        except (OSError, ValueError):
            continue


# -- the plan's steps ------------------------------------------------------------------------


@dataclass
class RemoteBuild:
    """What the steps of a remote build hand on to each other."""

    engine: SshEngine
    spec: EnvSpec
    progress: Progress
    uv: RemoteUv | None = None
    lock: str = ""
    hashes: bool = False
    found: RemoteEnv | None = None


@dataclass(frozen=True)
class ConnectStep(Step):
    """An authenticated connection to the host, its key checked (kept for the next steps)."""

    ACTION: ClassVar[str] = "connect"

    def run(self, build: RemoteBuild) -> None:
        build.engine.ask("connecting", _nothing)


@dataclass(frozen=True)
class UvStep(Step):
    """uv on the host: its own, Orbit's copy, or the local one copied there (hash-checked)."""

    ACTION: ClassVar[str] = "uv"

    def run(self, build: RemoteBuild) -> None:
        from jupyter_orbit.remote import bootstrap
        from jupyter_orbit.uvcli import uv_bin

        engine = build.engine
        build.uv = engine.ask(
            "placing uv",
            lambda s: bootstrap.ensure_uv(s, Path(uv_bin()), build.progress),
            timeout=None,
        )
        if build.uv.how == "copied":
            CONNECTIONS.forget_facts(engine.host, engine.store)


@dataclass(frozen=True)
class ResolveStep(Step):
    """The pins, resolved here exactly as the local engine resolves them."""

    ACTION: ClassVar[str] = "resolve"

    def run(self, build: RemoteBuild) -> None:
        build.lock, build.hashes = build.engine.resolve_lock(build.spec)


@dataclass(frozen=True)
class InstallStep(Step):
    """The environment built on the host (venv, pins, rename into place, marker last)."""

    ACTION: ClassVar[str] = "install"

    def run(self, build: RemoteBuild) -> None:
        from jupyter_orbit.remote import build as remote_build

        engine, spec, uv = build.engine, build.spec, build.uv
        assert uv is not None
        host = engine.host
        request = remote_build.BuildRequest(
            env_id=spec.env_id,
            python=engine.python_request(spec),
            lock=build.lock,
            require_hashes=build.hashes,
            index_args=tuple(host.index_args()),
            record={
                "engine": engine.id,
                "host": str(host.target),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "orbit": __version__,
                "uv": uv.version,
                "python": {"request": engine.python_request(spec)},
                "spec": spec.to_dict(),
                "identity": spec.identity(),
            },
        )
        build.found = engine.ask(
            "building the environment",
            lambda s: remote_build.build(s, uv.path, request, build.progress),
            timeout=None,
        )


async def _nothing(session: Session) -> None:
    return None


class _LogProgress:
    def step(self, action: str, detail: str = "") -> None:
        log.info("Orbit: %s %s", action, detail)

    def log(self, line: str) -> None:
        log.debug("%s", line)

    def warn(self, message: str) -> None:
        log.warning("Orbit: %s", message)
