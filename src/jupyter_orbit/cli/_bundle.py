"""orbit bundle TARGET… -o FILE | install FILE | list | remove ID: offline bundles."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jupyter_orbit.cli._options import profile_option, quiet_option

_path = click.Path(path_type=Path)
SUBCOMMANDS = ("install", "list", "remove")


class _BuildByDefault(click.Group):
    """``orbit bundle TARGET…`` builds; ``orbit bundle install|list|remove`` manage."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group("bundle", cls=_BuildByDefault)
def bundle_group() -> None:
    """Offline bundles: build one (TARGET… -o FILE), install it (install FILE), list, remove.

    \b
    orbit bundle analysis.ipynb project/ -o lab.orbit-bundle.tar.gz
    orbit bundle --all --dry-run
    orbit bundle --installer -o orbit-installer.sh
    orbit bundle install lab.orbit-bundle.tar.gz     # on the machine with no network
    """


@bundle_group.command("build", hidden=True)
@click.argument("targets", nargs=-1)
@click.option("-o", "--output", type=_path, help="The bundle file to write.")
@click.option("--all", "recent", is_flag=True, help="Add the profile's recent projects.")
@click.option("--dry-run", is_flag=True, help="List what the bundle would hold, and its size.")
@click.option(
    "--installer",
    is_flag=True,
    help="Write an installer that needs no network (-o NAME.sh; NAME.zip: for Windows).",
)
@click.option("--no-server", is_flag=True, help="Leave out the profile's server environment.")
@click.option("--yes", is_flag=True, help="Bundle what untrusted projects declare.")
@click.option("--as-of", help="Resolve unpinned requirements as of DATE (or now).")
@profile_option
@quiet_option
def build_command(
    targets: tuple[str, ...],
    output: Path | None,
    recent: bool,
    dry_run: bool,
    installer: bool,
    no_server: bool,
    yes: bool,
    as_of: str | None,
    profile: str,
    quiet: bool,
) -> None:
    """Bundle TARGETs (notebooks, folders, profile:NAME) for a machine with no network."""
    from jupyter_orbit.bundler import build
    from jupyter_orbit.cli._common import locations, progress
    from jupyter_orbit.errors import InputError
    from jupyter_orbit.indexes import IndexPolicy
    from jupyter_orbit.prepare import Choices, Consent

    paths, _ = locations(profile)
    if not targets and not recent and not installer:
        raise InputError("nothing to bundle", "name notebooks or folders, or give --all")
    if output is None and not dry_run:
        raise InputError("no output file", "give -o FILE (or --dry-run)")
    choices = Choices(
        as_of=as_of,
        consent=Consent(yes=yes),
        default_engine=_profile_engine(paths, profile),
        indexes=IndexPolicy.for_profile(paths, profile),
    )
    expanded = build.expand(targets, paths, profile, recent=recent)
    with progress(quiet, "bundling") as p:
        if installer:
            from jupyter_orbit.bundler import installer as inst

            if dry_run:
                plan = inst.plan_installer(expanded, paths=paths, profile=profile, choices=choices)
                for line in plan.lines():
                    click.echo(line)
                return
            assert output is not None
            if output.name.endswith(".zip"):  # Windows: install.ps1, uv.exe, Windows wheels
                lines = inst.write_windows_installer(
                    expanded, output, paths=paths, profile=profile, choices=choices, progress=p
                )
            else:
                lines = inst.write_installer(
                    expanded, output, paths=paths, profile=profile, choices=choices, progress=p
                )
            for line in lines:
                click.echo(line)
            return
        plan = build.plan_bundle(
            expanded,
            paths=paths,
            profile=profile,
            choices=choices,
            server=not no_server,
            progress=p,
        )
        if dry_run:
            for line in plan.lines():
                click.echo(line)
            return
        assert output is not None
        manifest = build.write(plan, output, paths=paths, progress=p)
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(build.summary(manifest, output))


def _profile_engine(paths, profile: str) -> str:  # noqa: ANN001
    from jupyter_orbit import settings

    path = paths.profile(profile).settings_file
    return settings.read(path).defaults.engine if path.exists() else "local"


@bundle_group.command("install")
@click.argument("file", type=_path)
@profile_option
@quiet_option
def install_command(file: Path, profile: str, quiet: bool) -> None:
    """Verify FILE (every sha256) and install it as the top layer; the profile then installs
    packages from the bundles only (stand-in registries on 127.0.0.1)."""
    from jupyter_orbit.bundler.install import install
    from jupyter_orbit.cli._common import locations, progress

    paths, _ = locations(profile)
    with progress(quiet, "installing the bundle") as p:
        done = install(file, paths, profile, p)
    for line in done.done:
        click.echo(line)
    for note in done.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        "packages now come from the installed bundles only (`orbit bundle list`); "
        "`orbit bundle remove ID` takes one away"
    )


@bundle_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@profile_option
def list_command(as_json: bool, profile: str) -> None:
    """The installed bundles, bottom layer first."""
    from jupyter_orbit.bundle.archive import human_size
    from jupyter_orbit.bundle.store import BundleStore
    from jupyter_orbit.cli._common import locations

    paths, _ = locations(profile)
    rows = []
    for b in BundleStore(paths.bundles_dir).installed():
        kinds: dict[str, int] = {}
        for m in b.manifest.members:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        rows.append(
            {
                "id": b.id,
                "name": b.manifest.name,
                "platform": list(b.manifest.platform),
                "size": b.manifest.total_size,
                "members": kinds,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        what = ", ".join(f"{n} {k}" for k, n in sorted(r["members"].items()))
        click.echo(f"{r['id']}  {r['name'] or '(unnamed)'}  {human_size(r['size'])}  {what}")
    if not rows:
        click.echo(f"no bundles installed ({paths.bundles_dir}): packages come from the registries")


@bundle_group.command("remove")
@click.argument("ref")
@profile_option
def remove_command(ref: str, profile: str) -> None:
    """Remove the installed bundle REF (its id, a prefix of it, or its name)."""
    from jupyter_orbit.bundle.store import BundleStore
    from jupyter_orbit.cli._common import locations

    paths, _ = locations(profile)
    store = BundleStore(paths.bundles_dir)
    gone = store.remove(ref)
    left = store.installed()
    click.echo(f"removed {gone.label}")
    if not left:
        click.echo("no bundles left: packages come from the registries again")
    click.echo("a running server keeps serving what it started with until `orbit down`")
