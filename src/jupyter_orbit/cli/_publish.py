"""orbit publish PROJECT --image NAME[:TAG] | --binder [DIR] | --z2jh DIR: the project as a
container image anyone can run, a Binder-ready repository, or JupyterHub on Kubernetes.

This module is imported with the command line, so it holds only the click command; the work is
imported when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from jupyter_orbit.cli._options import profile_option, quiet_option


@click.command("publish")
@click.argument("project", type=click.Path(path_type=Path, file_okay=False), default=Path())
@click.option("--image", "image", metavar="NAME[:TAG]", help="Build a standalone image.")
@click.option(
    "--app",
    type=(click.Choice(["voila"]), str),
    metavar="voila NOTEBOOK",
    help="Serve one notebook as a Voilà app instead of JupyterLab.",
)
@click.option(
    "--push",
    "registry",
    metavar="REGISTRY",
    help="Push the image to REGISTRY (host[:port]) as REGISTRY/NAME:TAG.",
)
@click.option(
    "--binder",
    "binder",
    is_flag=False,
    flag_value=".",
    metavar="[DIR]",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write Binder/repo2docker files (into PROJECT, or a Binder-ready copy of it in DIR).",
)
@click.option(
    "--pin",
    is_flag=True,
    help="With --binder: the exact versions the image resolved in requirements.txt (else the "
    "project's own requirements, which Orbit reads back to the same environment).",
)
@click.option(
    "--z2jh",
    "z2jh",
    metavar="DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write a Zero to JupyterHub config.yaml for the image (needs --image).",
)
@click.option("--as-of", "as_of", metavar="DATE|now", help="Resolve unpinned packages as of DATE.")
@click.option("--yes", "-y", is_flag=True, help="Install what the project declares (this run).")
@click.option("--force", is_flag=True, help="Overwrite files --binder/--z2jh wrote before.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of what was made.")
@quiet_option
@profile_option
def publish_command(
    project: Path,
    image: str | None,
    app: tuple[str, str] | None,
    registry: str | None,
    binder: Path | None,
    pin: bool,
    z2jh: Path | None,
    as_of: str | None,
    yes: bool,
    force: bool,
    as_json: bool,
    quiet: bool,
    profile: str,
) -> None:
    """Publish PROJECT (default: this folder): a container image, Binder files, a JupyterHub
    on Kubernetes config."""
    from jupyter_orbit.cli._common import locations, progress
    from jupyter_orbit.cli._run import _ask, _interactive
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.prepare import Consent
    from jupyter_orbit.publish.project import collect

    if (registry or app) and image is None:
        raise InputError("--push and --app go with --image", "add --image NAME[:TAG]")
    if z2jh is not None and image is None:
        raise InputError(
            "--z2jh needs the image its users run", "add --image NAME[:TAG] (and --push REGISTRY)"
        )
    if z2jh is not None and app is not None:
        raise InputError(
            "--z2jh serves JupyterLab to each user; --app voila makes a standalone app",
            "publish them separately (two image names)",
        )
    if pin and binder is None:
        raise InputError("--pin goes with --binder", "add --binder [DIR]")
    if image is None and binder is None:
        raise InputError(
            "nothing to publish", "choose --image NAME[:TAG], --binder [DIR] or --z2jh DIR"
        )
    if image is not None:
        from jupyter_orbit.publish.image import check_name

        image = check_name(image)  # before anything is read or built
    paths, _ = locations(profile)
    out: dict[str, Any] = {}
    consent = Consent(yes=yes, ask=_ask if _interactive() else None)
    with progress(quiet, "publishing") as p:
        until = "plan" if image is not None else "resolve"  # Binder files need no engine
        only = app[1] if app else None
        proj = collect(paths, project, as_of=as_of, only=only, until=until, progress=p)
        if image is not None:
            from jupyter_orbit.publish.image import publish_image

            made = publish_image(
                paths,
                proj,
                image,
                app="voila" if app else "jupyterlab",
                hub=z2jh is not None,
                consent=consent,
                progress=p,
            )
            out["image"] = made.public()
            if registry:
                from jupyter_orbit.publish.registry import push

                out["pushed"] = push(made.image, registry, progress=p)
        if binder is not None:
            from jupyter_orbit.publish.binder import write_binder

            dest = proj.root if str(binder) == "." else binder
            out["binder"] = write_binder(
                paths, proj, dest, pin=pin, force=force, consent=consent, progress=p
            ).public()
        if z2jh is not None:
            from jupyter_orbit.publish.z2jh import write_z2jh

            assert image is not None
            pushed = out.get("pushed", {}).get("reference")
            out["z2jh"] = write_z2jh(proj, z2jh, pushed or image, force=force, progress=p).public()
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    _say(out)


def _say(out: dict[str, Any]) -> None:
    if image := out.get("image"):
        mb = image["size"] / 1e6
        click.echo(f"built {image['image']} ({mb:.0f} MB): {image['project']}")
        for env_id, notebooks in image["environments"].items():
            click.echo(f"  environment {env_id}: {', '.join(notebooks) or 'the project'}")
        if image["left_out"]:
            click.echo(f"  left out: {', '.join(image['left_out'])}")
        ref = out.get("pushed", {}).get("reference", image["image"])
        click.echo(f"run it: docker run --rm -p 127.0.0.1:8888:8888 -e JUPYTER_TOKEN {ref}")
        click.echo(
            "  (-e JUPYTER_TOKEN passes your shell's JUPYTER_TOKEN; without one, the server "
            "prints a random token in the container's log)"
        )
    if pushed := out.get("pushed"):
        click.echo(f"pushed {pushed['reference']} ({pushed['digest']})")
    for key in ("binder", "z2jh"):
        if made := out.get(key):
            for path in made["written"]:
                click.echo(f"wrote {path}")
            for path in made.get("unchanged", []):
                click.echo(f"unchanged {path}")
            for note in made.get("notes", []):
                click.echo(f"  note: {note}")
