"""Fixtures shared with the feature tests the attacks are aimed at."""

from tests.remote.conftest import client, fresh_ssh_host, lab, ssh_host  # noqa: F401
