"""The gateway engine (``gateway:NAME``): kernels started through a Jupyter Enterprise Gateway
the site runs, per notebook, while other notebooks of the same server stay local.

A gateway offers kernels in environments of its own (its kernelspecs); Orbit cannot build
there. So the "environment" of a notebook on a gateway is the gateway's kernelspec for the
notebook's kernel (the recipe's kernelspec name, else the gateway's kernelspec of the same
language); what the notebook declares beyond the kernel's own packages is reported as not
installed. The kernel command is a local process (``gateway_kernel``) that starts the kernel
through the gateway's REST API and bridges the kernel's ZMQ ports here to the gateway's
websocket.

Only gateways the user added to the profile are contacted (``orbit remote add NAME URL``): a
notebook naming a URL nobody added is refused, so it cannot send code or the token elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_orbit import atomic
from jupyter_orbit.engines.base import Engine, Launch
from jupyter_orbit.errors import InputError
from jupyter_orbit.model import Environment, EnvSpec, Plan
from jupyter_orbit.remote.errors import AuthRefused, HostUnreachable, RemoteError
from jupyter_orbit.remote.hosts import Gateway, HostStore

if TYPE_CHECKING:
    from jupyter_orbit.kernels.recipes import KernelRecipe
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.progress import Progress

SPECS_TTL = 60.0  # seconds a gateway's list of kernelspecs is reused
_SPECS: dict[str, tuple[float, dict[str, Any]]] = {}


class GatewayEngine(Engine):
    """``gateway:NAME`` (or the URL of a gateway added as NAME)."""

    name = "gateway"
    takes_target = True
    warm_kernels = False  # a kernel on the gateway holds the site's resources

    def __init__(self, paths: Paths, target: str | None = None) -> None:
        super().__init__(paths, target)
        self.profile = paths.profile(paths.default_profile())
        self.store = HostStore.of(self.profile)

    @classmethod
    def offers(cls, paths: Paths) -> list[tuple[str, str]]:
        store = HostStore.of(paths.profile(paths.default_profile()))
        return [(g.engine, f"{g.name} ({g.url}, Enterprise Gateway)") for g in store.gateways()]

    @property
    def gateway(self) -> Gateway:
        if not self.target:
            raise InputError(
                "the gateway engine needs a gateway: gateway:NAME",
                "name one of the profile's gateways (`orbit remote list`)",
            )
        return self.store.gateway(self.target)

    # -- the gateway's kernelspecs -------------------------------------------------------

    def kernelspecs(self) -> dict[str, Any]:
        """The gateway's kernelspecs (``/api/kernelspecs``), asked at most once a minute."""
        gw = self.gateway
        now = time.monotonic()
        if (cached := _SPECS.get(gw.url)) and now - cached[0] < SPECS_TTL:
            return cached[1]
        data = self._get("/api/kernelspecs")
        specs = data.get("kernelspecs") if isinstance(data, dict) else None
        if not isinstance(specs, dict):
            raise RemoteError(f"the gateway {gw.name} ({gw.url}) sent no kernelspecs", None)
        _SPECS[gw.url] = (now, specs)
        return specs

    def kernelspec_for(self, recipe: KernelRecipe) -> str:
        """The gateway's kernelspec for ``recipe``: of the same name, else of its language."""
        specs = self.kernelspecs()
        if recipe.kernelspec_name in specs:
            return recipe.kernelspec_name
        for name, spec in sorted(specs.items()):
            if (spec.get("spec") or {}).get("language", "").lower() == recipe.language.lower():
                return name
        gw = self.gateway
        raise InputError(
            f"the gateway {gw.name} offers no {recipe.display_name} kernel "
            f"(it offers: {', '.join(sorted(specs)) or 'none'})",
            "ask the gateway's administrators for one, or run this notebook on another engine",
        )

    def _get(self, path: str) -> Any:
        import httpx

        gw = self.gateway
        headers = {"Accept": "application/json"}
        if token := self.store.token(gw.name):
            headers["Authorization"] = f"token {token}"
        try:
            r = httpx.get(gw.url + path, headers=headers, timeout=20)
        except httpx.HTTPError as e:
            raise HostUnreachable(
                f"cannot reach the gateway {gw.name} at {gw.url}: {e or type(e).__name__}",
                f"check that the gateway runs and that {gw.url} is its address",
            ) from None
        if r.status_code in (401, 403):
            raise AuthRefused(
                f"the gateway {gw.name} ({gw.url}) refused Orbit's request ({r.status_code})",
                f"give it the gateway's token: `orbit remote add {gw.name} {gw.url} "
                "--replace --token-stdin`",
            )
        if r.status_code >= 400:
            raise RemoteError(
                f"the gateway {gw.name} ({gw.url}) answered {r.status_code} to {path}", None
            )
        try:
            return r.json()
        except ValueError:
            raise RemoteError(
                f"{gw.url}{path} did not answer in JSON: is it a gateway?", None
            ) from None

    # -- the Engine interface ------------------------------------------------------------

    def lookup(self, spec: EnvSpec) -> Environment | None:
        from jupyter_orbit.kernels.recipes import get_recipe

        kernelspec = self.kernelspec_for(get_recipe(spec.kernel))
        env = self._environment(spec.env_id, kernelspec)
        with contextlib.suppress(OSError):  # lookup_id (orbit run through a server) finds it
            atomic.write_json(self._note(spec.env_id), {"kernelspec": kernelspec})
        return env

    def lookup_id(self, env_id: str) -> Environment | None:
        if not env_id.isalnum():
            return None
        try:
            kernelspec = json.loads(self._note(env_id).read_text())["kernelspec"]
        except (OSError, ValueError, KeyError):
            return None
        return self._environment(env_id, kernelspec) if kernelspec in self.kernelspecs() else None

    def plan(self, spec: EnvSpec) -> Plan:
        env = self.lookup(spec)
        assert env is not None
        ignored = [r.text for r in spec.declared()]
        warnings = (
            (
                f"the gateway's {env.record['kernelspec']} kernel has its own environment: "
                f"not installed there: {', '.join(ignored)}",
            )
            if ignored
            else ()
        )
        where = f"{self.gateway.url} ({env.record['kernelspec']})"
        return Plan(self.id, spec.env_id, spec, where, True, (), None, warnings)

    def realize(self, plan: Plan, progress: Progress) -> Environment:
        env = self.lookup(plan.spec)
        assert env is not None  # lookup raises when the gateway has no such kernel
        return env

    def kernel_argv(self, env: Environment, recipe: KernelRecipe) -> list[str]:
        return []  # the gateway starts its kernelspec's own command

    def kernel_command(self, env: Environment, recipe: KernelRecipe, launch: Launch) -> list[str]:
        """A local process that starts the kernel through the gateway and bridges its ports."""
        return [
            sys.executable,
            "-m",
            "jupyter_orbit.remote.gateway_kernel",
            "--profile-root",
            str(self.profile.root),
            "--gateway",
            self.gateway.name,
            "--kernelspec",
            str(env.record["kernelspec"]),
            "--connection-file",
            "{connection_file}",
        ]

    def kernel_env(self, env: Environment, recipe: KernelRecipe) -> dict[str, str]:
        return {}

    def check_available(self) -> None:
        self.kernelspecs()

    def _note(self, env_id: str) -> Path:
        return self.paths.envs_dir(self.name) / self.gateway.name / f"{env_id}.json"

    def _environment(self, env_id: str, kernelspec: str) -> Environment:
        gw = self.gateway
        record = {"gateway": gw.url, "kernelspec": kernelspec}
        return Environment(self.id, env_id, Path(kernelspec), Path(kernelspec), record)
