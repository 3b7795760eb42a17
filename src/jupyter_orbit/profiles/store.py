"""The profile store: the profiles under ``$ORBIT_HOME/profiles/`` and which one is the default.

A new profile (created, cloned or imported) is assembled in a hidden staging folder and renamed
into place whole, so a profile folder is either complete or absent; a removed one is renamed
aside first, so an interrupted removal leaves no half profile behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from jupyter_orbit import atomic, locking
from jupyter_orbit import settings as st
from jupyter_orbit.errors import InputError, OrbitError
from jupyter_orbit.paths import DEFAULT_PROFILE, Paths, ProfilePaths, check_profile_name

_STAGING = ".staging-"
_TRASH = ".removed-"


def default_profile_name(paths: Paths, environ: dict[str, str] | None = None) -> str:
    """ORBIT_PROFILE, else the profile chosen with ``orbit profile use``, else ``default``."""
    return paths.default_profile(os.environ if environ is None else environ)


class ProfileStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        # The bytes of each profile.toml as this store read it: ``save`` refuses to write over
        # a version someone saved since (a hand edit while `orbit ext add` was building).
        self._seen: dict[str, bytes] = {}

    @property
    def root(self) -> Path:
        return self.paths.profiles_dir

    # -- reading ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            if p.name.startswith(".") or not p.is_dir():
                continue
            with contextlib.suppress(InputError):
                check_profile_name(p.name)
                out.append(p.name)
        return out

    def exists(self, name: str) -> bool:
        return self.paths.profile(name).root.is_dir()

    def profile(self, name: str, *, must_exist: bool = True) -> ProfilePaths:
        """The profile's folders; the default profile is made when first asked for, as
        `orbit up` always has."""
        prof = self.paths.profile(name)
        if name == DEFAULT_PROFILE and not prof.root.is_dir():
            self.settings(name, create=True)
        if must_exist and not prof.root.is_dir():
            known = self.names()
            raise InputError(
                f"no profile named {name!r}",
                (f"profiles here: {', '.join(known)}; " if known else "")
                + f"create it with `orbit profile create {name}`",
            )
        return prof

    def settings(self, name: str, *, create: bool = False) -> st.Settings:
        """The profile's settings; a profile made before it had a settings file gets defaults.

        ``create`` makes the profile (folders and settings) when it does not exist yet, the way
        ``orbit up --profile NEW`` always has.
        """
        prof = self.paths.profile(name) if create else self.profile(name)
        if (data := locking.read(prof.settings_file)) is not None:
            self._seen[name] = data
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    "not UTF-8 text", "fix or remove the file", path=prof.settings_file
                ) from None
            return st.parse(text, prof.settings_file)
        settings = st.default_settings()
        prof.ensure()
        st.write(prof.settings_file, settings)
        self._seen[name] = prof.settings_file.read_bytes()
        return settings

    def save(self, name: str, settings: st.Settings) -> None:
        """Write the profile's settings (its comments kept), under the file's lock, refusing
        (``locking.FileChanged``) if it changed since this store read it."""
        path = self.profile(name).settings_file
        with locking.locked(path):
            current = locking.read(path)
            if name in self._seen and current != self._seen[name]:
                raise locking.FileChanged(path)
            after = st.render(settings, current.decode("utf-8") if current else None).encode()
            atomic.write_bytes(path, after)
            self._seen[name] = after

    # -- the default profile -------------------------------------------------------------------

    def default(self) -> str:
        return default_profile_name(self.paths, {})

    def use(self, name: str) -> None:
        self.profile(name)
        self._write_global(default_profile=name)

    def use_default(self) -> None:
        """Forget the chosen default profile (back to ``default``)."""
        self._write_global(default_profile=DEFAULT_PROFILE)

    def _write_global(self, **values: str) -> None:
        import tomlkit

        path = self.paths.settings_file
        with locking.locked(path):  # from the read to the write
            seen = locking.read(path)
            if seen is None:
                doc = tomlkit.document()
                doc.add(
                    tomlkit.comment(
                        "Orbit-wide settings; `orbit profile use NAME` sets the default."
                    )
                )
            else:
                try:
                    doc = tomlkit.parse(seen.decode("utf-8"))
                except Exception:
                    raise InputError(
                        "not a valid TOML file", "fix it, or remove it to start over", path=path
                    ) from None
            for key, value in values.items():
                doc[key] = value
            locking.replace(path, seen, tomlkit.dumps(doc).encode("utf-8"))

    # -- creating ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / ".lock"):
            yield

    def new(self, name: str, fill: Callable[[ProfilePaths], None]) -> ProfilePaths:
        """Make profile ``name`` whole: ``fill`` writes into a staging folder renamed into place.

        Nothing is left behind when ``fill`` raises, and nothing is touched when ``name`` exists.
        """
        final = self.paths.profile(name)
        with self._lock():
            self.refuse_existing(name)
            with atomic.staged_dir(final.root, prefix=_STAGING) as folder:
                stage = ProfilePaths(name, folder).ensure()
                fill(stage)
        return final

    def refuse_existing(self, name: str) -> None:
        if self.exists(name):
            raise InputError(
                f"a profile named {name!r} already exists",
                "choose another name, or remove it first with `orbit profile remove " + name + "`",
            )

    def create(self, name: str, settings: st.Settings) -> ProfilePaths:
        check_profile_name(name)
        return self.new(name, lambda stage: st.write(stage.settings_file, settings))

    def clone(self, source: str, target: str) -> ProfilePaths:
        """A copy of ``source``'s settings, server config, JupyterLab settings and workspaces.

        Left out: its running state, logs, browser data (cookies, sessions) and IPython history.
        The server environment is shared by id, so a clone costs no build.
        """
        check_profile_name(target)
        src = self.profile(source)
        settings = self.settings(source)

        def fill(stage: ProfilePaths) -> None:
            st.write(stage.settings_file, settings)
            for rel in exported_files(src):
                dest = stage.root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src.root / rel, dest)
            self.install_kernelspecs(stage, settings)

        return self.new(target, fill)

    # -- removing ------------------------------------------------------------------------------

    def remove(self, name: str) -> None:
        prof = self.profile(name)
        from jupyter_orbit.state import running

        if state := running(prof, check_http=False):
            raise OrbitError(
                f"profile {name!r} has a server running (pid {state.pid})",
                f"stop it first with `orbit down --profile {name}`",
            )
        with self._lock():
            aside = self.root / f"{_TRASH}{name}-{secrets.token_hex(4)}"
            prof.root.rename(aside)
            if self.default() == name:
                self._write_global(default_profile=DEFAULT_PROFILE)
        shutil.rmtree(aside, ignore_errors=True)

    def leftovers(self) -> list[Path]:
        """Staging and removal folders an interrupted command left behind."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.name.startswith((_STAGING, _TRASH))]

    # -- kernelspecs ---------------------------------------------------------------------------

    def install_kernelspecs(self, profile: ProfilePaths, settings: st.Settings) -> list[str]:
        """Write Orbit's kernelspecs and drop those of kernels the profile does not offer."""
        from jupyter_orbit.kernels.kernelspecs import install_kernelspecs
        from jupyter_orbit.kernels.recipes import recipe_classes

        installed = install_kernelspecs(profile)
        wanted = settings.defaults.kernels
        if wanted is None:
            return installed
        classes = recipe_classes()
        keep = {classes[k].kernelspec_name for k in wanted if k in classes}
        for cls in classes.values():
            if cls.kernelspec_name not in keep:
                shutil.rmtree(profile.kernels_dir / cls.kernelspec_name, ignore_errors=True)
        return [k for k in installed if k in keep]


def exported_files(profile: ProfilePaths) -> list[str]:
    """The profile's files that carry over to a clone or an export (relative, POSIX)."""
    out = []
    if profile.server_config.is_file():
        out.append(profile.server_config.relative_to(profile.root).as_posix())
    for folder, suffix in (
        (profile.lab_settings_dir, ".jupyterlab-settings"),
        (profile.workspaces_dir, ".jupyterlab-workspace"),
    ):
        if folder.is_dir():
            out += [
                p.relative_to(profile.root).as_posix()
                for p in sorted(folder.rglob(f"*{suffix}"))
                if p.is_file() and not p.is_symlink()
            ]
    return out
