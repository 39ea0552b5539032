"""Projects as records and their create, update and delete: shared by the CLI and MCP.

Container work stays in containers.py; this module turns projects into the JSON both
front ends print, and makes, changes and forgets them (delete removes the container
and, with --purge, the workspace: a directory oubliette made, or a volume).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oubliette.app import App
from oubliette.engines.endpoints import VOLUME
from oubliette.engines.fleet import engines_in_use, list_on
from oubliette.errors import ConflictError, EngineUnavailableError, OublietteError
from oubliette.model import DEFAULT_ENGINE, volume_name
from oubliette.ops.containers import mountable, project_containers, refuse_active_sessions
from oubliette.ops.locking import locked_project
from oubliette.ops.swap import stop_and_remove, swapping
from oubliette.report import Reporter
from oubliette.store.files import user_path

if TYPE_CHECKING:
    from oubliette.model import ProjectStatusRecord
    from oubliette.store.projects import Project


def project_record(app: App, project: Project, with_sessions: bool = False,
                   status: str | None = None) -> ProjectStatusRecord:
    """A project as JSON (CLI --json and MCP): metadata, the image its type maps to now,
    its container's name, its engine and its workspace (a host directory, and whose it
    is, or a named volume on its engine); optionally its container's status and its
    active sessions."""
    record: ProjectStatusRecord = {
        "id": project.id, "name": project.name, "type": project.type, "created_at": project.created_at,
        "workspace": workspace_path(app, project), "engine": project.engine_name, "runtime": app.kind_of(project),
        "volume": volume_name(project.id) if project.volume else None,
        "image": app.config.containers.get(project.type), "container": project.container_name,
        "workspace_kind": "volume" if project.volume else "user" if project.workspace else "oubliette",
        "ports": [], "env": {}}
    record["ports"], record["env"] = configured(app, project)
    if status is not None:
        record["status"] = status
    if with_sessions:
        record["active_sessions"] = [s.id for s in app.sessions.active(project.id)]
    return record


def configured(app: App, project: Project) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The ports the project's container publishes (its type's and its own, with the host
    URL of each) and the variables it gets beyond oubliette's own."""
    from oubliette.store.config import has_settings, type_spec

    if not has_settings(app.config, project):
        return [], {}
    from oubliette.store.types import parse_ports

    kind = type_spec(app.config, project.type) if project.type in app.config.containers else None
    own = parse_ports("ports", list(project.ports or ()), lambda key, problem: OublietteError(f"{key}: {problem}"))
    ports = [{"host": f"{p.ip}:{p.host}", "container": f"{p.container}/{p.proto}", "url": p.url}
             for p in (*(kind.ports if kind else ()), *own)]
    return ports, {**(kind.env if kind else {}), **(project.env or {})}


def workspace_path(app: App, project: Project) -> str | None:
    """The host directory mounted at /workspace; None for a volume workspace."""
    return None if project.volume else app.projects.workspace_of(project)


def describe_workspace(app: App, project: Project) -> str:
    """Where /workspace lives, in words."""
    if project.volume:
        return f"volume {volume_name(project.id)} on engine {project.engine_name}"
    return app.projects.workspace_of(project)


def project_statuses(app: App, projects: Sequence[Project]) -> dict[str, str]:
    """Each project's container status (`running`, `stopped`, `paused`), from one call per
    engine; projects without a container are absent, those on an engine that cannot be
    reached are `unknown` (with a warning). Raises when no engine answered."""
    results = list_on(app, engines_in_use(app), include_stopped=True)
    if all(isinstance(r, OublietteError) for r in results.values()):
        raise next(iter(results.values()))  # type: ignore[misc]
    statuses: dict[str, str] = {}
    for engine, result in results.items():
        if isinstance(result, OublietteError):
            app.reporter.warn(f"{result.message}; status unknown for its projects")
            statuses.update((p.id, "unknown") for p in projects if app.engine_key(p) == engine)
        else:
            statuses.update((i.project_id or "", i.status) for i in app.ownership.containers(result))
    return statuses


def type_options(app: App) -> dict:
    """The configured container types with their images, and the default type."""
    images = app.types
    return {"container_types": {
        "available": [{"name": t, "image": images.get_image_name(t)} for t in images.valid_types()],
        "default": app.config.default_type}}


