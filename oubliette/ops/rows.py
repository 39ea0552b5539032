"""The rows of `container list --json` and the MCP `container` tool: a container's record
with its project's name and published ports. Light on purpose (`container list` runs
often): the type machinery is imported only for projects that publish ports, and each
listed project is read by its exact id (no name or prefix look-up)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from oubliette.app import App
from oubliette.errors import OublietteError
from oubliette.model import ContainerInfo
from oubliette.store.config import has_settings

if TYPE_CHECKING:
    from oubliette.store.projects import Project


def container_rows(app: App, infos: Iterable[ContainerInfo]) -> tuple[dict[str, Any], ...]:
    """Each container as JSON, in order; see the module docstring."""
    projects: dict[str, Project | None] = {}
    for info in infos:
        if info.project_id and not info.orphan and info.project_id not in projects:
            try:
                projects[info.project_id] = app.projects.by_id(info.project_id)
            except OublietteError:  # damaged: listed without its name
                projects[info.project_id] = None
    rows = []
    for info in infos:
        project = projects.get(info.project_id or "")  # None: gone or damaged
        ports: list[dict[str, str]] = []
        if project is not None and info.running and has_settings(app.config, project):
            from oubliette.ops.projects import configured

            ports = configured(app, project)[0]
        rows.append({**info.to_record(), "project_name": project.name if project else None, "ports": ports})
    return tuple(rows)
