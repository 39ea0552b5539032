"""A project's lock, held for the length of a change to it: the one way the workflows
reach a project they change (light on purpose: `session start` goes through it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oubliette.app import App
from oubliette.errors import NotFoundError, OublietteError
from oubliette.report import Reporter
from oubliette.store.files import os_error

if TYPE_CHECKING:
    from oubliette.store.projects import Project

JOURNAL = ".swap"  # in the project's directory while its container is swapped (ops/swap.py)


@contextmanager
def locked_project(app: App, project_ref: str, reporter: Reporter) -> Iterator[Project]:
    """Resolve a project, hold its lock, and re-read it under the lock: a project deleted
    while we waited is reported as gone, never brought back."""
    project_id = app.projects.resolve(project_ref)
    lock = app.projects.lock(project_id, on_wait=lambda holder: reporter.note(
        f"Waiting for {holder} to finish with {project_id}..."), timeout=app.lock_timeout)
    try:
        lock.__enter__()
    except FileNotFoundError:  # its directory is gone: deleted, and not to be re-created
        if app.projects.exists(project_id):  # there, but its lock file cannot be made
            raise OublietteError(f"cannot lock project {project_id}: its lock file cannot be created (the "
                                 "oubliette home is read-only)",
                                 hint="commands that change a project need a writable home: check its mount "
                                      "and permissions") from None
        raise _deleted(project_id) from None
    except OSError as exc:
        raise os_error(f"cannot lock project {project_id}", exc) from None
    try:
        try:
            project = app.projects.get(project_id)
        except NotFoundError:
            raise _deleted(project_id) from None
        yield project
    finally:
        lock.__exit__(None, None, None)


def _deleted(project_id: str) -> NotFoundError:
    return NotFoundError(f"project {project_id} was deleted", hint="list projects with `oubliette project list`")


def swap_unsettled(app: App, project_id: str) -> bool:
    """Did a killed command leave a swap journal (settled by the next look at the container)?"""
    return os.path.lexists(os.path.join(app.projects.project_dir(project_id), JOURNAL))
