"""`oubliette project ...`: create, list, show, update, delete, options."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import click

from oubliette.app import App
from oubliette.cli.complete import complete_engines, complete_projects, complete_types
from oubliette.cli.output import json_option, print_json, print_listing, print_table, quiet_option, reporter_for


@click.group("project")
def project() -> None:
    """Create and manage projects (each gets one container)."""


@project.command("create")
@click.argument("name")
@click.option("--type", "type_name", metavar="TYPE", shell_complete=complete_types,
              help="Container type from the config (default: defaults.container.type, else dev).")
@click.option("--workspace", "workspace", metavar="DIR", type=click.Path(file_okay=False),
              help="Mount this existing directory as /workspace instead of a new one "
                   "(`project delete --purge` never deletes it).")
@click.option("--engine", "engine", metavar="ENGINE", shell_complete=complete_engines,
              help="Pin the project to this engine from the config's \"engines\" (default: the default "
                   "engine, chosen by --runtime, OUBLIETTE_RUNTIME, the config or auto).")
@click.option("--force", is_flag=True, help="Give a --workspace directory another project already uses.")
@click.option("--env", "env", metavar="K=V", multiple=True,
              help="A variable of the project's container, over its type's (repeatable).")
@click.option("--port", "ports", metavar="SPEC", multiple=True,
              help="Publish a port, beside its type's: HOST:CONTAINER, PORT, or IP:HOST:CONTAINER "
                   "(loopback unless an IP is given; repeatable).")
@json_option
@click.pass_obj
def create(app: App, name: str, type_name: str | None, workspace: str | None, engine: str | None,
           force: bool, env: tuple[str, ...], ports: tuple[str, ...], as_json: bool) -> None:
    """Create a project and print its id (so `id=$(oubliette project create x)` works).

    NAME is unique in this home, and works wherever a project id is asked for. A
    project on a named engine stays there whatever DOCKER_HOST or context the shell
    sets; on an engine that is not local its workspace is a volume there (see
    `oubliette workspace`). No engine is contacted.
    """
    from oubliette.ops.projects import create_project, project_record

    proj = create_project(app, name, type_name, workspace, engine, env=_env(env, allow_unset=False),
                          ports=_ports(ports), force=force)
    if as_json:
        print_json(project_record(app, proj))
    else:
        click.echo(proj.id)


@project.command("list")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Also list the workspaces of deleted projects (STATUS `deleted`; "
                   "`project delete ID --purge` removes one).")
@json_option
@quiet_option("project")
@click.pass_obj
def list_(app: App, all_: bool, as_json: bool, quiet: bool) -> None:
    """List projects, oldest first, with their container's status.

    STATUS is `running`, `stopped`, `paused` or `none` (no container), from one
    call per engine in use; `unknown` with a warning when its engine cannot be
    reached (exit 3 when no engine in use answered: the list is still printed).
    """
    from oubliette.errors import EngineUnavailableError
    from oubliette.ops.projects import project_record, project_statuses

    projects = app.projects.list()
    statuses: dict[str, str] | None = None
    failure: EngineUnavailableError | None = None
    if not quiet:
        try:
            statuses = project_statuses(app, projects) if projects else {}
        except EngineUnavailableError as error:
            failure = error
    status = (lambda p: statuses.get(p.id, "none")) if statuses is not None else (lambda _p: "unknown")
    rows: list[Any] = list(projects)
    if all_:
        rows += [_Kept(kept_id, str(path)) for kept_id, path in app.projects.kept_workspaces()]

    def record(p: Any) -> dict:
        if isinstance(p, _Kept):
            return {"id": p.id, "name": None, "status": "deleted", "workspace": p.workspace}
        return dict(project_record(app, p, status=status(p)))

    def row(p: Any) -> list:
        if isinstance(p, _Kept):
            return [p.id, "-", "-", "deleted", p.workspace]
        return [p.id, p.name, p.type, status(p), _when(p.created_at)]

    print_listing(rows, as_json, quiet, record=record, ident=lambda p: p.id,
                  headers=["PROJECT ID", "NAME", "TYPE", "STATUS", "CREATED"], row=row)
    if failure is not None:
        failure.message = f"{failure.message} (every status is unknown)"
        raise failure


class _Kept(NamedTuple):
    """A deleted project's kept workspace, as `project list --all` shows it."""

    id: str
    workspace: str


