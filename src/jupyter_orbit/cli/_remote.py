"""orbit remote add|list|remove|sync|pull: the profile's SSH hosts and the project copies there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jupyter_orbit.cli._options import profile_option as _profile_option
from jupyter_orbit.cli._options import quiet_option as _quiet_option


@click.group("remote")
def remote_group() -> None:
    """Remote hosts that run kernels over SSH (engine ssh:NAME)."""


def _store(profile: str):
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.remote.hosts import HostStore

    _, prof = locations(profile)
    return HostStore.of(prof)


@remote_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--token-stdin",
    is_flag=True,
    help="A gateway's token, read from standard input (kept in a file of the profile's, 0600).",
)
@click.option(
    "--accept-new-host-key",
    is_flag=True,
    help="Accept the host's key if no known_hosts file knows it (check its fingerprint first).",
)
@click.option("--index-url", metavar="URL", help="Package index for this host's builds.")
@click.option(
    "--extra-index-url", "extra_index_urls", multiple=True, metavar="URL", help="More indexes."
)
@click.option(
    "--find-links", "find_links", multiple=True, metavar="URL", help="Wheel folders or pages."
)
@click.option("--no-index", is_flag=True, help="Use only --find-links for this host's builds.")
@click.option("--replace", is_flag=True, help="Replace a host of the same name.")
@_profile_option
def add_command(
    name: str,
    url: str,
    accept_new_host_key: bool,
    index_url: str | None,
    extra_index_urls: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
    replace: bool,
    profile: str,
    token_stdin: bool = False,
) -> None:
    """Add host NAME at URL (ssh://user@host[:port]): its key checked, a login tried; or an
    Enterprise Gateway at URL (https://…): its kernels listed."""
    if not url.startswith("ssh://"):
        _add_gateway(name, url, token_stdin, replace, profile)
        return
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.enroll import NewKey, enroll
    from jupyter_orbit.remote.hosts import RemoteHost
    from jupyter_orbit.remote.url import check_host_name, parse_ssh_url

    host = RemoteHost(
        name=check_host_name(name),
        target=parse_ssh_url(url),
        index_url=index_url,
        extra_index_urls=extra_index_urls,
        find_links=find_links,
        no_index=no_index,
    )
    store = _store(profile)

    def accept(key: NewKey) -> bool:
        click.echo(f"The host key of {name} ({key.host}) is not in any known_hosts file:", err=True)
        click.echo(f"  {key.algorithm} {key.fingerprint}", err=True)
        if accept_new_host_key:
            click.echo("  accepted (--accept-new-host-key)", err=True)
            return True
        if not sys.stdin.isatty():
            click.echo(
                "  not accepted: no terminal to ask on (see --accept-new-host-key)", err=True
            )
            return False
        return click.confirm(
            f"Is this {name}'s real key? Accept and record it in {store.known_hosts}",
            default=False,
            err=True,
        )

    done = run_sync(enroll(store, host, accept, replace=replace))
    click.echo(f"added {name}: {done.host.target} ({done.platform or 'unknown platform'})")
    click.echo(f"  uv there: {done.uv or 'none (Orbit will copy its own when it builds)'}")
    click.echo(f"wrote {store.path}")
    if done.key == "accepted":
        click.echo(f"recorded the host key {done.fingerprint} in {store.known_hosts}")
    click.echo(f'use it with --engine ssh:{name} or metadata.orbit.engine = "ssh:{name}"')


def _add_gateway(name: str, url: str, token_stdin: bool, replace: bool, profile: str) -> None:
    from jupyter_orbit.engines.base import get_engine
    from jupyter_orbit.paths import Paths
    from jupyter_orbit.remote.hosts import Gateway
    from jupyter_orbit.remote.url import check_host_name, parse_gateway_url

    gateway = Gateway(check_host_name(name), parse_gateway_url(url))
    token = sys.stdin.readline().strip() if token_stdin else None
    store = _store(profile)
    previous = store.gateways()
    store.add_gateway(gateway, token, replace=replace)
    try:  # the gateway answers, with this token, and says which kernels it has
        from jupyter_orbit.cli._common import use_profile

        use_profile(profile)
        specs = get_engine(gateway.engine, Paths.from_env()).kernelspecs()
    except Exception:
        _restore(store, previous, name)
        raise
    click.echo(f"added {name}: {gateway.url} (kernels: {', '.join(sorted(specs)) or 'none'})")
    click.echo(f"wrote {store.path}" + (f" and {store.token_file(name)}" if token else ""))
    click.echo(f'use it with --engine gateway:{name} or metadata.orbit.engine = "gateway:{name}"')


def _restore(store, previous, name: str) -> None:  # noqa: ANN001
    """Undo adding gateway ``name`` after it did not answer."""
    before = next((g for g in previous if g.name == name), None)
    if before is None:
        store.remove_gateway(name)
    else:
        store.add_gateway(before, replace=True)


@remote_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_profile_option
def list_command(as_json: bool, profile: str) -> None:
    """The profile's remote hosts."""
    store = _store(profile)
    hosts, gateways = store.hosts(), store.gateways()
    if as_json:
        rows = [{"name": h.name, "engine": h.engine, **h.to_table()} for h in hosts]
        rows += [{"name": g.name, "engine": g.engine, **g.to_table()} for g in gateways]
        click.echo(json.dumps(rows, indent=2))
        return
    if not hosts and not gateways:
        click.echo("no remote hosts (add one with `orbit remote add NAME ssh://user@host`)")
    for h in hosts:
        extra = " ".join(h.index_args())
        click.echo(f"{h.name}\t{h.target}" + (f"\t{extra}" if extra else ""))
    for g in gateways:
        click.echo(f"{g.name}\t{g.url}\tgateway")


@remote_group.command("remove")
@click.argument("name")
@_profile_option
def remove_command(name: str, profile: str) -> None:
    """Forget host NAME (and the host key Orbit recorded for it; files there are kept), or the
    gateway NAME and its token."""
    from jupyter_orbit.cli._common import locations
    from jupyter_orbit.remote.enroll import forget
    from jupyter_orbit.remote.ssh_engine import forget_notes

    store = _store(profile)
    if any(g.name == name for g in store.gateways()):
        gateway = store.remove_gateway(name)
        click.echo(f"removed the gateway {name} ({gateway.url}) and its token from {store.path}")
        return
    host, keys = forget(store, name)
    forget_notes(locations(profile)[0], host)
    click.echo(f"removed {name} ({host.target}) from {store.path}")
    if keys:
        click.echo(f"removed its host key from {store.known_hosts}")
    click.echo(
        f"its files on the host are kept (~/.cache/orbit-remote there; delete them with "
        f"`ssh {host.target.host} rm -rf .cache/orbit-remote` if you no longer need them)"
    )


def _project_sync(
    name: str,
    project: Path,
    profile: str,
    quiet: bool,
    pull: bool,
    dry: bool,
    no_limit: bool = False,
):
    from jupyter_orbit.cli._common import progress
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.session import connect
    from jupyter_orbit.remote.sync import NO_LIMITS, ProjectSync

    store = _store(profile)
    host = store.get(name)

    async def work(p) -> object:  # noqa: ANN001
        async with await connect(host, store) as s:
            sync = ProjectSync(s, project, p, NO_LIMITS if no_limit else None)
            return await (sync.pull(dry_run=dry) if pull else sync.push(dry_run=dry))

    with progress(quiet) as p:
        return run_sync(work(p))


@remote_group.command("sync")
@click.argument("name")
@click.argument("project", required=False, type=click.Path(path_type=Path), default=Path())
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option(
    "--no-limit", is_flag=True, help="Send more than 20,000 files or 2 GiB if the project has it."
)
@_profile_option
@_quiet_option
def sync_command(
    name: str, project: Path, dry_run: bool, no_limit: bool, profile: str, quiet: bool
) -> None:
    """Send PROJECT's changed files to Orbit's copy on host NAME (kernels do this at start)."""
    r = _project_sync(name, project, profile, quiet, pull=False, dry=dry_run, no_limit=no_limit)
    verb = "would send" if dry_run else "sent"
    for path in r.sent:
        click.echo(f"{verb}: {path}")
    for path in r.deleted:
        click.echo(f"{'would delete' if dry_run else 'deleted'} there: {path}")
    for ex in r.excluded:
        click.echo(f"{'refused' if ex.refused else 'excluded'}: {ex}")
    for path in r.kept:
        click.echo(f"only there (written on {name}; `orbit remote pull` brings it): {path}")
    click.echo(
        f"{len(r.sent)} sent, {r.unchanged} unchanged, {len(r.deleted)} deleted -> "
        f"{name}:{r.remote_root}",
        err=True,
    )


@remote_group.command("pull")
@click.argument("name")
@click.argument("project", required=False, type=click.Path(path_type=Path), default=Path())
@click.option("--dry-run", is_flag=True, help="Say what would be fetched; write nothing.")
@_profile_option
@_quiet_option
def pull_command(name: str, project: Path, dry_run: bool, profile: str, quiet: bool) -> None:
    """Fetch files the kernel wrote or changed on host NAME into PROJECT (changed ones only).

    A local file that changed here since it was sent is never overwritten: it is listed as a
    conflict (exit status 1).
    """
    r = _project_sync(name, project, profile, quiet, pull=True, dry=dry_run)
    for path in r.fetched:
        click.echo(f"{'would fetch' if dry_run else 'wrote'}: {Path(project, path)}")
    for path, why in r.conflicts:
        click.echo(f"conflict, not overwritten: {Path(project, path)} ({why})")
    for ex in r.excluded:
        click.echo(f"skipped: {ex}")
    click.echo(
        f"{len(r.fetched)} fetched, {len(r.conflicts)} conflicts, {r.unchanged} unchanged", err=True
    )
    if r.conflicts:
        sys.exit(1)
