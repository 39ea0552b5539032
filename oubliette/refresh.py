"""Refresh: pull each distinct image once, then replace each project's container.

The pull comes first, so a failed pull leaves the running container untouched; the
replacement itself is swap.py's, which brings the old container back if the new one
does not start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from oubliette.app import App
from oubliette.errors import (
    AccessDeniedError,
    ConflictError,
    EngineUnavailableError,
    ImageNotFoundError,
    OublietteError,
)
from oubliette.images import BUILD_HINT
from oubliette.lifecycle import list_containers, locked_project, project_containers, refuse_active_sessions, spec_for
from oubliette.report import Reporter
from oubliette.runtime.base import ContainerInfo, Runtime
from oubliette.swap import RolledBack, recover, replace, repository_of

if TYPE_CHECKING:
    from oubliette.projects import Project


@dataclass
class RefreshResult:
    project_id: str
    image: str | None = None
    old_image_id: str | None = None
    new_image_id: str | None = None
    changed: bool = False
    status: str = "failed"  # "refreshed" | "failed"
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class RefreshRun:
    """What one refresh run shares between its projects: each image is pulled once, and
    (engines without rename) the image each old container runs is kept under a local name
    until its replacement runs, so a rollback never needs the registry."""

    def __init__(self) -> None:
        self.pulls: dict[str, OublietteError | None] = {}
        self.kept: set[str] = set()
        self.in_use: set[str] = set()

    def keep(self, runtime: Runtime, image: str, old: ContainerInfo) -> str | None:
        """A local name for the image `old` runs; made before the pull moves `image`'s tag."""
        if runtime.can_rename or not old.image_id:
            return None
        name = kept_name(image, old.image_id)
        if name not in self.kept:
            if runtime.image_id(image) == old.image_id:
                runtime.tag(image, name)
            elif not runtime.image_exists(name):  # kept by an earlier run whose rollback runs it
                return None
            self.kept.add(name)
        return name

    def release(self, runtime: Runtime) -> None:
        """Remove the kept names no rolled-back container runs on."""
        for name in sorted(self.kept - self.in_use):
            try:
                runtime.untag(name)
            except OublietteError:
                pass  # a leftover name costs nothing; the next run removes it
        self.kept.clear()


def kept_name(image: str, digest: str) -> str:
    """`host/app:tag` + `sha256:abcdef...` -> `host/app:oubliette-kept-abcdef012345`."""
    return f"{repository_of(image)}:oubliette-kept-{digest.rpartition(':')[2][:12]}"


def refresh_targets(app: App, project_refs: Sequence[str]) -> list[Project]:
    """The named projects, or every project of this home whose container is running."""
    if project_refs:
        projects = [app.projects.get(ref) for ref in project_refs]
    else:
        projects = []
        for info in list_containers(app, all=False):
            try:
                projects.append(app.projects.get(info.project_id or ""))
            except OublietteError:
                app.reporter.warn(f"skipping {info.name}: its project {info.project_id} no longer exists "
                                  f"(remove it with `oubliette container stop {info.project_id}`)")
    return list({p.id: p for p in projects}.values())


def refresh(app: App, projects: Sequence[Project], reporter: Reporter,
            report_failures: bool = True) -> list[RefreshResult]:
    """Refresh each project in turn; each distinct image is pulled once; goes on past failures.

    `report_failures=False` leaves failures to the caller (which shows one error line).
    """
    run = RefreshRun()
    try:
        return [refresh_one(app, project, reporter, run, report_failures) for project in projects]
    finally:
        run.release(app.runtime)


def refresh_one(app: App, project: Project, reporter: Reporter, run: RefreshRun | None = None,
                report_failures: bool = True) -> RefreshResult:
    if run is None:
        run = RefreshRun()
        try:
            return refresh_one(app, project, reporter, run, report_failures)
        finally:
            run.release(app.runtime)
    reporter.info(f"Refreshing {project.id}...")
    step = reporter.nested()
    result = RefreshResult(project.id)
    try:
        with locked_project(app, project.id, step) as project:
            result.image = image = app.images.get_image_name(project.type)
            refuse_active_sessions(app, project.id, "refresh container")
            runtime = app.runtime
            main, aside = project_containers(app, project.id, step)
            main = recover(app, project.id, main, aside, step)
            if main is None:
                raise ConflictError("no container to refresh",
                                    hint=f"start it with `oubliette container start {project.id}`")
            old = runtime.inspect(main.name) or main
            result.old_image_id = old.image_id
            kept = run.keep(runtime, image, old)
            _pull_once(app, image, step, run.pulls)
            result.new_image_id = runtime.image_id(image)
            step.info("Restarting container...")
            try:
                replace(app, project.id, spec_for(app, project, image), old, kept)
            except RolledBack:
                if kept:
                    run.in_use.add(kept)
                raise
    except EngineUnavailableError:
        raise  # the engine is gone: no other project can fare better
    except OublietteError as error:
        result.error, result.hint = error.message, error.hint
        if report_failures:
            step.note(f"{step.indent}Failed: {error.message}")
            if error.hint:
                step.note(f"{step.indent}Hint: {error.hint}")
        return result
    result.status = "refreshed"
    result.changed = result.old_image_id != result.new_image_id
    if result.changed:
        step.info(f"Image updated: {result.old_image_id} -> {result.new_image_id}")
    else:
        step.info("Image unchanged.")
    step.info("Done.")
    return result


def _pull_once(app: App, image: str, reporter: Reporter, pulls: dict[str, OublietteError | None]) -> None:
    """Pull `image` unless this run already did; a registry refusal falls back to a local image."""
    if image in pulls:
        failure = pulls[image]
        if failure is not None:
            raise failure
        reporter.info(f"{image} was pulled earlier in this run.")
        return
    runtime = app.runtime
    try:
        if app.config.dev_mode:
            if not runtime.image_exists(image):
                raise OublietteError(f"image {image} not found locally", hint=BUILD_HINT)
            reporter.info(f"Dev mode: using the local image {image} (never pulled).")
        else:
            try:
                app.images.pull(image, reporter)
            except (ImageNotFoundError, AccessDeniedError) as error:
                if not runtime.image_exists(image):
                    raise
                why = "denied access" if isinstance(error, AccessDeniedError) else "does not have it"
                reporter.info(f"The registry {why}; using the local image {image}.")
    except EngineUnavailableError:
        raise
    except OublietteError as error:
        pulls[image] = error
        raise
    pulls[image] = None
