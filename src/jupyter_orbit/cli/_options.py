"""Options every command group shares, so that ``--profile`` means the same thing everywhere."""

from __future__ import annotations

import click


def default_profile() -> str:
    from jupyter_orbit.paths import Paths

    return Paths.from_env().default_profile()


def profile_option(f):  # noqa: ANN001
    return click.option(
        "--profile",
        default=default_profile,
        show_default="ORBIT_PROFILE, else `orbit profile use`, else default",
        help="Profile to use.",
    )(f)


def quiet_option(f):  # noqa: ANN001
    return click.option("--quiet", "-q", is_flag=True, help="No progress display.")(f)
