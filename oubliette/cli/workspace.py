"""`oubliette workspace ...`: copy files into and out of a project's /workspace."""

from __future__ import annotations

import click

from oubliette.app import App
from oubliette.cli.complete import complete_projects
from oubliette.cli.output import json_option, print_json, reporter_for


@click.group("workspace")
def workspace() -> None:
    """Copy files into and out of a project's /workspace (any engine, bind or volume)."""


@workspace.command("push")
@click.argument("project_id", metavar="ID", shell_complete=complete_projects)
@click.argument("source", metavar="[SRC]", default=".", type=click.Path(file_okay=False))
@json_option
@click.pass_obj
def push(app: App, project_id: str, source: str, as_json: bool) -> None:
    """Copy the contents of the local directory SRC (default: the current directory)
    into the project's /workspace.

    Files with the same names are replaced; nothing in /workspace is deleted. The
    container is started first if needed, and the files belong to the image's user
    (the one sessions run as). The bytes go as a tar stream through the engine's
    `exec`, so this works for volume workspaces on remote engines too; a terminal
    shows a running byte count. Needs `tar` here and in the image.
    """
    from oubliette.ops.workspace import push as push_tree

    result = push_tree(app, project_id, source, reporter_for(app, as_json))
    if as_json:
        print_json(result.to_dict())


@workspace.command("pull")
@click.argument("project_id", metavar="ID", shell_complete=complete_projects)
@click.argument("destination", metavar="[DEST]", default=".", type=click.Path(file_okay=False))
@json_option
@click.pass_obj
def pull(app: App, project_id: str, destination: str, as_json: bool) -> None:
    """Copy the contents of the project's /workspace into the local directory DEST
    (default: the current directory; made if missing).

    Files with the same names are replaced; nothing else in DEST is deleted. The
    container is started first if needed. Files are owned by you, not by the
    container's user. Needs `tar` here and in the image.
    """
    from oubliette.ops.workspace import pull as pull_tree

    result = pull_tree(app, project_id, destination, reporter_for(app, as_json))
    if as_json:
        print_json(result.to_dict())
