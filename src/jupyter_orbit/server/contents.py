"""The server's contents manager: nothing outside the root folder, whatever links a project holds.

jupyter_server checks that an API path stays under the root *as written*; a symlink in the
project (``sshlink -> ~/.ssh``) still takes reads, writes, renames, copies, deletes and
checkpoints anywhere. Here every path is checked by its real path (links followed) before it
is used, for the contents API, its checkpoints and ``/files``:

* a path whose real path leaves the root is refused (404 to the client; folder listings leave
  such an entry out);
* a symlink loop is refused at once (404), instead of an internal error;
* a folder is copied only when it holds no link that leaves the root or loops back into itself
  (copying follows links, which would bring the linked files in);
* a session (its kernel's working folder) must be inside the root too.

Saves are atomic: the new content goes to a temporary file beside the old one that replaces it
only once complete, so a server killed in the middle of a save leaves the old file whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from traitlets import default

from jupyter_orbit import atomic
from jupyter_orbit.server.checkpoints import ProfileCheckpoints


class OutsideRoot(web.HTTPError, PermissionError):
    """A path the server must not touch: HTTP 404 to the client, and to jupyter_server's own
    folder listing a permission error, which it answers by leaving the entry out."""

    def __init__(self, path: str, why: str) -> None:
        web.HTTPError.__init__(self, 404, "%s: %s", path, why)
        self.errno = errno.EACCES
        self.filename = path


def real_path(os_path: str, root: str, api_path: str) -> str:
    """``os_path`` with every link followed, if that stays inside ``root`` (a real path)."""
    try:
        real = os.path.realpath(os_path, strict=True)
    except FileNotFoundError:
        real = os.path.realpath(os_path)  # to be created: what exists of it decides
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutsideRoot(api_path, "a symbolic link loop") from None
        raise
    if os.path.commonpath((root, real)) != root:
        raise OutsideRoot(api_path, "outside the server's root folder")
    return real


class _RealPathMixin:
    """Checks the real path of every path jupyter_server's file managers turn into a file."""

    root_dir: str

    @property
    def _real_root(self) -> str:
        return os.path.realpath(self.root_dir)

    def _get_os_path(self, path: str) -> str:
        os_path = super()._get_os_path(path)  # type: ignore[misc]
        real_path(os_path, self._real_root, path)
        return os_path


class OrbitCheckpoints(_RealPathMixin, AsyncFileCheckpoints):
    """Checkpoints beside their file, never outside the root (a ``.ipynb_checkpoints`` that is
    a link out, or the system temp folder jupyter_server falls back to, is refused)."""

    def checkpoint_path(self, checkpoint_id: str, path: str) -> str:
        cp_path = super().checkpoint_path(checkpoint_id, path)
        real_path(cp_path, self._real_root, path)
        return cp_path


class OrbitProfileCheckpoints(_RealPathMixin, ProfileCheckpoints):
    """Checkpoints of files inside the root (by real path), kept in the profile: what Orbit's
    server uses (``checkpoints.keep_in_profile``), so opening a notebook adds nothing beside it."""


class OrbitFileHandler(AuthenticatedFileHandler):
    """``/files/…`` with the same rule as the contents API."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str:
        checked = super().validate_absolute_path(root, absolute_path)
        assert checked is not None
        rel = os.path.relpath(absolute_path, root)
        real_path(checked, os.path.realpath(root), rel)
        return checked


class OrbitContentsManager(_RealPathMixin, AsyncLargeFileManager):
    """jupyter_server's large-file manager kept inside its root by real path, saving atomically."""

    @default("checkpoints_class")
    def _checkpoints_class_default(self) -> type:
        return OrbitCheckpoints

    @default("files_handler_class")
    def _files_handler_class_default(self) -> type:
        return OrbitFileHandler

    @contextlib.contextmanager
    def atomic_writing(self, os_path: str, *args: Any, **kwargs: Any) -> Iterator[IO[Any]]:
        """Write a temporary file and rename it over the real target (a link inside the root
        stays a link), whatever ``use_atomic_writing`` says."""
        rel = os.path.relpath(os_path, self.root_dir)
        target = Path(real_path(os_path, self._real_root, rel))
        with (
            self.perm_to_403(os_path),
            atomic.writing(
                target,
                text=kwargs.get("text", args[0] if args else True),
                encoding=kwargs.get("encoding") or "utf-8",
            ) as f,
        ):
            yield f

    async def copy(self, from_path: str, to_path: str | None = None) -> dict:
        source = Path(self._get_os_path(from_path.strip("/")))
        if source.is_dir():
            self._check_links(source, from_path)
        return await super().copy(from_path, to_path)

    async def get_kernel_path(self, path: str, model: Any = None) -> str:
        self._get_os_path(path)  # a kernel's working folder is inside the root too
        return await super().get_kernel_path(path, model)

    def _check_links(self, folder: Path, api_path: str) -> None:
        """Refuse to copy a folder holding a link that leaves the root or loops into itself."""
        root, real_folder = self._real_root, os.path.realpath(folder)
        for parent, dirs, files in os.walk(folder):  # links to folders are listed, not entered
            for link in (Path(parent) / name for name in dirs + files):
                if not link.is_symlink():
                    continue
                inner = f"{api_path.strip('/')}/{link.relative_to(folder).as_posix()}"
                real = real_path(str(link), root, inner)
                if Path(real).is_dir() and os.path.commonpath((real, real_folder)) == real:
                    raise OutsideRoot(inner, "a link back into the folder being copied")
