"""Start, list, refresh, stop and delete: the workflows the CLI and the MCP server share.

Invariants kept here:
- Only containers carrying oubliette's labels are ever selected, and of those only the
  one named `oubliette-<project id>` counts as the project's container.
- A failed pull or start never leaves a project without its container: refresh pulls
  first, and replaces the container so that the old one can always come back.
- Every change to a project's container happens under the project's lock file.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from oubliette.app import App
from oubliette.errors import (
    AccessDeniedError,
    ConflictError,
    EngineError,
    EngineUnavailableError,
    ImageNotFoundError,
    OublietteError,
)
from oubliette.images import BUILD_HINT
from oubliette.names import aside_name, container_name, project_containers_only
from oubliette.report import Reporter
from oubliette.runtime.base import (
    LABEL_IMAGE,
    LABEL_PROJECT,
    LABEL_TYPE,
    STOPPED,
    ContainerInfo,
    ContainerSpec,
    Runtime,
)

if TYPE_CHECKING:  # the hot path (`container list`) never needs the stores
    from oubliette.projects import Project
    from oubliette.sessions import Session

WORKSPACE = "/workspace"
START_SETTLE_SECONDS = 0.5  # a container that dies on start (no `sleep`, bad entrypoint) is gone by then
IMAGE_HINT = ("the image needs a shell, `sleep`, and an entrypoint that execs its arguments "
              "(see docs/CONTAINER_TYPES.md)")


def spec_for(app: App, project: Project, image: str) -> ContainerSpec:
    workspace = str(app.projects.workspace(project.id))
    if ":" in workspace:  # `--volume SRC:DST` would split it
        raise OublietteError(f"the workspace path {workspace} contains ':', which the engine cannot mount",
                             hint="move the oubliette home to a path without ':' (--home or OUBLIETTE_HOME)")
    return ContainerSpec(
        name=container_name(project.id),
        image=image,
        labels={LABEL_PROJECT: project.id, LABEL_TYPE: project.type, LABEL_IMAGE: image},
        mounts=[(workspace, WORKSPACE)],
        workdir=WORKSPACE,
        env={"OUBLIETTE_PROJECT_ID": project.id},
        command=["sleep", "infinity"],
        init=True,
    )


# --- results --------------------------------------------------------------------------


@dataclass
class StartResult:
    project_id: str
    name: str
    image: str
    action: str  # "started" | "resumed" | "already_running"

    def to_dict(self) -> dict:
        return {**asdict(self), "status": "running"}


@dataclass
class StopResult:
    project_id: str
    name: str
    action: str  # "stopped" | "no_container"

    def to_dict(self) -> dict:
        return asdict(self)


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


# --- shared steps -----------------------------------------------------------------------


def project_containers(runtime: Runtime, project_id: str) -> tuple[ContainerInfo | None, ContainerInfo | None]:
    """The project's container and any set-aside one, from one engine call."""
    infos = runtime.list(f"{LABEL_PROJECT}={project_id}", all=True)
    by_name = {info.name: info for info in infos}
    return by_name.get(container_name(project_id)), by_name.get(aside_name(project_id))


def recover(app: App, project_id: str, main: ContainerInfo | None, aside: ContainerInfo | None,
            reporter: Reporter) -> ContainerInfo | None:
    """Finish or undo what an interrupted refresh left; return the project's container."""
    if aside is None:
        return main
    runtime = app.runtime
    with defer_interrupts():
        if main is not None and main.running:
            runtime.remove([aside.name], force=True)  # the new container made it: drop the old one
            return main
        if main is not None:
            runtime.remove([main.name], force=True)  # a new container that never came up
        runtime.rename(aside.name, container_name(project_id))
        runtime.start(container_name(project_id))
    reporter.note(f"Restored the container of {project_id} that an interrupted refresh had set aside.")
    return runtime.inspect(container_name(project_id))


def run_verified(runtime: Runtime, spec: ContainerSpec) -> ContainerInfo:
    """Run a container and make sure it is still running a moment later; else remove it."""
    try:
        runtime.run(spec)
    except EngineError:
        _remove_if_present(runtime, spec.name)
        raise
    return verify_running(runtime, spec.name)


