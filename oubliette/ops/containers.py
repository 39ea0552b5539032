"""Start, list and stop, a project's lock and containers: the workflows the CLI and MCP share
(project records, create and delete are in project_ops.py).

Invariants kept here:
- Only this home's containers are ever selected (`App.ownership`): a container of
  another home, or one nobody labelled, is never stopped, removed or used, even when
  it holds a project's name.
- A failed pull or start never leaves a project without its container (see swap.py).
- Every change to a project's container happens under the project's lock file, and
  re-checks under that lock that the project still exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, NamedTuple, TextIO

from oubliette.app import App, Engine
from oubliette.engines.fleet import listed_everywhere, strictly_listed
from oubliette.errors import ConflictError, EngineUnavailableError, NotFoundError, OublietteError
from oubliette.model import (
    LABEL_HOME,
    LABEL_IMAGE,
    LABEL_PROJECT,
    LABEL_TYPE,
    PAUSED,
    WORKSPACE,
    ContainerInfo,
    aside_name,
    container_name,
    id_prefix,
    is_legacy,
    volume_name,
)
from oubliette.ops.locking import locked_project, swap_unsettled
from oubliette.ops.swap import (
    Journal,
    name_taken,
    recover,
    run_verified,
    settle_interrupted_swap,
    stop_and_remove,
    swapping,
    verify_running,
)
from oubliette.report import Reporter
from oubliette.spec import ContainerSpec
from oubliette.store.config import has_settings

if TYPE_CHECKING:  # the hot path (`container list`) never needs the stores
    from oubliette.store.projects import Project

ACTIVE_SESSIONS_HINT = "see them with `oubliette session list`; end one with `oubliette session end SID`"


def mountable(path: str, hint: str) -> str:
    """`path` if an engine can mount it: `--volume SRC:DST` (Apple) splits on ':', `--mount
    k=v,...` is read as CSV (',' and '"'), and a control character (a newline) has no place
    in an engine's argv; such a path is refused before any engine sees it."""
    bad = sorted({c for c in path if c in ':,"' or not c.isprintable()})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise OublietteError(f"the workspace path {path[:200]!r} contains {shown}, which the engine cannot mount",
                             hint=hint)
    return path


def spec_for(app: App, project: Project, image: str) -> ContainerSpec:
    """The project's container: its workspace at /workspace, a host directory (bind) or
    its named volume on its engine, and what its type and its own settings add."""
    mounts: list[tuple[str, str]] = []
    volumes: list[tuple[str, str]] = []
    if project.volume:
        volumes.append((volume_name(project.id), WORKSPACE))
    else:
        workspace = mountable(app.projects.ensure_workspace(project),
                              "move the oubliette home to a path without them (--home or OUBLIETTE_HOME)")
        mounts.append((workspace, WORKSPACE))
    labels = {LABEL_PROJECT: project.id, LABEL_TYPE: project.type, LABEL_IMAGE: image, LABEL_HOME: app.home_id}
    spec = ContainerSpec(
        name=container_name(project.id),
        image=image,
        labels=labels,
        mounts=mounts,
        volumes=volumes,
        workdir=WORKSPACE,
        env={"OUBLIETTE_PROJECT_ID": project.id, "OUBLIETTE_HOME_ID": app.home_id},  # the session wrapper's check
        command=["sleep", "infinity"],
        init=True,
        hostname=hostname_of(project.name),
    )
    if has_settings(app.config, project):
        from oubliette.ops.settings import with_settings

        spec = with_settings(app, project, spec)
    return spec


def hostname_of(name: str) -> str | None:
    """The project's name as a hostname (what the prompt in a session shows)."""
    import re

    host = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return host or None


# --- results --------------------------------------------------------------------------


class StartResult(NamedTuple):
    project_id: str
    name: str
    image: str
    action: str  # "started" | "resumed" | "already_running"

    def to_dict(self) -> dict:
        return {**self._asdict(), "status": "running"}


class StopResult(NamedTuple):
    project_id: str
    name: str
    action: str  # "stopped" | "no_container"

    def to_dict(self) -> dict:
        return self._asdict()


# --- shared steps -----------------------------------------------------------------------


