"""Replacing a project's container without ever leaving the project without one.

Every swap (refresh's replace, stop, delete, recovery) runs inside `swapping()`: Ctrl-C
and SIGTERM wait until it is complete, and a journal file in the project's directory
lists the engine calls it started. A SIGKILL leaves that file behind; the next command
under the project's lock waits for those engine calls to finish (an orphaned
`docker stop` may still be waiting out a command that ignores SIGTERM) before it reads
the container's state, so it never reports "running" for a container about to stop.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oubliette.engines import pids
from oubliette.engines.base import Runtime
from oubliette.errors import ConflictError, EngineError, EngineUnavailableError, OublietteError
from oubliette.interrupts import defer_interrupts
from oubliette.model import (
    DEFAULT_ENGINE,
    LABEL_HOME,
    LABEL_PROJECT,
    STOPPED,
    ContainerInfo,
    aside_name,
    container_name,
)
from oubliette.ops.locking import JOURNAL
from oubliette.report import Reporter
from oubliette.store.files import read_home_file, write_atomic
from oubliette.validate import split_reference

if TYPE_CHECKING:
    from oubliette.app import App, Engine
    from oubliette.spec import ContainerSpec

JOURNAL_MAX_BYTES = 256 * 1024
ORPHAN_WAIT_SECONDS = 120  # longer than any engine's stop timeout (docker: 10 s, then SIGKILL)
# A container whose command cannot start (no `sleep`, a broken entrypoint) dies within
# milliseconds of `run`. Measured on Docker: an immediate inspect alone missed 1 death in
# 10; polling to ~50 ms after `run` (a look right away, the last one begun 35 ms in) caught
# 30 of 30. That last look is the one that counts, so it is the only one now: one inspect
# begun the engine's `start_window` after `run` returned (engines/kinds.py), one engine
# call a start instead of two. A container that dies later than that is not caught here;
# `container list` shows it stopped, and the next `start` replaces it. Unit tests turn the
# windows off (False), or on to test them.
START_WINDOWS = True
# A dead container's log can trail its exit: Podman (conmon) had not yet written it in 1 of
# 30 looks made right after `inspect` said it had stopped. So an empty log is read again,
# for this long at most; this costs only a start that failed anyway.
LAST_WORDS_SECONDS = 1.0
IMAGE_HINT = ("the image needs a shell, `sleep`, and an entrypoint that execs its arguments "
              "(see docs/CONTAINER_TYPES.md)")


# --- the journal -----------------------------------------------------------------------


def _alive(pid: int, stamp: str | None, program: str | None) -> bool:
    """Is this journalled engine call still running? It must have the journalled start
    time (and, where /proc tells, program), so a reused pid, or a journal naming some
    other process (pid 1), is never waited for. A journal of an older oubliette has no program."""
    now = pids.start_stamp(pid)
    return now is not None and stamp == now and program in (None, pids.program_of(pid))


def _journalled_calls(data: object) -> list[tuple[int, str | None, str | None]]:
    """The (pid, start stamp, program) entries of a journal; anything malformed is left out."""
    calls = data.get("calls") if isinstance(data, dict) else None
    found = []
    for entry in calls if isinstance(calls, list) else ():
        if not (isinstance(entry, list) and len(entry) in (2, 3)):
            continue
        pid, stamp, program = (*entry, None)[:3]
        if (type(pid) is int and 1 < pid < pids.PID_MAX and isinstance(stamp, (str, type(None)))
                and isinstance(program, (str, type(None)))):
            found.append((pid, stamp, program))
    return found


class Journal:
    """The engine calls one swap started, in the project's `.swap` file while it runs.
    A runtime made with `runtime.journalled(journal.record)` tells it each call's pid."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.calls: list[list[int | str | None]] = []

    def record(self, pid: int) -> None:
        self.calls.append([pid, pids.start_stamp(pid), pids.program_of(pid)])
        try:
            write_atomic(self.path, json.dumps({"pid": os.getpid(), "calls": self.calls}), durable=False)
        except OSError:
            pass  # a read-only or full home: the swap itself matters more than its journal


@contextmanager
def swapping(app: App, project_id: str) -> Iterator[Journal]:
    """Hold interrupts, and journal the engine calls of one container swap: the block runs
    its engine calls through `runtime.journalled(journal.record)`."""
    journal = Journal(os.path.join(app.projects.project_dir(project_id), JOURNAL))
    with defer_interrupts():
        yield journal
        # Complete: the journal goes. A swap that failed or was cut short leaves it, so the
        # next command looks at the containers (and finishes or undoes the swap) first.
        clear_journal(app, project_id)


def clear_journal(app: App, project_id: str) -> None:
    try:
        os.unlink(os.path.join(app.projects.project_dir(project_id), JOURNAL))
    except OSError:
        pass