def verify_running(runtime: Runtime, name: str) -> ContainerInfo:
    time.sleep(START_SETTLE_SECONDS)
    info = runtime.inspect(name)
    if info is not None and info.running:
        return info
    why = ""
    if info is not None:
        lines = runtime.logs_tail(name).strip().splitlines()
        why = lines[-1].strip() if lines else ""
        runtime.remove([name], force=True)
    raise OublietteError(f"container {name} stopped right after it started" + (f": {why}" if why else ""),
                         hint=IMAGE_HINT)


def _remove_if_present(runtime: Runtime, name: str) -> None:
    if runtime.inspect(name) is not None:
        runtime.remove([name], force=True)


@contextmanager
def defer_interrupts() -> Iterator[None]:
    """Hold Ctrl-C until a container swap is complete, then raise it.

    Engine calls run in their own session, so the terminal's SIGINT does not reach
    them either; the swap finishes (or is undone) and the project keeps a container.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _lock(app: App, project_id: str, reporter: Reporter):
    return app.projects.lock(project_id, on_wait=lambda: reporter.note(
        f"Waiting for another oubliette operation on {project_id} to finish..."))


# --- start ------------------------------------------------------------------------------


def start_container(app: App, project_ref: str, reporter: Reporter) -> StartResult:
    """Make sure the project's container runs: recover, ensure the image, run it."""
    project = app.projects.get(project_ref)
    with _lock(app, project.id, reporter):
        return _start_locked(app, project, reporter)


def _start_locked(app: App, project: Project, reporter: Reporter) -> StartResult:
    runtime = app.runtime
    image = app.images.get_image_name(project.type)
    main, aside = project_containers(runtime, project.id)
    main = recover(app, project.id, main, aside, reporter)
    if main is not None and main.running:
        return StartResult(project.id, main.name, main.image, "already_running")
    if main is not None:
        reporter.info(f"Starting the existing container {main.name}...")
        try:
            runtime.start(main.name)
            verify_running(runtime, main.name)
            return StartResult(project.id, main.name, main.image, "resumed")
        except EngineUnavailableError:
            raise
        except OublietteError as error:  # only /workspace is kept anyway: start afresh
            reporter.note(f"The existing container would not start ({error.message}); creating a new one.")
            _remove_if_present(runtime, main.name)
    app.images.ensure_image_exists(project.type, reporter)
    app.projects.workspace(project.id).mkdir(parents=True, exist_ok=True)
    info = run_verified(runtime, spec_for(app, project, image))
    return StartResult(project.id, info.name, image, "started")


# --- list -------------------------------------------------------------------------------


def list_containers(app: App, all: bool = False) -> list[ContainerInfo]:
    """oubliette's containers from one engine call, label-selected, set-aside ones left out."""
    return project_containers_only(app.runtime.list(LABEL_PROJECT, all=all))


# --- stop -------------------------------------------------------------------------------


def stop_containers(app: App, project_refs: Sequence[str], reporter: Reporter) -> list[StopResult]:
    """Stop and remove the containers of these projects."""
    projects = [app.projects.get(ref) for ref in dict.fromkeys(project_refs)]
    results = []
    for project in projects:
        with _lock(app, project.id, reporter):
            main, aside = project_containers(app.runtime, project.id)
            present = [c for c in (main, aside) if c is not None]
            if not present:
                results.append(StopResult(project.id, container_name(project.id), "no_container"))
                continue
            _stop_and_remove(app.runtime, present)
            results.append(StopResult(project.id, container_name(project.id), "stopped"))
    return results


def stop_all(app: App, reporter: Reporter) -> list[StopResult]:
    """Stop and remove every oubliette container: one list, one stop and one remove call."""
    infos = app.runtime.list(LABEL_PROJECT, all=True)
    ours = [i for i in infos if i.project_id and i.name in (container_name(i.project_id), aside_name(i.project_id))]
    if not ours:
        return []
    project_ids = sorted({i.project_id for i in ours if i.project_id})
    with ExitStack() as locks:
        for project_id in project_ids:
            if app.projects.project_dir(project_id).is_dir():
                locks.enter_context(_lock(app, project_id, reporter))
        _stop_and_remove(app.runtime, ours)
    return [StopResult(pid, container_name(pid), "stopped") for pid in project_ids]