def project_containers(engine: Engine, project_id: str, reporter: Reporter,
                       strict: bool = True) -> tuple[ContainerInfo | None, ContainerInfo | None]:
    """This home's container of the project and any set-aside one, from one engine call.

    Call under the project's lock: a swap a killed command left unfinished is settled
    first. A name held by a container this home did not create is an error when
    `strict` (start, refresh), and is simply not ours otherwise (stop, delete).
    """
    settle_interrupted_swap(engine.app, project_id, reporter)
    infos = engine.runtime.list_containers(f"{LABEL_PROJECT}={project_id}", include_stopped=True)
    return owned_pair(engine, project_id, {info.name: info for info in infos}, strict)


def owned_pair(engine: Engine, project_id: str, by_name: dict[str, ContainerInfo],
               strict: bool = True) -> tuple[ContainerInfo | None, ContainerInfo | None]:
    """From a listing by name: this home's container of the project and its set-aside one."""
    found = []
    for name in (container_name(project_id), aside_name(project_id)):
        info = by_name.get(name)
        if info is not None and not engine.app.ownership.owns(info):
            if strict:
                raise name_taken(engine.runtime, info)
            info = None
        found.append(info)
    return found[0], found[1]


# --- start ------------------------------------------------------------------------------


def start_container(app: App, project_ref: str, reporter: Reporter) -> StartResult:
    """Make sure the project's container runs: recover, ensure the image, run it."""
    with locked_project(app, project_ref, reporter) as project:
        return start_locked(app, project, reporter)


def start_locked(app: App, project: Project, reporter: Reporter) -> StartResult:
    engine = app.for_project(project)
    runtime = engine.runtime
    image = app.types.get_image_name(project.type)
    if runtime.kind.run_first and not swap_unsettled(app, project.id):  # one engine call, not three
        spec = spec_for(app, project, image)
        if project.volume:
            runtime.create_volume(volume_name(project.id), {LABEL_PROJECT: project.id, LABEL_HOME: app.home_id})
        if run_verified(runtime, spec, first=True) is not None:
            return StartResult(project.id, spec.name, image, "started")
    main, aside = project_containers(engine, project.id, reporter)
    main = recover(engine, project.id, main, aside, reporter)
    if main is not None and is_legacy(main):
        reporter.note(f"Recreating {main.name} with this home's label (it was made by an older oubliette).")
        with swapping(app, project.id) as journal:
            stop_and_remove(runtime.journalled(journal.record), [main])
        main = None
    if main is not None and main.running:
        return StartResult(project.id, main.name, main.image, "already_running")
    if main is not None and main.status == PAUSED:
        reporter.info(f"Unpausing {main.name}...")
        runtime.unpause(main.name)
        return StartResult(project.id, main.name, main.image, "resumed")
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
            if runtime.inspect(main.name) is not None:
                runtime.remove([main.name], force=True)
    engine.images.ensure_image_exists(project.type, reporter)
    spec = spec_for(app, project, image)
    if project.volume:  # made on the first start, so creating a project needs no engine
        runtime.create_volume(volume_name(project.id), {LABEL_PROJECT: project.id, LABEL_HOME: app.home_id})
    run_verified(runtime, spec)
    return StartResult(project.id, spec.name, image, "started")


# --- list -------------------------------------------------------------------------------


def is_orphan(app: App, info: ContainerInfo) -> bool:
    """This home's container whose project is gone (`container stop ID` removes it)."""
    return not app.ownership.project_exists(info.project_id or "")


# --- stop -------------------------------------------------------------------------------


