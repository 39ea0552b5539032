"""The rows of `container list --json` and the MCP `container` tool: a container's record
with its project's name and published ports. Light on purpose (`container list` runs
often): names come through the listing cache (store/shown.py), and a project's whole
record and the type machinery are read only for running projects that publish ports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oubliette.app import App
from oubliette.errors import OublietteError
from oubliette.model import ContainerInfo
from oubliette.store.config import has_settings


def container_rows(app: App, infos: Iterable[ContainerInfo]) -> tuple[dict[str, Any], ...]:
    """Each container as JSON, in order; see the module docstring."""
    infos = list(infos)
    if not infos:
        return ()  # the project store is not even imported
    from oubliette.store.shown import shown

    projects = shown(app.ownership.projects_root,
                     (info.project_id for info in infos if info.project_id and not info.orphan),
                     lambda project_id: app.projects.by_id(project_id))  # the store is made on a miss only
    rows = []
    for info in infos:
        project = projects.get(info.project_id or "")  # None: gone or damaged
        ports: list[dict[str, str]] = []
        if project is not None and info.running and has_settings(app.config, project):
            ports = _ports(app, info.project_id or "")
        rows.append({**info.to_record(), "project_name": project.name if project else None, "ports": ports})
    return tuple(rows)


def _ports(app: App, project_id: str) -> list[dict[str, str]]:
    """A running container's published ports, from its project's whole record and its type."""
    from oubliette.ops.projects import configured

    try:
        project = app.projects.by_id(project_id)
    except OublietteError:
        return []
    return configured(app, project)[0] if project is not None else []