def _stop_and_remove(runtime: Runtime, containers: Sequence[ContainerInfo]) -> None:
    with defer_interrupts():
        runtime.stop([c.name for c in containers if c.status != STOPPED])
        runtime.remove([c.name for c in containers], force=True)


# --- refresh ----------------------------------------------------------------------------


def refresh_targets(app: App, project_refs: Sequence[str]) -> list[Project]:
    """The named projects, or every project whose container is running."""
    if project_refs:
        projects = [app.projects.get(ref) for ref in project_refs]
    else:
        projects = []
        for info in list_containers(app, all=False):
            try:
                projects.append(app.projects.get(info.project_id or ""))
            except OublietteError:
                app.reporter.warn(f"skipping {info.name}: its project {info.project_id} no longer exists")
    return list({p.id: p for p in projects}.values())


def refresh(app: App, projects: Sequence[Project], reporter: Reporter,
            report_failures: bool = True) -> list[RefreshResult]:
    """Refresh each project in turn; each distinct image is pulled once; goes on past failures.

    `report_failures=False` leaves failures to the caller (which shows one error line).
    """
    pulls: dict[str, OublietteError | None] = {}
    return [refresh_one(app, project, reporter, pulls, report_failures) for project in projects]


def refresh_one(app: App, project: Project, reporter: Reporter,
                pulls: dict[str, OublietteError | None] | None = None,
                report_failures: bool = True) -> RefreshResult:
    pulls = {} if pulls is None else pulls
    reporter.info(f"Refreshing {project.id}...")
    step = reporter.nested()
    result = RefreshResult(project.id)
    try:
        result.image = image = app.images.get_image_name(project.type)
        with _lock(app, project.id, step):
            active = app.sessions.active(project.id)
            if active:
                raise ConflictError(
                    f"cannot refresh container: {len(active)} active session(s) exist - end them first",
                    hint="see them with `oubliette session list`; end one with `oubliette session end SID`")
            runtime = app.runtime
            main, aside = project_containers(runtime, project.id)
            main = recover(app, project.id, main, aside, step)
            if main is None:
                raise ConflictError("no container to refresh",
                                    hint=f"start it with `oubliette container start {project.id}`")
            old = runtime.inspect(main.name) or main
            result.old_image_id = old.image_id
            _pull_once(app, image, step, pulls)
            result.new_image_id = runtime.image_id(image)
            step.info("Restarting container...")
            _replace(app, project, image, old, step)
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


def _replace(app: App, project: Project, image: str, old: ContainerInfo, reporter: Reporter) -> None:
    spec = spec_for(app, project, image)
    app.projects.workspace(project.id).mkdir(parents=True, exist_ok=True)
    with defer_interrupts():
        if app.runtime.can_rename:
            _replace_by_rename(app.runtime, spec, old, aside_name(project.id))
        else:
            _replace_in_place(app.runtime, spec, old)


def _replace_by_rename(runtime: Runtime, spec: ContainerSpec, old: ContainerInfo, aside: str) -> None:
    """Docker: park the old container under another name; bring it back if the new one fails."""
    if old.status != STOPPED:
        runtime.stop([old.name])
    runtime.rename(old.name, aside)
    try:
        run_verified(runtime, spec)
    except OublietteError as error:
        try:
            _remove_if_present(runtime, spec.name)
            runtime.rename(aside, spec.name)
            runtime.start(spec.name)
        except OublietteError as restore:
            raise _restore_failed(error, restore, spec.name) from None
        raise OublietteError(f"the new container did not start ({error.message}); "
                             "the previous container is running again", hint=error.hint) from None
    runtime.remove([aside], force=True)