def settle_interrupted_swap(app: App, project_id: str, reporter: Reporter) -> bool:
    """If a killed command left a swap journal, wait for its engine calls; True if it did."""
    path = os.path.join(app.projects.project_dir(project_id), JOURNAL)
    try:
        calls = _journalled_calls(json.loads(read_home_file(path, JOURNAL_MAX_BYTES)))
    except FileNotFoundError:
        return False
    except (OSError, ValueError, RecursionError):  # damaged, a FIFO, a link: nothing to wait for
        calls = []  # the state check after this still runs
    pending = [call for call in calls if _alive(*call)]
    if pending:
        reporter.note(f"Waiting for the engine calls of an interrupted operation on {project_id} to finish...")
        deadline = time.monotonic() + ORPHAN_WAIT_SECONDS
        while pending and time.monotonic() < deadline:
            time.sleep(0.05)
            pending = [call for call in pending if _alive(*call)]
    return True  # the journal stays until `recover` (or a complete swap) has put things right


class RolledBack(OublietteError):
    """The new container did not start; the previous container (or its image) runs again."""


# --- running and checking containers -----------------------------------------------------


def name_taken(runtime: Runtime, holder: ContainerInfo) -> ConflictError:
    return ConflictError(
        f"the container name {holder.name} is taken by container {holder.id[:12]}, which this oubliette home "
        "did not create; it was left as it is",
        hint=f"if it is yours and not needed, remove it (`{runtime.binary} rm {holder.name}`"
             + (f" on engine {runtime.engine}, {runtime.endpoint}" if runtime.engine != DEFAULT_ENGINE else "")
             + "); otherwise use another oubliette home for this engine")


def run_verified(runtime: Runtime, spec: ContainerSpec, first: bool = False) -> ContainerInfo | None:
    """Run a container, make sure it is still running a moment later and run its type's
    setup in it; else remove it.

    After a failed run, whatever holds the name is removed only if this home made it
    for this project; anything else is reported and left alone. `first`: a start that
    did not look before; None when the name is taken or the image is not here (then it
    looks, as without `first`).
    """
    try:
        runtime.run(spec)
    except EngineUnavailableError:
        raise
    except EngineError as error:
        if first and runtime.texts.refuses_run(error.stderr):
            return None
        holder = runtime.inspect(spec.name)
        if holder is None:
            raise
        if not _made_for(spec, holder):
            raise name_taken(runtime, holder) from None
        runtime.remove([spec.name], force=True)
        raise
    info = verify_running(runtime, spec.name)
    if spec.setup:  # part of "the new container runs": a failing setup is a failed start
        from oubliette.ops.settings import run_setup

        try:
            run_setup(runtime, spec)
        except OublietteError:
            runtime.remove([spec.name], force=True)
            raise
    return info


def _made_for(spec: ContainerSpec, info: ContainerInfo) -> bool:
    return all(info.labels.get(key) == spec.labels.get(key) for key in (LABEL_HOME, LABEL_PROJECT))


def verify_running(runtime: Runtime, name: str) -> ContainerInfo:
    """Look at the container's state once, the engine's start window after it started (see
    START_WINDOWS); looks falling due together share one inspect (engines/looks.py)."""
    info = runtime.looks.look(runtime, name, runtime.kind.start_window if START_WINDOWS else 0.0)
    if info is not None and info.running:
        return info
    why = ""
    if info is not None:
        why = _last_words(runtime, name)
        runtime.remove([name], force=True)
    raise OublietteError(f"container {name} stopped right after it started" + (f": {why}" if why else ""),
                         hint=IMAGE_HINT)


def _last_words(runtime: Runtime, name: str) -> str:
    """The last line a dead container printed, waiting (bounded) for a log that trails."""
    deadline = time.monotonic() + LAST_WORDS_SECONDS
    while True:
        lines = runtime.logs_tail(name).strip().splitlines()
        if lines or time.monotonic() >= deadline:
            return lines[-1].strip() if lines else ""
        time.sleep(0.05)


def stop_and_remove(runtime: Runtime, containers: list[ContainerInfo]) -> None:
    """One stop call for the running ones, one remove call for all of them."""
    runtime.stop([c.name for c in containers if c.status != STOPPED])
    runtime.remove([c.name for c in containers], force=True)


# --- recovery and replacement --------------------------------------------------------------


def recover(engine: Engine, project_id: str, main: ContainerInfo | None, aside: ContainerInfo | None,
            reporter: Reporter) -> ContainerInfo | None:
    """Finish or undo what an interrupted refresh left; return the project's container."""
    if aside is None:
        clear_journal(engine.app, project_id)  # nothing set aside: nothing left to finish
        return main
    with swapping(engine.app, project_id) as journal:
        runtime = engine.runtime.journalled(journal.record)
        if main is not None and main.running:
            runtime.remove([aside.name], force=True)  # the new container made it: drop the old one
            return main
        if main is not None:
            runtime.remove([main.name], force=True)  # a new container that never came up
        if runtime.kind.replace_beside and not aside.running:  # a pod that ended cannot run again
            runtime.remove([aside.name], force=True)
            return None  # the start that follows makes a new one
        runtime.rename(aside.name, container_name(project_id))
        if not aside.running:  # set aside beside its replacement (a cluster's pod), it never stopped
            runtime.start(container_name(project_id))
    reporter.note(f"Restored the container of {project_id} that an interrupted refresh had set aside.")
    return engine.runtime.inspect(container_name(project_id))  # not journalled: the swap is over