def create_project(app: App, name: str, type_name: str | None, workspace: str | None = None,
                   engine: str | None = None, env: dict[str, str] | None = None,
                   ports: tuple[str, ...] = (), force: bool = False) -> Project:
    """Create a project of a configured type (default: the config's default type);
    `workspace`: an existing directory of the user's to mount instead of a new one;
    `engine`: a named engine to pin it to, whose workspace kind (bind or volume) it keeps.
    No engine is contacted (a context's endpoint is read by its CLI), except to detect the
    default engine in a home that has not recorded one yet."""
    type_name = type_name or app.config.default_type
    app.types.get_image_name(type_name)  # raises, listing the valid types
    volume = False
    if engine is not None and engine != DEFAULT_ENGINE:
        entry = app.config.engines.get(engine)
        if entry is None:
            named = ", ".join(sorted(app.config.engines)) or "none"
            raise OublietteError(f"no engine named {engine!r} in the config (named engines: {named})",
                                 hint=f'add it under "engines" in {app.config.path} (see docs/ENGINES.md)')
        volume = entry.workspace_kind(lambda context: app.engine(engine).runtime.context_endpoint(context)) == VOLUME
    else:
        engine = None
    directory = None
    if workspace is not None:
        if volume:
            raise OublietteError(f"the engine {engine!r} keeps workspaces in volumes, so --workspace cannot "
                                 "mount a directory there",
                                 hint=f'leave out --workspace and copy files in with `oubliette workspace push`, or '
                                      f'set "workspace": "bind" in engines.{engine} if that engine sees this directory')
        directory = os.path.realpath(user_path(workspace, "--workspace"))
        if not os.path.isdir(directory):
            raise OublietteError(f"the workspace {workspace} is not an existing directory",
                                 hint="create it first, or leave out --workspace for a new one")
        sharing = app.projects.using(directory)
        if sharing and not force:
            raise ConflictError(f"{directory} is already the workspace of {sharing[0].id} ({sharing[0].name})",
                                hint="use that project, or add --force to give this directory to two projects")
        mountable(str(directory), "use a directory whose path has none of these")
    runtime = None
    if engine is None:  # made on the default engine: it keeps that kind when the default changes
        try:
            runtime = app.default_kind
            app.note_kind(runtime)
        except EngineUnavailableError:
            runtime = None  # no engine yet: it takes the one the home records first
    return app.projects.create(name, type_name, directory, engine, volume, runtime, env, ports)


def update_project(app: App, project_ref: str, name: str | None, type_name: str | None,
                   reporter: Reporter, env: dict[str, str] | None = None,
                   ports: tuple[str, ...] | None = None) -> Project:
    """Rename a project or change its type, variables or ports; these take effect at the
    next start or refresh."""
    if type_name is not None:
        app.types.get_image_name(type_name)  # raises, listing the valid types
    with locked_project(app, project_ref, reporter) as project:
        return app.projects.update(project, name=name, type_name=type_name, env=env, ports=ports)


def deletion_record(app: App, project: Project, purge: bool) -> dict:
    """What `project delete --json` and the MCP tool report: `workspace` is where the files
    still are, or None when --purge deleted them (never a directory given with --workspace);
    `volume` the volume workspace still on its engine, or None."""
    purged = purge and not project.workspace
    return {"id": project.id, "deleted": True,
            "workspace": None if purged else workspace_path(app, project),
            "volume": volume_name(project.id) if project.volume and not purge else None}


def delete_project(app: App, project_ref: str, purge: bool, reporter: Reporter) -> Project:
    """Refuse while sessions are active; remove the container; forget the project."""
    with locked_project(app, project_ref, reporter) as project:
        refuse_active_sessions(app, project.id, "delete project")
        engine = app.for_project(project)
        main, aside = project_containers(engine, project.id, reporter, strict=False)
        present = [c for c in (main, aside) if c is not None]
        with swapping(app, project.id) as journal:
            if present:
                stop_and_remove(engine.runtime.journalled(journal.record), present)
        if purge and project.volume:
            engine.runtime.remove_volume(volume_name(project.id))
        app.projects.delete(project.id, purge)
    return project
