"""Commands run in a project's container as registered sessions: interactive ones for the
CLI (`session start`) and captured ones for agents (the MCP `exec` tool).

Either way the command is a session while it runs, so refresh, stop and delete of the
project are refused meanwhile, and `session end` can stop it inside the container.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from oubliette.app import App
from oubliette.engines import process
from oubliette.errors import EngineError, InvalidReferenceError, OublietteError
from oubliette.model import WORKSPACE, container_name
from oubliette.ops.locking import locked_project, swap_unsettled
from oubliette.report import Reporter
from oubliette.store.sessions import NOT_THIS_HOME, wrap_command
from oubliette.validate import check_argv_safe

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime
    from oubliette.ops.containers import StartResult
    from oubliette.store.projects import Project
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
    directory = _checked_workdir(workdir)
    if user is not None:
        check_argv_safe(user, "user")
    identity = session_identity(app.config.identity, app.env)
    with locked_project(app, project_ref, reporter) as project:
        first = _exec_first(app, project)
        if not first:
            _ensure_running(app, project, reporter)
        session = app.sessions.register(project.id, list(command))  # under the lock: refresh sees it
    try:
        reporter.note(f"Session {session.id} in {project.id} ({project.name}).")
        variables = {**identity(), **(env or {}),
                     "OUBLIETTE_SESSION_ID": session.id, **({"OUBLIETTE_SESSION_ROOT": "1"} if root else {})}
        runtime, name = app.for_project(project).runtime, container_name(project.id)
        as_user = "0" if root else user
        if first:
            code, refusal = runtime.exec_first(name, wrap_command(list(command), app.home_id), tty=tty,
                                               env=variables, workdir=directory, user=as_user)
            if refusal is None and code != NOT_THIS_HOME:
                return code
            with locked_project(app, project.id, reporter) as project:  # look now, as without exec_first
                running = _ensure_running(app, project, reporter)
            if running and (refusal is not None or _checks_pass(app, runtime, name)):
                if refusal is not None:  # it was running: the line was the command's own
                    sys.stderr.write(refusal)
                    sys.stderr.flush()
                return code  # the command ran: never twice
        return runtime.exec(name, wrap_command(list(command)), tty=tty, env=variables, workdir=directory,
                            user=as_user)
    finally:
        app.sessions.unregister(session)


def exec_captured(app: App, project_ref: str, command: Sequence[str], reporter: Reporter,
                  timeout_s: float | None = None, workdir: str | None = None) -> ExecResult:
    """Run `command` (argv, no shell around it) in the project's container, starting it if
    needed, as a session; capture at most OUTPUT_CAP characters of each stream. Past
    `timeout_s` (default an hour) it and every process it started are stopped inside the
    container and the call fails saying so."""
    argv = _checked_command(command)
    directory = _checked_workdir(workdir)
    if timeout_s is None:
        timeout_s = DEFAULT_TIMEOUT_S
    if not 0 < timeout_s <= 24 * 3600:
        raise InvalidReferenceError(f"invalid timeout_s {timeout_s!r}: give seconds, more than 0 and at most a day")
    from oubliette.ops.identity import session_identity

    identity = session_identity(app.config.identity, app.env, keep=True)  # the MCP server: many sessions
    with locked_project(app, project_ref, reporter) as project:
        first = _exec_first(app, project)
        if not first:
            _start(app, project, reporter)
        session = app.sessions.register(project.id, argv, client="agent")
    runtime, name = app.for_project(project).runtime, container_name(project.id)
    try:
        variables = {**identity(), "OUBLIETTE_SESSION_ID": session.id}
        if first:
            result = _captured(runtime, name, argv, variables, directory, timeout_s, session.id, app.home_id)
            refused = result.returncode != 0 and runtime.texts.refuses_exec(result.stderr)
            if not refused and result.returncode != NOT_THIS_HOME:
                return _cut(result)
            with locked_project(app, project.id, reporter) as project:  # look now, as without exec_first
                running = _start(app, project, reporter).action == "already_running"
            if running and (refused or _checks_pass(app, runtime, name)):
                return _cut(result)  # the command ran: never twice
        return _cut(_captured(runtime, name, argv, variables, directory, timeout_s, session.id, None))
    finally:
        app.sessions.unregister(session)


def _captured(runtime: Runtime, name: str, argv: list[str], variables: dict[str, str], directory: str,
              timeout_s: float, session_id: str, home_id: str | None) -> process.Result:
    """One captured exec of the wrapped command, stopped in the container on timeout."""
    from oubliette.store.sessions import end_command

    call = runtime.exec_argv(name, wrap_command(argv, home_id), tty=False, env=variables, workdir=directory,
                             interactive=False)
    try:
        return runtime.exec_result(process.capture(call, timeout=timeout_s, env=runtime.env, limit=OUTPUT_BYTES,
                                                   err_limit=OUTPUT_BYTES))
    except process.TimedOut:
        runtime.exec_capture(name, end_command(session_id), user="0")  # HUP, TERM, then KILL, the whole tree
        raise OublietteError(f"the command timed out after {timeout_s:g} s and was stopped in the container",
                             hint="give a larger timeout_s, or run it in the background") from None
    except process.BinaryMissing:
        raise runtime.missing_binary() from None


def _cut(result: process.Result) -> ExecResult:
    stdout, stderr = result.stdout, result.stderr
    truncated = result.overflow or len(stdout) > OUTPUT_CAP or len(stderr) > OUTPUT_CAP
    return ExecResult(result.returncode, stdout[:OUTPUT_CAP], stderr[:OUTPUT_CAP], truncated)


def _exec_first(app: App, project: Project) -> bool:
    """Exec without looking at the container first (one engine call, not two): where the
    engine refuses plainly when it is not running, and no interrupted swap waits to be settled."""
    return app.for_project(project).runtime.kind.exec_first and not swap_unsettled(app, project.id)


def _start(app: App, project: Project, reporter: Reporter) -> StartResult:
    from oubliette.ops.containers import start_locked  # not on the path of an exec that works first

    return start_locked(app, project, reporter)


def _ensure_running(app: App, project: Project, reporter: Reporter) -> bool:
    """Start the project's container unless it runs; True if it was running already."""
    started = _start(app, project, reporter)
    if started.action != "already_running":
        reporter.note(f"Started container {started.name}.")
    return started.action == "already_running"


def _checks_pass(app: App, runtime: Runtime, name: str) -> bool:
    """In this home's running container (looked at already): would the session wrapper's
    check pass? If so, an exit of NOT_THIS_HOME was the command's own; if not (a container
    of an oubliette before the check), the wrapper refused and the command never ran."""
    answer = runtime.exec_capture(name, ["sh", "-c", 'printf %s "$OUBLIETTE_HOME_ID"'])
    return answer.ok and answer.stdout == app.home_id


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
