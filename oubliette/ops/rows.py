"""The rows of `container list --json` and the MCP `container` tool: a container's record
with its project's name and published ports. Light on purpose (`container list` runs
often): the type machinery is imported only for projects that publish ports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oubliette.app import App
from oubliette.errors import OublietteError
from oubliette.model import ContainerInfo
from oubliette.store.config import has_settings


def container_rows(app: App, infos: Iterable[ContainerInfo]) -> tuple[dict[str, Any], ...]:
    """Each container as JSON, in order; see the module docstring."""
    projects = {}
    for info in infos:
        if info.project_id and not info.orphan and info.project_id not in projects:
            try:
                projects[info.project_id] = app.projects.get(info.project_id)
            except OublietteError:
                pass
    rows = []
    for info in infos:
        project = projects.get(info.project_id or "")
        ports: list[dict[str, str]] = []
        if project is not None and info.running and has_settings(app.config, project):
            from oubliette.ops.projects import configured

            ports = configured(app, project)[0]
        rows.append({**info.to_record(), "project_name": project.name if project else None, "ports": ports})
    return tuple(rows)
