"""What oubliette calls the containers it creates, and which of them belong to this home.

A leaf module: `container list` imports it and little else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from oubliette.engines.base import ContainerInfo

PROJECT_ID_RE = re.compile(r"proj_[0-9a-f]{12}")
LABEL_HOME = "oubliette.home"
DEFAULT_ENGINE = "default"  # the engine of projects not pinned to a named one (engines.py)


def container_name(project_id: str) -> str:
    """The one container a project has: `oubliette-<id>`, the full id so names never collide."""
    return f"oubliette-{project_id}"


def aside_name(project_id: str) -> str:
    """Where a Docker refresh parks the old container while the new one starts."""
    return f"{container_name(project_id)}-previous"


class Ownership(NamedTuple):
    """Which labelled containers are this home's.

    A container is this home's when it is named for its project (or set aside by a
    refresh) and carries this home's id. One made before homes had ids (no
    `oubliette.home` label) counts only when its project exists in this home and it
    mounts that project's workspace; the next start or refresh relabels it.
    """

    home_id: str | None
    projects_root: str

    def project_exists(self, project_id: str) -> bool:
        return (PROJECT_ID_RE.fullmatch(project_id) is not None
                and os.path.isfile(os.path.join(self.projects_root, project_id, "metadata.json")))

    def workspace(self, project_id: str) -> str:
        return os.path.join(self.projects_root, project_id, "workspace")

    def owns(self, info: ContainerInfo) -> bool:
        project_id = info.project_id
        if not project_id or info.name not in (container_name(project_id), aside_name(project_id)):
            return False
        label = info.labels.get(LABEL_HOME)
        if label is not None:
            return self.home_id is not None and label == self.home_id
        return self.project_exists(project_id) and self.workspace(project_id) in info.mounts

    def containers(self, infos: Iterable[ContainerInfo]) -> list[ContainerInfo]:
        """This home's project containers (set-aside ones left out), by project id."""
        ours = [i for i in infos if self.owns(i) and i.name == container_name(i.project_id or "")]
        return sorted(ours, key=lambda i: i.project_id or "")


def is_legacy(info: ContainerInfo) -> bool:
    """Made before homes had ids: it lacks the home label."""
    return LABEL_HOME not in info.labels