def _env(pairs: tuple[str, ...], allow_unset: bool) -> dict[str, str]:
    """`K=V` options, checked as the config's env is."""
    from oubliette.store.types import parse_env

    env = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or (not value and not allow_unset):
            raise click.BadParameter(f"expected K=V, got {pair!r}", param_hint="--env")
        env[key] = value
    parse_env("--env", {k: v for k, v in env.items() if v} or None,
              lambda key, problem: click.BadParameter(problem, param_hint=key))
    return env


def _ports(specs: tuple[str, ...]) -> tuple[str, ...]:
    from oubliette.store.types import parse_ports

    parse_ports("--port", list(specs), lambda key, problem: click.BadParameter(problem, param_hint=key))
    return specs


def _when(iso: str) -> str:
    """`2026-11-26T22:31:49.123456+00:00` -> `2026-11-26 22:31:49` (UTC), for tables."""
    return iso[:19].replace("T", " ")


@project.command("show")
@click.argument("project_id", metavar="[ID]", required=False, default=".", shell_complete=complete_projects)
@json_option
@click.pass_obj
def show(app: App, project_id: str, as_json: bool) -> None:
    """Show one project (its id, name, or a unique id prefix; none: the project whose
    workspace holds the current directory), and whether its container runs."""
    from oubliette.errors import EngineUnavailableError
    from oubliette.ops.projects import describe_workspace, project_record, project_statuses

    proj = app.projects.get(project_id)
    try:
        status = project_statuses(app, [proj]).get(proj.id, "none")
    except EngineUnavailableError as error:
        app.reporter.warn(f"{error.message}; status unknown")
        status = "unknown"
    record = project_record(app, proj, with_sessions=True, status=status)
    if as_json:
        print_json(record)
        return
    labels = {"id": "ID", "name": "Name", "type": "Type", "image": "Image", "container": "Container",
              "status": "Status", "engine": "Engine", "workspace": "Workspace", "ports": "Ports",
              "env": "Environment", "created_at": "Created", "active_sessions": "Active sessions"}
    fields: dict[str, Any] = dict(record)
    for key, label in labels.items():
        value: Any = fields.get(key)
        if key == "image" and value is None:
            value = f"(type {proj.type} is not in the config)"
        if key == "engine" and proj.engine:
            entry = app.config.engines.get(proj.engine)
            value += f" ({entry.runtime} at {entry.endpoint})" if entry else " (not in the config any more)"
        if key == "workspace":
            value = describe_workspace(app, proj) + (
                " (your directory)" if proj.workspace else " (oubliette's; --purge deletes it)")
        if key == "active_sessions":
            value = ", ".join(value) or "none"
        if key == "ports":
            value = ", ".join(f"{p['url']} -> {p['container']}" for p in value) or "none"
        if key == "env":
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
        if key == "created_at":
            value = _when(value) + " UTC"
        click.echo(f"{label + ':':<17}{value}")


@project.command("update")
@click.argument("project_id", metavar="ID", shell_complete=complete_projects)
@click.option("--name", metavar="NAME", help="A new name (unique in this home).")
@click.option("--type", "type_name", metavar="TYPE", shell_complete=complete_types,
              help="A new container type; the container moves to its image at the next start or refresh.")
@click.option("--env", "env", metavar="K=V", multiple=True,
              help="Set a variable of the project's container (K= removes it; repeatable).")
@click.option("--port", "ports", metavar="SPEC", multiple=True,
              help="The project's own published ports, replacing those it had (`--port none` clears them).")
