"""`oubliette container ...`: start, list, refresh, stop."""

from __future__ import annotations

from collections.abc import Mapping

import click

from oubliette.app import App
from oubliette.cli.complete import complete_projects
from oubliette.cli.output import (
    json_option,
    named,
    print_json,
    print_listing,
    project_name,
    quiet_option,
    reporter_for,
)
from oubliette.errors import OublietteError


@click.group("container")
def container() -> None:
    """Start, list, refresh and stop project containers."""


@container.command("start")
@click.argument("project_ids", metavar="[ID]...", nargs=-1, shell_complete=complete_projects)
@json_option
@click.pass_obj
def start(app: App, project_ids: tuple[str, ...], as_json: bool) -> None:
    """Start the projects' containers, pulling an image first if it is missing.

    A container an interrupted refresh left aside is recovered first; a stopped one
    is started again and a paused one unpaused. Already running: says so and exits 0.
    With --json: one record per project, as a list when several were given. Without
    an ID: the project whose workspace holds the current directory.
    """
    from oubliette.ops.containers import start_container

    project_ids = project_ids or (".",)
    reporter = reporter_for(app, as_json)
    results = [start_container(app, project_id, reporter) for project_id in dict.fromkeys(project_ids)]
    if as_json:
        records = [r.to_dict() for r in results]
        print_json(records[0] if len(project_ids) == 1 else records)
        return
    for result in results:
        if result.action == "already_running":
            click.echo(f"Container {result.name} ({project_name(app, result.project_id)}) is already running.")
        else:
            click.echo(f"Started container {result.name} ({project_name(app, result.project_id)}, {result.image}).")


@container.command("list")
@click.option("-a", "--all", "all_", is_flag=True, help="Include stopped containers.")
@click.option("--outdated", is_flag=True,
              help="Only containers that run another image than their type's reference now resolves to "
                   "locally, or whose project's type now maps to another reference (no network; one more "
                   "engine call).")
@json_option
@quiet_option("project")
@click.pass_obj
def list_(app: App, all_: bool, outdated: bool, as_json: bool, quiet: bool) -> None:
    """List this home's running containers (one call per engine, selected by label).

    Every engine this home's projects use is listed, concurrently; an engine that
    cannot be reached is a warning naming it, and the others are still listed. The
    ENGINE column appears when projects use more than one engine ("engine" is in
    every --json row). Containers of other oubliette homes are not shown. IMAGE is
    the image reference the container was started from; STATUS is `running`,
    `stopped` (exited, created and dead containers) or `paused` (Docker and Podman),
    with `(orphaned)` when its project was deleted (`container stop ID` removes it).
    With --outdated, --json rows add "outdated", "image_id" and "latest_image_id",
    and `oubliette container list --outdated -q | xargs -r oubliette container
    refresh` refreshes just those.
    """
    from oubliette.engines.fleet import engines_in_use, home_containers
    from oubliette.model import ContainerInfo

    engines = engines_in_use(app)
    infos = home_containers(app, include_stopped=all_, engines=engines)
    several = len(engines) > 1  # then the table says which engine each container is on

    def status(info: ContainerInfo) -> str:
        return info.status + (" (orphaned)" if info.orphan else "")

    from oubliette.ops.rows import container_rows

    # by engine and name: `--outdated` lists the same containers inside its own records
    rows = {} if quiet else {(i.engine, i.name): row for i, row in zip(infos, container_rows(app, infos), strict=True)}

    def columns(info: ContainerInfo) -> list:
        return [info.project_id, rows[info.engine, info.name]["project_name"] or "-", info.image, status(info),
                *([info.engine] if several else [])]

    def named(record: Mapping[str, object], info: ContainerInfo) -> dict:
        row = rows[info.engine, info.name]
        return {**record, "project_name": row["project_name"], "ports": row["ports"]}

    headers = ["PROJECT ID", "NAME", "IMAGE", "STATUS", *(["ENGINE"] if several else [])]
    if outdated:
        from oubliette.ops.freshness import freshness

        stale = [f for f in freshness(app, infos) if f.outdated]
        print_listing(stale, as_json, quiet, record=lambda f: named(f.to_record(), f.info),
                      ident=lambda f: f.info.project_id, headers=headers, row=lambda f: columns(f.info))
        return
    print_listing(infos, as_json, quiet, record=lambda i: rows[i.engine, i.name],  # the record, named already
                  ident=lambda i: i.project_id, headers=headers, row=columns)


@container.command("logs")
@click.argument("project_id", metavar="[ID]", required=False, default=".", shell_complete=complete_projects)
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the container prints (Ctrl-C ends).")
@click.option("-n", "--tail", "lines", type=click.IntRange(min=0), metavar="N",
              help="Only the last N lines (of the setup log and of the container's output).")
@click.pass_obj
def logs(app: App, project_id: str, follow: bool, lines: int | None) -> None:
    """Print the project's setup log (the type's "setup" output, from the home), then its
    container's own output, as the engine keeps it. Without an ID: the project whose
    workspace holds the current directory."""
    import sys

    from oubliette.ops.containers import container_logs

    code = container_logs(app, project_id, follow, lines, sys.stdout)
    sys.exit(code)