def replace(engine: Engine, project_id: str, spec: ContainerSpec, old: ContainerInfo, kept: str | None = None,
            swapped: Callable[[ContainerInfo | None], None] | None = None,
            unchanged: Callable[[ContainerInfo], bool] | None = None) -> bool:
    """Swap `old` for a container of `spec`; if the new one does not start, the old one
    (or its image) runs again and RolledBack says so. False: `unchanged` kept the old one.

    `kept` (engines without rename): a local name of the image `old` runs, made before
    the pull moved its tag. `swapped` is told once the new container runs, before an
    interrupt held during the swap is raised (so an interrupted run can say it was done),
    with the new container as the look at it saw it (its image id: no image inspect needed).
    `unchanged` (kinds that replace beside): told the new container once it runs; True
    keeps the old one instead (`--if-changed` where only the new pod's node can tell).
    """
    with swapping(engine.app, project_id) as journal:
        runtime = engine.runtime.journalled(journal.record)
        replaced = True
        if runtime.kind.replace_beside:
            replaced, new = _replace_beside(runtime, spec, old, aside_name(project_id), unchanged)
        elif runtime.can_rename:
            new = _replace_by_rename(runtime, spec, old, aside_name(project_id))
        else:
            new = _replace_in_place(runtime, spec, old, kept)
        if replaced and swapped is not None:
            swapped(new)
    return replaced


def _replace_beside(runtime: Runtime, spec: ContainerSpec, old: ContainerInfo, aside: str,
                    unchanged: Callable[[ContainerInfo], bool] | None) -> tuple[bool, ContainerInfo | None]:
    """A cluster: set the old pod aside (a relabel: it runs on), and delete it only once the
    new one runs; if the new one does not, the old one takes its name back. The project's
    workspace is never without a running pod."""
    runtime.rename(old.name, aside)
    try:
        info = run_verified(runtime, spec)
    except OublietteError as error:
        try:
            if (holder := runtime.inspect(spec.name)) is not None and _made_for(spec, holder):
                runtime.remove([spec.name], force=True)
            runtime.rename(aside, spec.name)
        except OublietteError as restore:
            raise _restore_failed(error, restore, spec.name) from None
        raise RolledBack(f"the new container did not start ({error.message}); the previous one runs on",
                         hint=error.hint) from None
    if info is not None and unchanged is not None and unchanged(info):
        runtime.remove([spec.name], force=True)
        runtime.rename(aside, spec.name)
        return False, None
    runtime.remove([aside])  # within its grace period: its command is told to stop first
    return True, info


def _replace_by_rename(runtime: Runtime, spec: ContainerSpec, old: ContainerInfo, aside: str) -> ContainerInfo | None:
    """Docker: park the old container under another name; bring it back if the new one fails."""
    if old.status != STOPPED:
        runtime.stop([old.name])
    runtime.rename(old.name, aside)
    try:
        new = run_verified(runtime, spec)
    except OublietteError as error:
        try:
            if (holder := runtime.inspect(spec.name)) is not None and _made_for(spec, holder):
                runtime.remove([spec.name], force=True)
            runtime.rename(aside, spec.name)
            runtime.start(spec.name)
        except OublietteError as restore:
            raise _restore_failed(error, restore, spec.name) from None
        raise RolledBack(f"the new container did not start ({error.message}); "
                         "the previous container is running again", hint=error.hint) from None
    runtime.remove([aside], force=True)
    return new


def _replace_in_place(runtime: Runtime, spec: ContainerSpec, old: ContainerInfo,
                      kept: str | None) -> ContainerInfo | None:
    """Apple (no rename): replace, and on failure run the previous image again.

    The previous image is run by the name kept for it before the pull: Apple's CLI finds
    local images by name only, so `repo@digest` would go to the registry (offline, or for
    a locally built image, that fails). Without a kept name the digest is the last resort.
    """
    previous = kept or (f"{repository_of(spec.image)}@{old.image_id}" if old.image_id else None)
    if old.status != STOPPED:
        runtime.stop([old.name])
    runtime.remove([old.name], force=True)
    try:
        return run_verified(runtime, spec)
    except OublietteError as error:
        if previous is None:
            raise
        try:
            run_verified(runtime, spec._replace(image=previous))
        except OublietteError as restore:
            raise _restore_failed(error, restore, spec.name) from None
        raise RolledBack(f"the new container did not start ({error.message}); started the previous "
                         f"image again ({previous})", hint=error.hint) from None


def _restore_failed(error: OublietteError, restore: OublietteError, name: str) -> OublietteError:
    project_id = name.removeprefix("oubliette-")
    return OublietteError(
        f"the new container did not start ({error.message}), and bringing back the previous one failed too "
        f"({restore.message})",
        hint=f"run `oubliette container start {project_id}`: it recovers a set-aside container, or starts afresh")


def repository_of(ref: str) -> str:
    """`host:5000/team/app:tag@sha256:...` -> `host:5000/team/app`."""
    return split_reference(ref).repository
