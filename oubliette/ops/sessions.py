"""Commands run in a project's container as registered sessions: interactive ones for the
CLI (`session start`) and captured ones for agents (the MCP `exec` tool).

Either way the command is a session while it runs, so refresh, stop and delete of the
project are refused meanwhile, and `session end` can stop it inside the container.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from oubliette.app import App
from oubliette.errors import EngineError, InvalidReferenceError, OublietteError
from oubliette.model import container_name
from oubliette.ops.containers import WORKSPACE, locked_project, start_locked
from oubliette.report import Reporter
from oubliette.validate import check_argv_safe

if TYPE_CHECKING:
    from oubliette.store.sessions import Session

OUTPUT_CAP = 64 * 1024  # characters of stdout and of stderr an agent gets back, each
OUTPUT_BYTES = 4 * OUTPUT_CAP  # bytes read of each before the rest is drained unread (UTF-8: 1-4 a character)
DEFAULT_TIMEOUT_S = 3600  # an exec without timeout_s; like every engine call, it has a bound


class ExecResult(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool  # stdout or stderr was cut at OUTPUT_CAP characters

    def to_dict(self) -> dict:
        return self._asdict()


def run_session(app: App, project_ref: str, command: Sequence[str], tty: bool, reporter: Reporter,
                root: bool = False, env: Mapping[str, str] | None = None, workdir: str | None = None,
                user: str | None = None) -> int:
    """Ensure a running container, register the session, run the command; its exit code.
    `root`: as root in the container, not as the image's session user; `env`, `workdir`
    and `user` as `docker exec` takes them."""
    from oubliette.ops.identity import session_identity
    from oubliette.store.sessions import wrap_command

    directory = _checked_workdir(workdir)
    if user is not None:
        check_argv_safe(user, "user")

    with locked_project(app, project_ref, reporter) as project:
        started = start_locked(app, project, reporter)
        if started.action != "already_running":
            reporter.note(f"Started container {started.name}.")
        session = app.sessions.register(project.id, list(command))  # under the lock: refresh sees it
    try:
        reporter.note(f"Session {session.id} in {project.id} ({project.name}).")
        variables = {**session_identity(app.config.identity, app.env), **(env or {}),
                     "OUBLIETTE_SESSION_ID": session.id, **({"OUBLIETTE_SESSION_ROOT": "1"} if root else {})}
        return app.for_project(project).runtime.exec(container_name(project.id), wrap_command(list(command)), tty=tty,
                                env=variables, workdir=directory, user="0" if root else user)
    finally:
        app.sessions.unregister(session)


def exec_captured(app: App, project_ref: str, command: Sequence[str], reporter: Reporter,
                  timeout_s: float | None = None, workdir: str | None = None) -> ExecResult:
    """Run `command` (argv, no shell around it) in the project's container, starting it if
    needed, as a session; capture at most OUTPUT_CAP characters of each stream. Past
    `timeout_s` (default an hour) it and every process it started are stopped inside the
    container and the call fails saying so."""

    from oubliette.engines import process
    from oubliette.store.sessions import end_command, wrap_command

    argv = _checked_command(command)
    directory = _checked_workdir(workdir)
    if timeout_s is None:
        timeout_s = DEFAULT_TIMEOUT_S
    if not 0 < timeout_s <= 24 * 3600:
        raise InvalidReferenceError(f"invalid timeout_s {timeout_s!r}: give seconds, more than 0 and at most a day")
    with locked_project(app, project_ref, reporter) as project:
        start_locked(app, project, reporter)
        session = app.sessions.register(project.id, argv, client="agent")
    name = container_name(project.id)
    runtime = app.for_project(project).runtime
    try:
        from oubliette.ops.identity import session_identity

        variables = {**session_identity(app.config.identity, app.env), "OUBLIETTE_SESSION_ID": session.id}
        call = runtime.exec_argv(name, wrap_command(argv), tty=False, env=variables,
                                 workdir=directory, interactive=False)
        try:
            result = process.capture(call, timeout=timeout_s, env=runtime.env, limit=OUTPUT_BYTES,
                                   err_limit=OUTPUT_BYTES)
        except process.TimedOut:
            runtime.exec_capture(name, end_command(session.id), user="0")  # HUP, TERM, then KILL, the whole tree
            raise OublietteError(f"the command timed out after {timeout_s:g} s and was stopped in the container",
                                 hint="give a larger timeout_s, or run it in the background") from None
        except process.BinaryMissing:
            raise runtime.missing_binary() from None
    finally:
        app.sessions.unregister(session)
    stdout, stderr = result.stdout, result.stderr
    truncated = result.overflow or len(stdout) > OUTPUT_CAP or len(stderr) > OUTPUT_CAP
    return ExecResult(result.returncode, stdout[:OUTPUT_CAP], stderr[:OUTPUT_CAP], truncated)


def _checked_command(command: Sequence[str]) -> list[str]:
    if (isinstance(command, str) or not command or not all(isinstance(arg, str) for arg in command)
            or any("\0" in arg for arg in command)):
        raise InvalidReferenceError("command must be a non-empty list of strings (argv; no shell is added)",
                                    hint='for shell syntax, run the shell yourself: ["sh", "-c", "a | b"]')
    return list(command)


def _checked_workdir(workdir: str | None) -> str:
    if workdir is None:
        return WORKSPACE
    if not workdir.startswith("/"):
        raise InvalidReferenceError(f"invalid workdir {workdir!r}: give an absolute path in the container")
    return check_argv_safe(workdir, "workdir")


def end_session(app: App, session_ref: str) -> tuple[Session, bool]:
    """Stop a session's command in the container and its local client; (session, was_alive)."""
    from oubliette.store.sessions import end_command

    session = app.sessions.get(session_ref)
    alive = app.sessions.is_alive(session)
    try:
        engine = None if app.single_engine() else app.engine_key(app.projects.get(session.project_id))
    except OublietteError:
        engine = None  # its project is gone: the default engine is the best guess
    try:
        app.engine(engine).runtime.exec_capture(container_name(session.project_id), end_command(session.id),
                                                   user="0")
    except EngineError:
        if alive:
            raise
    if session.client == "cli" and app.sessions.is_alive(session) and session.pid != os.getpid():
        # the local `session start` client; an agent's exec returns by itself once its command ends
        try:
            os.kill(session.pid, signal.SIGTERM)
        except OSError:
            pass
    app.sessions.unregister(session)
    return session, alive