def _replace_in_place(runtime: Runtime, spec: ContainerSpec, old: ContainerInfo) -> None:
    """Apple (no rename): replace, and on failure run the previous image again by digest."""
    previous = f"{repository_of(spec.image)}@{old.image_id}" if old.image_id else None
    if old.status != STOPPED:
        runtime.stop([old.name])
    runtime.remove([old.name], force=True)
    try:
        run_verified(runtime, spec)
    except OublietteError as error:
        if previous is None:
            raise
        try:
            run_verified(runtime, spec._replace(image=previous))
        except OublietteError as restore:
            raise _restore_failed(error, restore, spec.name) from None
        raise OublietteError(f"the new container did not start ({error.message}); started the previous "
                             f"image again ({previous})", hint=error.hint) from None


def _restore_failed(error: OublietteError, restore: OublietteError, name: str) -> OublietteError:
    project_id = name.removeprefix("oubliette-")
    return OublietteError(
        f"the new container did not start ({error.message}), and bringing back the previous one failed too "
        f"({restore.message})",
        hint=f"run `oubliette container start {project_id}`: it recovers a set-aside container, or starts afresh")


def repository_of(ref: str) -> str:
    """`host:5000/team/app:tag@sha256:...` -> `host:5000/team/app`."""
    name = ref.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


# --- projects ---------------------------------------------------------------------------


def project_record(app: App, project: Project, with_sessions: bool = False) -> dict:
    """A project as JSON (CLI --json and MCP): metadata, the image its type maps to now,
    its container's name and its workspace; optionally its active sessions."""
    record = {**project.to_dict(), "image": app.config.containers.get(project.type),
              "container": project.container_name, "workspace": str(app.projects.workspace(project.id))}
    if with_sessions:
        record["active_sessions"] = [s.id for s in app.sessions.active(project.id)]
    return record


def type_options(app: App) -> dict:
    """The configured container types with their images, and the default type."""
    images = app.images
    return {"container_types": {
        "available": [{"name": t, "image": images.get_image_name(t)} for t in images.valid_types()],
        "default": app.config.default_type}}



def create_project(app: App, name: str, type_name: str | None) -> Project:
    """Create a project of a configured type (default: the config's default type)."""
    type_name = type_name or app.config.default_type
    app.images.get_image_name(type_name)  # raises, listing the valid types
    return app.projects.create(name, type_name)


def delete_project(app: App, project_ref: str, purge: bool, reporter: Reporter) -> Project:
    """Refuse while sessions are active; remove the container; forget the project."""
    project = app.projects.get(project_ref)
    with _lock(app, project.id, reporter):
        active = app.sessions.active(project.id)
        if active:
            raise ConflictError(f"cannot delete project: {len(active)} active session(s) exist - end them first",
                                hint="see them with `oubliette session list`; end one with `oubliette session end SID`")
        main, aside = project_containers(app.runtime, project.id)
        present = [c for c in (main, aside) if c is not None]
        if present:
            _stop_and_remove(app.runtime, present)
        app.projects.delete(project.id, purge)
    return project


# --- sessions ---------------------------------------------------------------------------


def run_session(app: App, project_ref: str, command: Sequence[str], tty: bool, reporter: Reporter) -> int:
    """Ensure a running container, register the session, run the command; its exit code."""
    from oubliette.sessions import wrap_command

    project = app.projects.get(project_ref)
    with _lock(app, project.id, reporter):
        started = _start_locked(app, project, reporter)
        if started.action != "already_running":
            reporter.note(f"Started container {started.name}.")
        session = app.sessions.register(project.id, list(command))  # under the lock: refresh sees it
    try:
        reporter.note(f"Session {session.id} in {project.id}.")
        return app.runtime.exec(container_name(project.id), wrap_command(list(command)), tty=tty,
                                env={"OUBLIETTE_SESSION_ID": session.id}, workdir=WORKSPACE)
    finally:
        app.sessions.unregister(session)


def end_session(app: App, session_ref: str) -> tuple[Session, bool]:
    """Stop a session's command in the container and its local client; (session, was_alive)."""
    from oubliette.sessions import end_command

    session = app.sessions.get(session_ref)
    alive = app.sessions.is_alive(session)
    try:
        app.runtime.exec_capture(container_name(session.project_id), end_command(session.id))
    except EngineError:
        if alive:
            raise
    if app.sessions.is_alive(session):
        try:
            os.kill(session.pid, signal.SIGTERM)
        except OSError:
            pass
    app.sessions.unregister(session)
    return session, alive
