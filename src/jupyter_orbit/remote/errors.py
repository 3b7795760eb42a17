"""Failures of remote hosts, each a distinct ``OrbitError`` with its fix."""

from __future__ import annotations

from jupyter_orbit.errors import OrbitError


class RemoteError(OrbitError):
    """Something failed on, or on the way to, a remote host."""


class HostUnreachable(RemoteError):
    """No SSH server answered at the host's address."""


class AuthRefused(RemoteError):
    """The SSH server refused every key offered."""


class HostKeyUnknown(RemoteError):
    """The host's key is in no known_hosts file: it must be accepted explicitly first."""


class HostKeyChanged(RemoteError):
    """The host presented another key than the one recorded for it."""


class UvUnavailable(RemoteError):
    """The remote has no uv, and Orbit's own cannot run there."""


class RemoteDiskFull(RemoteError):
    """The remote ran out of disk space (ENOSPC) while files were written there."""


class ConnectionDropped(RemoteError):
    """The SSH connection was lost in the middle of an operation."""


class RemoteCommandFailed(RemoteError):
    """A command Orbit ran on the remote failed."""
