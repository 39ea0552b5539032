"""`oubliette project ...`: create, list, show, delete, options."""

from __future__ import annotations

import click

from oubliette.app import App
from oubliette.cli.output import json_option, print_json, print_listing, print_table, quiet_option, reporter_for


@click.group("project")
def project() -> None:
    """Create and manage projects (each gets one container)."""


@project.command("create")
@click.argument("name")
@click.option("--type", "type_name", metavar="TYPE",
              help="Container type from the config (default: defaults.container.type, else dev).")
@json_option
@click.pass_obj
def create(app: App, name: str, type_name: str | None, as_json: bool) -> None:
    """Create a project and print its id (so `id=$(oubliette project create x)` works)."""
    from oubliette.lifecycle import create_project, project_record

    proj = create_project(app, name, type_name)
    if as_json:
        print_json(project_record(app, proj))
    else:
        click.echo(proj.id)


@project.command("list")
@json_option
@quiet_option("project")
@click.pass_obj
def list_(app: App, as_json: bool, quiet: bool) -> None:
    """List projects, oldest first."""
    from oubliette.lifecycle import project_record

    print_listing(app.projects.list(), as_json, quiet, record=lambda p: project_record(app, p),
                  ident=lambda p: p.id, headers=["PROJECT ID", "NAME", "TYPE", "CREATED"],
                  row=lambda p: [p.id, p.name, p.type, _when(p.created_at)])


def _when(iso: str) -> str:
    """`2026-11-26T22:31:49.123456+00:00` -> `2026-11-26 22:31:49` (UTC), for tables."""
    return iso[:19].replace("T", " ")


@project.command("show")
@click.argument("project_id", metavar="ID")
@json_option
@click.pass_obj
def show(app: App, project_id: str, as_json: bool) -> None:
    """Show one project (a unique id prefix is enough)."""
    from oubliette.lifecycle import project_record

    proj = app.projects.get(project_id)
    record = project_record(app, proj, with_sessions=True)
    if as_json:
        print_json(record)
        return
    labels = {"id": "ID", "name": "Name", "type": "Type", "image": "Image", "container": "Container",
              "workspace": "Workspace", "created_at": "Created", "active_sessions": "Active sessions"}
    for key, label in labels.items():
        value = record[key]
        if key == "image" and value is None:
            value = f"(type {proj.type} is not in the config)"
        if key == "active_sessions":
            value = ", ".join(value) or "none"
        if key == "created_at":
            value = _when(value) + " UTC"
        click.echo(f"{label + ':':<17}{value}")


@project.command("delete")
@click.argument("project_id", metavar="ID")
@click.option("--purge", is_flag=True, help="Also delete the workspace directory and everything in it.")
@json_option
@click.pass_obj
def delete(app: App, project_id: str, purge: bool, as_json: bool) -> None:
    """Delete a project and remove its container; the workspace is kept unless --purge.

    Refused while the project has active sessions.
    """
    from oubliette.lifecycle import delete_project

    reporter = reporter_for(app, as_json)
    proj = delete_project(app, project_id, purge, reporter)
    workspace = app.projects.workspace(proj.id)
    if as_json:
        print_json({"id": proj.id, "deleted": True, "workspace": None if purge else str(workspace)})
    elif purge:
        click.echo(f"Deleted project {proj.id} and its workspace.")
    else:
        click.echo(f"Deleted project {proj.id}; its workspace is kept at {workspace} (--purge removes it).")


@project.command("options")
@json_option
@click.pass_obj
def options(app: App, as_json: bool) -> None:
    """List the container types a project can use (from the config) and the default."""
    from oubliette.lifecycle import type_options

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