def stop_containers(app: App, project_refs: Sequence[str], reporter: Reporter,
                    force: bool = False) -> list[StopResult]:
    """Stop and remove the containers of these projects (or of orphans, by project id):
    every lock first, then one listing, one stop call and one remove call for all.
    Refused while a project has active sessions, unless `force`."""
    project_ids: list[str] = []
    orphan_refs: list[str] = []
    for ref in dict.fromkeys(project_refs):
        try:
            project_ids.append(app.projects.resolve(ref))
        except NotFoundError:
            orphan_refs.append(ref)  # perhaps a deleted project whose container is still here
    with ExitStack() as held:
        projects: dict[str, Project] = {}
        for project_id in sorted(set(project_ids)):
            projects[project_id] = held.enter_context(locked_project(app, project_id, reporter))
            if not force:
                refuse_active_sessions(app, project_id, f"stop the container of {project_id}",
                                       hint="end them first, or add --force (their commands are killed)")
            settle_interrupted_swap(app, project_id, reporter)
        listings = strictly_listed(app, sorted({app.engine_key(p) for p in projects.values()}))
        present: dict[str, list[ContainerInfo]] = {}
        for project_id in dict.fromkeys(project_ids):
            by_name = {info.name: info for info in listings[app.engine_key(projects[project_id])]}
            present[project_id] = [c for c in owned_pair(app.for_project(projects[project_id]), project_id, by_name,
                                                         strict=False) if c is not None]
        if orphan_refs:
            everywhere = listed_everywhere(app)
            for ref in orphan_refs:
                orphans = _orphans_matching(app, ref, everywhere)
                if not orphans:
                    app.projects.resolve(ref)  # raises the usual "no project matches" error
                present[orphans[0].project_id or ""] = orphans
        journals: list[Journal] = []
        for project_id in present:
            if app.ownership.project_exists(project_id):
                journals.append(held.enter_context(swapping(app, project_id)))
        stop_everywhere(app, [c for containers in present.values() for c in containers], journals)
    return [StopResult(project_id, container_name(project_id), "stopped" if containers else "no_container")
            for project_id, containers in present.items()]


def stop_everywhere(app: App, containers: list[ContainerInfo], journals: Sequence[Journal] = ()) -> None:
    """Stop and remove containers: one stop and one remove call per engine, each call
    journalled in every project's swap journal (one call stops them all)."""
    records = [journal.record for journal in journals]
    for engine in sorted({c.engine for c in containers}):
        stop_and_remove(app.engine(engine).runtime.journalled(*records),
                        [c for c in containers if c.engine == engine])


def _orphans_matching(app: App, ref: str, listed: list[ContainerInfo]) -> list[ContainerInfo]:
    """This home's containers of one project that no longer exists, by its id or a unique prefix."""
    prefix = id_prefix(ref, "proj", 12)
    if prefix is None:
        return []
    infos = [i for i in listed
             if app.ownership.owns(i) and (i.project_id or "").startswith(prefix) and is_orphan(app, i)]
    if len({i.project_id for i in infos}) > 1:
        raise NotFoundError(f"{ref!r} matches containers of several deleted projects", hint="give more of the id")
    return infos


def stop_all(app: App, reporter: Reporter, force: bool = False,
             left_out: list[OublietteError] | None = None) -> list[StopResult]:
    """Stop and remove every container of this home, through the same path as `stop ID...`
    (each project's lock, its interrupted swap settled, then one listing, one stop and one
    remove call per engine). Refused while any project has active sessions, unless `force`.
    Engines that cannot be reached are skipped with a warning, their errors added to `left_out`."""
    ours = [i for i in listed_everywhere(app, left_out=left_out) if app.ownership.owns(i)]
    project_ids = sorted({i.project_id for i in ours if i.project_id})
    return stop_containers(app, project_ids, reporter, force) if project_ids else []


def refuse_active_sessions(app: App, project_id: str, what: str, hint: str | None = None) -> None:
    active = app.sessions.active(project_id)
    if active:
        raise ConflictError(f"cannot {what}: {len(active)} active session(s) exist - end them first",
                            hint=(f"{hint}; " if hint else "") + ACTIVE_SESSIONS_HINT)


def container_logs(app: App, project_ref: str, follow: bool, lines: int | None, out: TextIO) -> int:
    """The setup log, then the engine's `logs` of the project's container; its exit code."""
    from oubliette.engines import process
    from oubliette.ops.settings import project_log
    from oubliette.store.files import read_home_file

    project = app.projects.get(project_ref)
    log = project_log(app.home, project.id)
    try:

        text = read_home_file(log, 8 * 2**20)
    except FileNotFoundError:
        text = ""
    except (OSError, ValueError) as exc:
        raise OublietteError(f"cannot read the project's log {log}: {exc}") from None
    if text:
        kept = text.splitlines(keepends=True)
        out.write("".join(kept[-lines:] if lines is not None else kept) if lines != 0 else "")
        out.flush()
    runtime = app.for_project(project).runtime
    if runtime.inspect(project.container_name) is None:
        raise NotFoundError(f"{project.id} ({project.name}) has no container",
                            hint=f"start it with `oubliette container start {project.name}`")
    try:
        from oubliette.engines.attached import interactive

        return interactive(runtime.logs_argv(project.container_name, follow, lines), env=runtime.env)
    except process.BinaryMissing:
        raise runtime.missing_binary() from None