@container.command("refresh")
@click.argument("project_ids", metavar="[ID]...", nargs=-1, shell_complete=complete_projects)
@click.option("--if-changed", is_flag=True,
              help="Replace only containers whose image differs from what their reference now resolves to "
                   "(or whose type changed); leave the others running (status \"unchanged\").")
@click.option("--prune", is_flag=True,
              help="Afterwards, remove each superseded image that no container uses any more (never forced).")
@click.option("-j", "--jobs", type=click.IntRange(1, 32), default=16, show_default=True, metavar="N",
              help="Replace up to N containers at once (after the pulls).")
@json_option
@click.pass_obj
def refresh(app: App, project_ids: tuple[str, ...], if_changed: bool, prune: bool, jobs: int,
            as_json: bool) -> None:
    """Pull the image, then replace the container (no ids: every running container).

    Each distinct image is pulled once, first: if a pull fails, those containers keep
    running untouched. When the registry cannot be reached (or does not have the
    image, or denies access) and the image is here locally, the local image is used;
    a container that already runs it is left running ("unchanged (registry
    unreachable)"). If a new container does not start, the old one is brought back.
    Refused while the project has active sessions. Everything outside /workspace is
    discarded. Without ids, an engine that cannot be reached is left out: the others'
    containers are refreshed, then the command exits 3 naming it.
    """
    from oubliette.ops.refresh import refresh as refresh_projects
    from oubliette.ops.refresh import refresh_targets

    reporter = reporter_for(app, as_json)
    left_out: list[OublietteError] = []
    projects = refresh_targets(app, project_ids, left_out)
    if not projects:
        if as_json:
            print_json([])
        else:
            click.echo("No running containers to refresh.")
        _fail_if_left_out(left_out, "its containers were not refreshed")
        return
    single = len(project_ids) == 1 and not as_json  # then a failure is this command's one Error line
    results = refresh_projects(app, projects, reporter, report_failures=not single, jobs=jobs,
                               if_changed=if_changed, prune=prune)
    failed = [r for r in results if r.status == "failed"]
    unchanged = [r for r in results if r.status.startswith("unchanged")]
    if as_json:
        print_json([r.to_dict() for r in results])
    _fail_if_left_out(left_out, "its containers were not refreshed (the others were)")
    if single and failed:
        raise OublietteError(failed[0].error or "refresh failed", hint=failed[0].hint)
    if failed:
        if not as_json:
            click.echo(f"{len(failed)} of {len(results)} containers failed to refresh.", err=True)
        raise click.exceptions.Exit(1)
    if not as_json and unchanged:
        click.echo(f"{len(results) - len(unchanged)} refreshed, {len(unchanged)} unchanged.")
    elif not as_json and not single:
        click.echo("All containers refreshed.")


@container.command("stop")
@click.argument("project_ids", metavar="[ID]...", nargs=-1, shell_complete=complete_projects)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Stop every container of this home (and nothing else).")
@click.option("-f", "--force", is_flag=True, help="Stop even while sessions are active (their commands are killed).")
@json_option
@click.pass_obj
def stop(app: App, project_ids: tuple[str, ...], all_: bool, force: bool, as_json: bool) -> None:
    """Stop and remove project containers (give IDs, or --all).

    The workspace stays; whatever else lived in the container is gone. Refused while
    a project has active sessions, unless --force. A project without a container is
    a no-op that says so. The id of a deleted project whose container is still
    listed (orphaned) removes that container. With --all, an engine that cannot be
    reached is left out: the others' containers are stopped, then the command exits 3
    naming it.
    """
    from oubliette.ops.containers import stop_all, stop_containers

    if bool(project_ids) == all_:
        raise click.UsageError("give one or more project IDs, or --all (not both)")
    reporter = reporter_for(app, as_json)
    left_out: list[OublietteError] = []
    results = (stop_all(app, reporter, force, left_out) if all_
               else stop_containers(app, project_ids, reporter, force))
    if as_json:
        print_json([r.to_dict() for r in results])
    elif all_:
        count = len(results)
        click.echo(f"Stopped {count} container{'s' if count != 1 else ''}." if count else "No containers to stop.")
    _fail_if_left_out(left_out, "its containers were not stopped" + (" (the others were)" if results else ""))
    if as_json or all_:
        return
    for result in results:
        if result.action == "no_container":
            click.echo(f"{named(app, result.project_id)} has no container; nothing to stop.")
        else:
            click.echo(f"Stopped and removed {result.name} ({project_name(app, result.project_id) or 'orphaned'}).")


def _fail_if_left_out(left_out: list[OublietteError], what: str) -> None:
    """After the work on every engine that answered: exit 3 naming one that did not."""
    if left_out:
        from oubliette.engines.fleet import left_out_error

        raise left_out_error(left_out, what)