@json_option
@click.pass_obj
def update(app: App, project_id: str, name: str | None, type_name: str | None, env: tuple[str, ...],
           ports: tuple[str, ...], as_json: bool) -> None:
    """Rename a project, change its container type, variables or ports.

    A new type, variable or port takes effect at the next `container refresh` (or
    `start` of a stopped project); until then `container list --outdated` shows the
    project.
    """
    from oubliette.ops.projects import project_record, update_project

    if name is None and type_name is None and not env and not ports:
        raise click.UsageError("give --name, --type, --env or --port")
    proj = update_project(app, project_id, name, type_name, reporter_for(app, as_json),
                          env=_env(env, allow_unset=True) if env else None,
                          ports=() if ports == ("none",) else _ports(ports) if ports else None)
    if as_json:
        print_json(project_record(app, proj))
    else:
        click.echo(f"Updated {proj.id}: name {proj.name!r}, type {proj.type}.")


@project.command("delete")
@click.argument("project_id", metavar="ID", shell_complete=complete_projects)
@click.option("--purge", is_flag=True,
              help="Also delete the workspace directory oubliette created, and everything in it "
                   "(a directory given with --workspace is never deleted).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before --purge deletes a workspace.")
@json_option
@click.pass_obj
def delete(app: App, project_id: str, purge: bool, yes: bool, as_json: bool) -> None:
    """Delete a project and remove its container; the workspace is kept unless --purge.

    --purge asks first on a terminal; elsewhere it needs --yes (without it nothing is
    deleted and the exit code is 1). Refused while the project has active sessions.
    """
    from oubliette.errors import NotFoundError, OublietteError
    from oubliette.ops.projects import delete_project, deletion_record, describe_workspace

    try:
        proj = app.projects.get(project_id)
    except NotFoundError:
        if not purge or project_id.strip() not in dict(app.projects.kept_workspaces()):
            raise
        _purge_kept(app, project_id.strip(), yes, as_json)
        return
    workspace = describe_workspace(app, proj)
    if purge and not proj.workspace and not yes:
        if not sys.stdin.isatty():
            raise OublietteError(f"refusing to delete the workspace {workspace} without confirmation",
                                 hint="add --yes to delete it and everything in it (nothing was deleted)")
        click.confirm(f"Delete {proj.id} ({proj.name}) and its workspace {workspace}, with everything in it?",
                      abort=True, err=True)
    reporter = reporter_for(app, as_json)
    proj = delete_project(app, proj.id, purge, reporter)
    record = deletion_record(app, proj, purge)
    if as_json:
        print_json(record)
    elif record["workspace"] is None and record["volume"] is None:
        click.echo(f"Deleted project {proj.id} and its workspace.")
    else:
        click.echo(f"Deleted project {proj.id}; its workspace is kept at {workspace}"
                   + ("." if proj.workspace else " (--purge removes it)."))


def _purge_kept(app: App, project_id: str, yes: bool, as_json: bool) -> None:
    """`project delete ID --purge` of a project deleted before: its kept workspace goes."""
    from oubliette.errors import OublietteError

    workspace = dict(app.projects.kept_workspaces())[project_id]
    if not yes:
        if not sys.stdin.isatty():
            raise OublietteError(f"refusing to delete the kept workspace {workspace} without confirmation",
                                 hint="add --yes to delete it and everything in it (nothing was deleted)")
        click.confirm(f"Delete the workspace {workspace} of the deleted project {project_id}, with everything "
                      "in it?", abort=True, err=True)
    app.projects.purge_kept(project_id)
    if as_json:
        print_json({"id": project_id, "deleted": True, "workspace": None, "volume": None})
    else:
        click.echo(f"Deleted the kept workspace of {project_id} ({workspace}).")


@project.command("options")
@json_option
@click.pass_obj
def options(app: App, as_json: bool) -> None:
    """List the container types a project can use (from the config) and the default."""
    from oubliette.ops.projects import type_options

    options = type_options(app)
    if as_json:
        print_json(options)
        return
    default = options["container_types"]["default"]
    available = options["container_types"]["available"]
    print_table(["TYPE", "IMAGE", "DEFAULT"],
                [[a["name"], a["image"], "yes" if a["name"] == default else ""] for a in available])
    if default not in app.config.containers:
        click.echo(f"Warning: the default type {default!r} is not in the config", err=True)
