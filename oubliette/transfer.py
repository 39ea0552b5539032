"""`workspace push` and `pull`: copy a tree into or out of a project's /workspace.

The bytes go as a tar stream between the local `tar` and `tar` in the container
(through the engine's `exec`), so the same code serves bind and volume workspaces on
every engine, local or remote. In the container tar runs as the image's user, the
one sessions run as, so pushed files belong to that user. The project's lock is held
throughout: a refresh or stop waits instead of cutting the copy short.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from oubliette.app import App
from oubliette.errors import EngineUnavailableError, OublietteError
from oubliette.files import os_error
from oubliette.lifecycle import WORKSPACE, locked_project, start_locked
from oubliette.names import container_name
from oubliette.report import Reporter
from oubliette.runtime import _exec
from oubliette.sessions import wrap_command

if TYPE_CHECKING:
    from oubliette.runtime.base import Runtime

PROGRESS_SECONDS = 0.2  # how often the byte count is redrawn on a terminal
LOCAL_TAR = "tar"


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
    directory = Path(source).expanduser().absolute()
    if not directory.is_dir():
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
    reporter.info(f"Pushed {_size(total)} from {directory} to {project.id}:{WORKSPACE}.")
    return Transfer(project.id, "push", str(directory), f"{name}:{WORKSPACE}", total)


def pull(app: App, project_ref: str, destination: str, reporter: Reporter) -> Transfer:
    """Copy the contents of /workspace into the local directory `destination` (made if
    missing; files with the same names are replaced, nothing is deleted)."""
    directory = Path(destination).expanduser().absolute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(f"cannot create {directory}", exc) from None
    with locked_project(app, project_ref, reporter) as project:
        start_locked(app, project, reporter)
        name = container_name(project.id)
        runtime = app.for_project(project).runtime
        create = runtime.exec_argv(name, ["tar", "-c", "-f", "-", "-C", WORKSPACE, "."], tty=False,
                                   interactive=False)
        extract = [LOCAL_TAR, "-x", "-f", "-", "--no-same-owner", *_keep_directory_flags(),
                   "-C", str(directory)]
        total = _copy(create, runtime.env, extract, None, f"Pulling {name} to {directory}", runtime, reporter)
    reporter.info(f"Pulled {_size(total)} from {project.id}:{WORKSPACE} to {directory}.")
    return Transfer(project.id, "pull", f"{name}:{WORKSPACE}", str(directory), total)


def _copy(source: list[str], source_env: Mapping[str, str] | None, sink: list[str],
          sink_env: Mapping[str, str] | None, what: str, runtime: Runtime, reporter: Reporter) -> int:
    """Run the tar pipe with a live byte count on a terminal; errors name the side that failed."""
    shown = _Progress(what, reporter)
    try:
        made, taken = _exec.pipe(source, sink, source_env, sink_env, on_bytes=shown.update)
    except FileNotFoundError as exc:
        if exc.filename == LOCAL_TAR or LOCAL_TAR in str(exc):
            raise OublietteError("`tar` is not installed here; it carries the files",
                                 hint="install tar (it is part of every Linux and macOS base system)") from None
        raise runtime.missing_binary() from None
    finally:
        shown.done()
    for result in (taken, made):  # the receiving side first: a sender that fails when it stops is its echo
        if result.ok:
            continue
        if result.argv[0] != LOCAL_TAR:  # the engine's side
            error = runtime.classify(result)
            if isinstance(error, EngineUnavailableError):
                raise error
            if result.returncode in (126, 127) and "tar" in result.stderr:
                raise OublietteError("the container has no `tar`, which carries the files",
                                     hint="use an image with tar in it (every Debian, Ubuntu, Alpine and "
                                          "BusyBox image has one)")
        detail = _exec_detail(result.stderr) or f"exit code {result.returncode}"
        side = "here" if result.argv[0] == LOCAL_TAR else "in the container"
        raise OublietteError(f"copying failed ({side}): {detail}",
                             hint="check the paths and permissions; nothing that was copied before the "
                                  "failure was removed")
    return shown.total


def _exec_detail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _keep_directory_flags() -> list[str]:
    """GNU tar would give the destination directory /workspace's mode and times; tell it not to
    (bsdtar, macOS's, leaves an existing directory alone unless asked)."""
    return ["--no-overwrite-dir"] if sys.platform.startswith("linux") else []


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
