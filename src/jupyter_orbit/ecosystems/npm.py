"""npm: the registry's search API (with an exact-name lookup beside it), package.json written
as npm writes it, locks from ``npm install --package-lock-only``, installs with the npm client
into the environment's own prefix.

npm runs from a folder Orbit owns, so no project ``.npmrc`` configures it, and with
``--ignore-scripts`` unless the caller says the project is trusted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

from jupyter_orbit import atomic
from jupyter_orbit.ecosystems._http import DiskCache, Unreachable, fetch_json
from jupyter_orbit.ecosystems.base import (
    Ecosystem,
    Found,
    Hit,
    ImageStage,
    InstallStep,
    Prefix,
    names_of,
    tier,
)
from jupyter_orbit.errors import BuildError, InputError
from jupyter_orbit.model import EnvSpec, Origin, Requirement, Step

REGISTRY = "https://registry.npmjs.org/"
SEARCH_TTL = 3600
NPM_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")


def split_npm(text: str) -> tuple[str, str]:
    """``name@range`` → (name, range); the range is "" when none is given."""
    text = text.strip()
    at = text.find("@", 1)  # a leading "@" starts a scope, not a range
    return (text, "") if at < 0 else (text[:at], text[at + 1 :])


def npm_bin() -> str:
    found = shutil.which("npm")
    if not found:
        raise BuildError(
            "npm is not installed", "install Node.js and npm (e.g. `apt-get install npm`)"
        )
    return found


class Npm(Ecosystem):
    name: ClassVar[str] = "npm"
    display_name: ClassVar[str] = "npm"
    files: ClassVar[tuple[str, ...]] = ("package.json",)
    new_file: ClassVar[str | None] = "package.json"
    order: ClassVar[int] = 40
    check_hint: ClassVar[str] = "check the npm package names and versions where they are declared"

    @classmethod
    def parse(cls, text: str, origin: Origin | None = None) -> Requirement:
        name, spec = split_npm(text)
        if not NPM_NAME.match(name) or len(name) > 214:
            raise InputError(
                f"not an npm package name: {name!r}",
                "npm names are lowercase (letters, digits, - . _ ~), optionally @scope/name",
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            )
        return Requirement("npm", name, f"{name}@{spec}" if spec else name, origin)

    @classmethod
    def parse_declared(cls, text: str, origin: Origin) -> Requirement:
        """Kept as written (``name@range``; npm reads its own ranges)."""
        name, _ = split_npm(text)
        if not NPM_NAME.match(name):
            raise InputError(
                f"not an npm package: {text!r}",
                "write it as 'lodash@^4' or '@scope/name' in metadata.orbit.packages.npm",
                path=origin.path,
            )
        return Requirement("npm", name, text.strip(), origin)

    @classmethod
    def key(cls, text: str) -> str:
        return split_npm(text)[0]

    @classmethod
    def changes_source(cls, requirement: Requirement) -> bool:
        spec = split_npm(requirement.text)[1]
        return "://" in spec or spec.startswith(("git+", "file:", "github:", "link:"))

    @property
    def registry(self) -> str:
        from jupyter_orbit import offline

        url = offline.registry("npm") or self.environ.get("ORBIT_NPM_REGISTRY") or REGISTRY
        return url.rstrip("/") + "/"

    def _package_url(self, name: str) -> str:
        return self.registry + quote(name, safe="@")

    def search(self, query: str, *, limit: int = 10, prefix: str = "") -> Found:
        out = Found(self.name)
        q = (prefix + query).strip().lower()
        cache = DiskCache(self.cache / "search")
        url = f"{self.registry}-/v1/search?text={quote(q)}&size={limit}"

        def listing() -> list[dict] | None:
            cached = cache.get(url)
            if cached and cached[1] < SEARCH_TTL:
                return cached[0]
            try:
                data = fetch_json(url, timeout=8)
            except Unreachable:
                if cached:
                    out.stale = True
                    out.notes.append("the npm registry did not answer; results are cached")
                    return cached[0]
                raise
            objects = None if data is None else data.get("objects", [])
            cache.put(url, objects)  # "no search API here" too: not asked again within the TTL
            return objects

        def exact() -> dict | None:
            key = self._package_url(q) + "/latest"
            cached = cache.get(key)
            if cached and cached[1] < SEARCH_TTL:
                return cached[0]
            try:
                data = fetch_json(key, timeout=8)
            except Unreachable:
                return cached[0] if cached else None
            cache.put(key, data)
            return data

        with ThreadPoolExecutor(max_workers=2) as pool:
            f_list, f_exact = pool.submit(listing), pool.submit(exact)
            try:
                objects = f_list.result()
            except Unreachable as e:
                objects, out.error = None, f"the npm registry did not answer ({e})"
            latest = f_exact.result()
        hits: dict[str, Hit] = {}
        if latest and latest.get("name"):
            out.error = None
            hits[latest["name"]] = Hit(
                self.name,
                latest["name"],
                latest.get("version"),
                latest.get("description") or "",
                None,
                0,
            )
        if objects is None and not out.error:
            out.notes.append("npm's search API did not answer; only the exact name was looked up")
        for obj in objects or []:
            pkg = obj.get("package", {})
            name = pkg.get("name")
            if not name or name in hits:
                continue
            pop = (obj.get("score", {}).get("detail", {}) or {}).get("popularity")
            hits[name] = Hit(
                self.name,
                name,
                pkg.get("version"),
                pkg.get("description") or "",
                pop,
                tier(name, q, summary=pkg.get("description") or ""),
            )
        out.hits = list(hits.values())[:limit]
        return out

    def check(self, requirements: Sequence[Requirement]) -> None:
        """Each name must exist, and its range must match a published version."""
        for req in requirements:
            name, spec = split_npm(req.text)
            try:
                data = fetch_json(
                    self._package_url(name),
                    timeout=15,
                    accept="application/vnd.npm.install-v1+json",
                )
            except Unreachable:
                continue  # cannot tell here; the install will
            if data is None:
                raise InputError(
                    f"no package named {name!r} on the npm registry ({self.registry})",
                    f"check the name with `orbit search {name} --in npm`",
                )
            if spec and not self._satisfiable(name, spec):
                raise InputError(
                    f"no published version of {name} matches {spec!r}",
                    f"see the versions with `npm view {name} versions`",
                )

    def _satisfiable(self, name: str, spec: str) -> bool:
        out = self._npm(["view", f"{name}@{spec}", "version", "--json"], cwd=self.cache)
        try:
            data = json.loads(out or "null")
        except ValueError:
            return True  # cannot tell; the install will
        if isinstance(data, dict) and "error" in data:
            return data["error"].get("code") != "E404"
        return bool(data)

    def _npm(self, args: list[str], *, cwd: Path, check: bool = False) -> str:
        cwd.mkdir(parents=True, exist_ok=True)
        cmd = [npm_bin(), *args, "--no-audit", "--no-fund", f"--registry={self.registry}"]
        r = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**self.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_update_notifier": "false"},
        )
        if check and r.returncode != 0:
            from jupyter_orbit import offline

            if missing := offline.not_bundled("npm", r.stderr):
                raise missing
            tail = " ".join(r.stderr.strip().splitlines()[-3:])[:400]
            raise BuildError(f"npm {args[0]} failed: {tail}", "see npm's message; fix the package")
        return r.stdout

    @staticmethod
    def _manifest(requirements: Sequence[Requirement]) -> dict:
        deps = {}
        for r in requirements:
            name, spec = split_npm(r.text)
            deps[name] = spec or "*"
        return {"name": "orbit-environment", "private": True, "dependencies": deps}

    def lock(self, requirements: Sequence[Requirement], *, cwd: Path) -> str:
        with tempfile.TemporaryDirectory(dir=self._ensure(cwd)) as tmp:
            folder = Path(tmp)
            atomic.write_json(folder / "package.json", self._manifest(requirements))
            self._npm(
                ["install", "--package-lock-only", "--ignore-scripts"], cwd=folder, check=True
            )
            return (folder / "package-lock.json").read_text()

    @staticmethod
    def _ensure(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def local_steps(self, spec: EnvSpec) -> list[Step]:
        reqs = spec.packages(self.name)
        return [
            InstallStep(f"into the environment's npm/ folder: {names_of(reqs)}", self.name, reqs)
        ]

    def install(self, prefix: Prefix, requirements: Sequence[Requirement]) -> None:
        """Into ``PREFIX/npm`` (``node_modules`` there; kernels put it on NODE_PATH); install
        scripts run only for a trusted project."""
        folder = prefix.path / "npm"
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(folder / "package.json", self._manifest(requirements))
        scripts = [] if prefix.trusted else ["--ignore-scripts"]
        prefix.progress.log(f"{len(requirements)} packages into {folder}")
        self._npm(["install", *scripts], cwd=folder, check=True)

    @classmethod
    def image_stage(cls, spec: EnvSpec, constraints: Sequence[str] = ()) -> ImageStage:
        """Node.js and the packages into the environment's prefix in a build stage (npm itself
        is not kept), copied onto the image."""
        from jupyter_orbit.imagelayout import (
            COPY_UV,
            ENV_PREFIX,
            NODE_BIN,
            NPM,
            NPM_FLAGS,
            SPEC_DIR,
            node_and_npm,
            run,
        )

        npm = [r.text for r in spec.packages(cls.name)]
        before = f" --before={spec.as_of}" if spec.as_of else ""
        build = (
            COPY_UV,
            f"COPY npm.txt {SPEC_DIR}/npm.txt",
            "# Node.js and npm packages into the environment's prefix (npm itself is not kept)",
            run(
                *node_and_npm(),
                f"xargs -a {SPEC_DIR}/npm.txt {NPM} install --global --prefix {ENV_PREFIX} "
                f"{NPM_FLAGS}{before}",
                f"cp {NODE_BIN}/bin/node {ENV_PREFIX}/bin/node",
            ),
        )
        copies = (
            "# npm packages",
            f"COPY --from=npm {ENV_PREFIX}/lib/node_modules {ENV_PREFIX}/lib/node_modules",
            f"COPY --from=npm {ENV_PREFIX}/bin {ENV_PREFIX}/bin",
            f"COPY --from=npm {SPEC_DIR}/npm.txt {SPEC_DIR}/npm.txt",
        )
        files = (("npm.txt", ("\n".join(npm) + "\n").encode()),)
        return ImageStage("npm", files, build, copies, after="npm-env")
