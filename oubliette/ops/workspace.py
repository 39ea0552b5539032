"""`workspace push` and `pull`: copy a tree into or out of a project's /workspace.

The bytes go as a tar stream through the engine's `exec`, so the same code serves
bind and volume workspaces on every engine, local or remote. In the container `tar`
runs through the session wrapper both ways, as the user sessions run as (so pushed
files are theirs), found as a session's commands are. A push is made by the local
`tar`; a pull is read by `untar`, never the host's tar: the container controls that
stream, and only what stays inside the destination is written. The project's lock is
held throughout: a refresh or stop waits instead of cutting the copy short.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, NamedTuple

from oubliette.app import App
from oubliette.engines import process, transfer
from oubliette.errors import EngineUnavailableError, OublietteError
from oubliette.model import WORKSPACE, container_name
from oubliette.ops import untar
from oubliette.ops.containers import start_locked
from oubliette.ops.locking import locked_project
from oubliette.report import Reporter
from oubliette.store.files import os_error, user_path
from oubliette.store.sessions import wrap_command

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime

PROGRESS_SECONDS = 0.2  # how often the byte count is redrawn on a terminal
LOCAL_TAR = "tar"
WARNINGS_SHOWN = 20  # entries not pulled that are named one by one
_TAR_SUMMARY = re.compile(r"exiting with failure status|error exit delayed|error is not recoverable", re.I)


class Transfer(NamedTuple):
    project_id: str
    direction: str  # "push" | "pull"
    source: str
    destination: str
    bytes: int

    def to_dict(self) -> dict:
        return self._asdict()


def push(app: App, project_ref: str, source: str, reporter: Reporter) -> Transfer:
    """Copy the contents of the local directory `source` into /workspace (files there
    with the same names are replaced; nothing is deleted)."""
    directory = user_path(source, "directory to push")
    if not os.path.isdir(directory):
        raise OublietteError(f"{source} is not a directory", hint="give the directory whose contents to push")
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise os_error(f"cannot read {directory}", exc) from None
    with locked_project(app, project_ref, reporter) as project:
        start_locked(app, project, reporter)
        name = container_name(project.id)
        if not entries:
            reporter.info(f"{directory} is empty; nothing to push.")
            return Transfer(project.id, "push", str(directory), f"{name}:{WORKSPACE}", 0)
        runtime = app.for_project(project).runtime
        # `./name` for each entry: no member is `.`, so /workspace itself keeps its owner and mode
        create = [LOCAL_TAR, "-c", "-f", "-", "-C", str(directory), *(f"./{entry}" for entry in entries)]
        # through the session wrapper: as the user sessions run as, so the files are theirs
        extract = runtime.exec_argv(name, wrap_command(["tar", "-x", "-o", "-f", "-", "-C", WORKSPACE]),
                                    tty=False, env={"OUBLIETTE_SESSION_ID": "workspace-push"})
        total = _copy(create, None, extract, runtime.env, f"Pushing {directory} to {name}", runtime, reporter)
    reporter.info(f"Pushed {_size(total)} from {directory} to {project.id} ({project.name}):{WORKSPACE}.")
    return Transfer(project.id, "push", str(directory), f"{name}:{WORKSPACE}", total)


def pull(app: App, project_ref: str, destination: str, reporter: Reporter) -> Transfer:
    """Copy the contents of /workspace into the local directory `destination` (made if
    missing; files with the same names are replaced, nothing is deleted)."""
    directory = user_path(destination, "directory to pull into")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise os_error(f"cannot create {directory}", exc) from None
    with locked_project(app, project_ref, reporter) as project:
        start_locked(app, project, reporter)
        name = container_name(project.id)
        runtime = app.for_project(project).runtime
        create = runtime.exec_argv(name, wrap_command(["tar", "-c", "-f", "-", "-C", WORKSPACE, "."]), tty=False,
                                   interactive=False, env={"OUBLIETTE_SESSION_ID": "workspace-pull"})
        shown = _Progress(f"Pulling {name} to {directory}", reporter)
        outcome: list[untar.Extracted] = []
        try:
            result, failure = transfer.feed(create, lambda stream: outcome.append(
                untar.extract(_Counted(stream, shown.update), str(directory))), runtime.env)
        except process.BinaryMissing:
            raise runtime.missing_binary() from None
        finally:
            shown.done()
        _check_pull(result, failure, directory, runtime)
    warnings = outcome[0].warnings if outcome else []
    for warning in warnings[:WARNINGS_SHOWN]:
        reporter.warn(f"not pulled: {warning}")
    if len(warnings) > WARNINGS_SHOWN:
        reporter.warn(f"... and {len(warnings) - WARNINGS_SHOWN} more entries not pulled")
    reporter.info(f"Pulled {_size(shown.total)} from {project.id} ({project.name}):{WORKSPACE} to {directory}.")
    return Transfer(project.id, "pull", f"{name}:{WORKSPACE}", str(directory), shown.total)


def _check_pull(result: process.Result, failure: Exception | None, directory: str, runtime: Runtime) -> None:
    """The error of a pull, from the side that failed first: a disk here that cannot take
    more (the container's failure is then its echo), else the container's own error, else
    a stream that was no tar archive."""
    if isinstance(failure, OSError):
        raise os_error(f"cannot write the pulled files into {directory}", failure,
                       hint="free some space or fix the permissions there, then pull again; files already "
                            "pulled are kept") from None
    if failure is not None and not isinstance(failure, untar.TarFormatError):
        raise failure
    if not result.ok:
        _container_failed(result, runtime)
    if failure is not None:
        raise OublietteError(f"the container sent something that is not a tar archive: {failure}",
                             hint="check that the image's `tar` is GNU tar or BusyBox tar; files already "
                                  "pulled are kept")


def _container_failed(result: process.Result, runtime: Runtime) -> None:
    """Raise the error of a tar (or engine call) that failed in the container."""
    error = runtime.classify(result)
    if isinstance(error, EngineUnavailableError):
        raise error
    if result.returncode in (126, 127) and "tar" in result.stderr:
        raise OublietteError("the container has no `tar`, which carries the files",
                             hint="use an image with tar in it (every Debian, Ubuntu, Alpine and "
                                  "BusyBox image has one)")
    detail = _exec_detail(result.stderr) or f"exit code {result.returncode}"
    raise OublietteError(f"copying failed (in the container): {detail}",
                         hint="check the paths, permissions and free space in the container; nothing that "
                              "was copied before the failure was removed")


def _copy(source: list[str], source_env: Mapping[str, str] | None, sink: list[str],
          sink_env: Mapping[str, str] | None, what: str, runtime: Runtime, reporter: Reporter) -> int:
    """Run the tar pipe with a live byte count on a terminal; errors name the side that failed."""
    shown = _Progress(what, reporter)
    try:
        made, taken = transfer.pipe(source, sink, source_env, sink_env, on_bytes=shown.update)
    except process.BinaryMissing as missing:
        if missing.binary == LOCAL_TAR:
            raise OublietteError("`tar` is not installed here; it carries the files",
                                 hint="install tar (it is part of every Linux and macOS base system)") from None
        raise runtime.missing_binary() from None
    finally:
        shown.done()
    if not taken.ok:  # the container's side first: a local tar that fails as the pipe closes is its echo
        _container_failed(taken, runtime)
    if not made.ok:
        detail = _exec_detail(made.stderr) or f"exit code {made.returncode}"
        raise OublietteError(f"copying failed (here): {detail}",
                             hint="check the paths and permissions; nothing that was copied before the "
                                  "failure was removed")
    return shown.total


def _exec_detail(stderr: str) -> str:
    """The line of tar's stderr that says what went wrong: not its closing "Exiting with
    failure status" (which would hide "No space left on device")."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines if not _TAR_SUMMARY.search(line)]
    return (telling or lines or [""])[-1]


class _Counted:
    """A stream that reports how many bytes have passed through it."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self.stream, self.on_bytes, self.total = stream, on_bytes, 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.total += len(data)
        self.on_bytes(self.total)
        return data


class _Progress:
    """`Pushing ...: 12.3 MB` redrawn on a terminal's stderr; nothing elsewhere."""

    def __init__(self, what: str, reporter: Reporter) -> None:
        self.what, self.total, self.last = what, 0, 0.0
        self.err = reporter.err
        self.live = not reporter.quiet and _isatty(self.err)

    def update(self, total: int) -> None:
        self.total = total
        now = time.monotonic()
        if self.live and now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.err.write(f"\r{self.what}: {_size(total)}\x1b[K")
            self.err.flush()

    def done(self) -> None:
        if self.live and self.last:
            self.err.write("\r\x1b[K")
            self.err.flush()


def _isatty(stream: object) -> bool:
    try:
        return stream.isatty()  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return f"{count} bytes"
