"""`oubliette session ...`: run commands in a project container, list and end them."""

from __future__ import annotations

import signal
import sys

import click

from oubliette.app import App
from oubliette.cli.complete import complete_projects, complete_sessions
from oubliette.cli.output import json_option, print_json, print_listing, project_name, quiet_option, reporter_for


@click.group("session")
def session() -> None:
    """Run commands in project containers; list and end active sessions."""


class _StartCommand(click.Command):
    """`session start [OPTIONS] [-- CMD]` names no project: it is the current directory's (`.`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        index, valued = 0, {"-e", "--env", "-w", "--workdir", "-u", "--user"}
        while index < len(args) and args[index].startswith("-") and args[index] != "--":
            index += 2 if args[index] in valued else 1
        if index >= len(args) or args[index] == "--":
            args = [*args[:index], ".", *args[index:]]
        return super().parse_args(ctx, args)


@session.command("start", cls=_StartCommand,
                 context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@click.option("--root", is_flag=True,
              help="Run as root in the container (to install packages), not as the image's session user.")
@click.option("-e", "--env", "env", metavar="K=V", multiple=True, help="Set a variable for the command (repeatable).")
@click.option("-w", "--workdir", metavar="DIR", help="Run in this directory of the container (default: /workspace).")
@click.option("-u", "--user", metavar="USER", help="Run as this user (name or uid[:gid]) in the container.")
@click.argument("project_id", metavar="[ID]", shell_complete=complete_projects)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
@click.pass_obj
def start(app: App, root: bool, env: tuple[str, ...], workdir: str | None, user: str | None, project_id: str,
          command: tuple[str, ...]) -> None:
    """Run CMD (default: a login shell) in the project's container, in /workspace.

    Starts the container first if needed. The session is active while the command
    runs, which blocks refresh, stop and delete of the project. A terminal is
    allocated only when stdin is one. Exits with the command's exit code. The
    oubliette images run sessions as the user `dev` (with the workspace owner's
    uid); --root runs this one as root. Options may also follow ID, up to `--`
    (`session start web --root -e A=1 -- id`); without `--` the command starts at the
    first word that is not one of these options. The host's git name and email reach
    the command (GIT_AUTHOR_*, GIT_COMMITTER_*) unless the config says
    `"identity": {"git": false}`. Without an ID (`session start -- make`), the
    project whose workspace holds the current directory.
    """
    from oubliette.ops.sessions import run_session

    more, argv = _split_options(list(command))
    root = root or more.root
    env_pairs = [*env, *more.env]
    variables: dict[str, str] = {}
    for pair in env_pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"expected K=V, got {pair!r}", param_hint="-e/--env")
        variables[key] = value
    # `session end` (or any SIGTERM) must still let us remove the session record.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    code = run_session(app, project_id, argv, tty=sys.stdin.isatty(), reporter=reporter_for(app, True),
                       root=root, env=variables, workdir=more.workdir or workdir, user=more.user or user)
    sys.exit(code)


class _Options:
    def __init__(self) -> None:
        self.root = False
        self.env: list[str] = []
        self.workdir: str | None = None
        self.user: str | None = None


_TAKES_VALUE = {"-e": "env", "--env": "env", "-w": "workdir", "--workdir": "workdir", "-u": "user", "--user": "user"}


def _split_options(args: list[str]) -> tuple[_Options, list[str]]:
    """`session start`'s options given after ID, and the command: everything after `--`,
    or, without `--`, from the first word that is not one of these options."""
    found = _Options()
    ahead = args[:args.index("--")] if "--" in args else args
    index = 0
    while index < len(ahead) and ahead[index].startswith("-"):
        flag, equals, inline = ahead[index].partition("=")
        if flag == "--root" and not equals:
            found.root = True
        elif flag in _TAKES_VALUE:
            if not equals and index + 1 >= len(ahead):
                raise click.UsageError(f"option {flag} needs a value")
            value = inline if equals else ahead[index + 1]
            index += 0 if equals else 1
            if _TAKES_VALUE[flag] == "env":
                found.env.append(value)
            else:
                setattr(found, _TAKES_VALUE[flag], value)
        elif "--" in args:
            raise click.UsageError(f"no such option: {ahead[index]} (the command goes after --)")
        else:
            break  # the command's own option: the command starts here
        index += 1
    if "--" in args:
        if index < len(ahead):
            raise click.UsageError(f"unexpected {ahead[index]!r} before -- (the command goes after --)")
        return found, args[args.index("--") + 1:]
    return found, args[index:]


@session.command("list")
@json_option
@quiet_option("session")
@click.pass_obj
def list_(app: App, as_json: bool, quiet: bool) -> None:
    """List active sessions (records of sessions that died are cleaned up)."""
    sessions = app.sessions.active()
    names = {} if quiet else {s.project_id: project_name(app, s.project_id) for s in sessions}
    print_listing(sessions, as_json, quiet, record=lambda s: {**s.to_dict(), "project_name": names[s.project_id]},
                  ident=lambda s: s.id, headers=["SESSION ID", "PROJECT ID", "NAME", "PID", "STARTED", "COMMAND"],
                  row=lambda s: [s.id, s.project_id, names[s.project_id] or "-", s.pid, s.started_at,
                                 " ".join(s.command) or "(shell)"])


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
