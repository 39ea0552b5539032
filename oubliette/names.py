"""What oubliette calls the containers it creates, and which of them count.

A leaf module: `container list` imports it and little else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oubliette.runtime.base import ContainerInfo


def container_name(project_id: str) -> str:
    """The one container a project has: `oubliette-<id>`, the full id so names never collide."""
    return f"oubliette-{project_id}"


def aside_name(project_id: str) -> str:
    """Where a Docker refresh parks the old container while the new one starts."""
    return f"{container_name(project_id)}-previous"


def project_containers_only(infos: Iterable[ContainerInfo]) -> list[ContainerInfo]:
    """Of label-selected containers, those named for their project, by project id.

    A container set aside by an interrupted refresh keeps its labels; it must not be
    counted (listed, refreshed) as the project's container.
    """
    ours = [i for i in infos if i.project_id and i.name == container_name(i.project_id)]
    return sorted(ours, key=lambda i: i.project_id or "")
