"""`oubliette session ...`: run commands in a project container, list and end them."""

from __future__ import annotations

import signal
import sys

import click

from oubliette.app import App
from oubliette.cli.complete import complete_projects, complete_sessions
from oubliette.cli.output import json_option, print_json, print_listing, quiet_option, reporter_for


@click.group("session")
def session() -> None:
    """Run commands in project containers; list and end active sessions."""


@session.command("start", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@click.option("--root", is_flag=True,
              help="Run as root in the container (to install packages), not as the image's session user.")
@click.argument("project_id", metavar="ID", shell_complete=complete_projects)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
@click.pass_obj
def start(app: App, root: bool, project_id: str, command: tuple[str, ...]) -> None:
    """Run CMD (default: a login shell) in the project's container, in /workspace.

    Starts the container first if needed. The session is active while the command
    runs, which blocks refresh, stop and delete of the project. A terminal is
    allocated only when stdin is one. Exits with the command's exit code. The
    oubliette images run sessions as the user `dev` (with the workspace owner's
    uid); --root runs this one as root.
    """
    from oubliette.ops.sessions import run_session

    if command and command[0] == "--":
        command = command[1:]
    # `session end` (or any SIGTERM) must still let us remove the session record.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    code = run_session(app, project_id, command, tty=sys.stdin.isatty(), reporter=reporter_for(app, True),
                       root=root)
    sys.exit(code)


@session.command("list")
@json_option
@quiet_option("session")
@click.pass_obj
def list_(app: App, as_json: bool, quiet: bool) -> None:
    """List active sessions (records of sessions that died are cleaned up)."""
    print_listing(app.sessions.active(), as_json, quiet, record=lambda s: s.to_dict(), ident=lambda s: s.id,
                  headers=["SESSION ID", "PROJECT ID", "PID", "STARTED", "COMMAND"],
                  row=lambda s: [s.id, s.project_id, s.pid, s.started_at, " ".join(s.command) or "(shell)"])


@session.command("end")
@click.argument("session_id", metavar="SID", shell_complete=complete_sessions)
@json_option
@click.pass_obj
def end(app: App, session_id: str, as_json: bool) -> None:
    """End a session: stop its command in the container and its local client.

    With --json: the session record plus "was_active" (false when it had already
    ended and only its record was removed).
    """
    from oubliette.ops.sessions import end_session

    reporter_for(app, as_json)
    ended, was_alive = end_session(app, session_id)
    if as_json:
        print_json({**ended.to_dict(), "was_active": was_alive})
    elif was_alive:
        click.echo(f"Ended session {ended.id}.")
    else:
        click.echo(f"Session {ended.id} had already ended; removed its record.")
