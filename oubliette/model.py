"""The model every layer shares: labels, container, volume and aside names and their
inverses, states, the record engines report (`ContainerInfo`; what a start asks for is spec.py's), the
JSON shapes of records, and which labelled containers belong to this home.

A leaf module: `container list` imports it and little else. Engine kinds map these names
to what they accept (`engine_name`); on Docker, Podman and Apple they are used as they are.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the JSON shapes, for the type checker only: three TypedDicts cost ~0.2 ms of
    # every command's start (`container list` among them), and nothing reads them at run time
    from typing import TypedDict

    class ContainerRecord(TypedDict):
        """A container as `container list --json` and the MCP `container` tool give it."""

        project_id: str | None
        name: str
        image: str
        type: str | None
        status: str
        orphan: bool
        engine: str

    class ProjectRecord(TypedDict):
        """A project as `project list/show/create --json` and the MCP `project` tool give it."""

        id: str
        name: str
        type: str
        created_at: str
        workspace: str | None  # the host directory at /workspace; None for a volume
        engine: str
        runtime: str | None  # the kind of engine it runs on (docker, podman, apple); None: not decided yet
        volume: str | None  # the named volume on its engine, for a volume workspace
        image: str | None  # what its type maps to now (None: a type no longer configured)
        container: str
        workspace_kind: str  # "oubliette" (ours), "user" (--workspace) or "volume"
        ports: list[dict[str, str]]  # published: {"host", "container", "url"}, from its type and its own --port
        env: dict[str, str]  # variables from its type and its own --env

    class ProjectStatusRecord(ProjectRecord, total=False):
        status: str  # `project list`: its container's state, or "unknown" when its engine did not answer
        active_sessions: list[str]  # `project show`


PROJECT_ID_RE = re.compile(r"proj_[0-9a-f]{12}")
METADATA = "metadata.json"  # a project's record, in its directory of the home's projects directory
DEFAULT_ENGINE = "default"  # the engine of projects not pinned to a named one (engines/endpoints.py)
NAME_PREFIX = "oubliette-"
WORKSPACE = "/workspace"  # where a project's files are, in its container
LABEL_PROJECT = "oubliette.project"
LABEL_TYPE = "oubliette.type"
LABEL_IMAGE = "oubliette.image"
LABEL_HOME = "oubliette.home"
LABEL_CONFIG = "oubliette.config"  # the fingerprint of the type's definition and the project's settings
LABELS = (LABEL_PROJECT, LABEL_TYPE, LABEL_IMAGE, LABEL_HOME)  # every label oubliette sets and reads

RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"
_NO_ENTRIES: Mapping[str, str] = MappingProxyType({})

# Records are NamedTuples, not dataclasses: they sit on the path of `container list`,
# where a frozen dataclass costs ~0.8 ms to define and a NamedTuple ~0.1 ms.


class ContainerInfo(NamedTuple):
    """One container as oubliette sees it, the same shape for every engine.

    `image` is the configured reference (the `oubliette.image` label) when there is
    one: the engine's own image field turns into a bare id once the tag moves.
    """

    id: str
    name: str
    status: str
    image: str
    labels: Mapping[str, str] = _NO_ENTRIES
    image_id: str | None = None
    mounts: tuple[str, ...] = ()  # host sources of its mounts, to recognise a pre-home-id container
    engine: str = DEFAULT_ENGINE  # the engine it is on (a named engine, or the default one)
    orphan: bool = False  # this home's, but its project is gone (`container stop ID` removes it)

    @property
    def project_id(self) -> str | None:
        return self.labels.get(LABEL_PROJECT)

    @property
    def type(self) -> str | None:
        return self.labels.get(LABEL_TYPE)

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def to_record(self) -> "ContainerRecord":
        """The JSON shape of `container list --json` and the MCP `container` tool."""
        return {"project_id": self.project_id, "name": self.name, "image": self.image, "type": self.type,
                "status": self.status, "orphan": self.orphan, "engine": self.engine}


def id_prefix(ref: str, kind: str, digits: int) -> str | None:
    """The id prefix a user typed, in full form: `ab12` or `proj_ab12` -> `proj_ab12` (kind
    "proj"); None when `ref` cannot begin such an id. Projects, sessions and orphaned
    containers are all found by a unique prefix, read this one way."""
    given = ref.strip()
    if re.fullmatch(rf"(?:{kind}_)?[0-9a-f]{{1,{digits}}}|{kind}_", given) is None:
        return None
    return given if given.startswith(f"{kind}_") else f"{kind}_{given}"


def container_name(project_id: str) -> str:
    """The one container a project has: `oubliette-<id>`, the full id so names never collide."""
    return f"{NAME_PREFIX}{project_id}"


def project_of(name: str) -> str | None:
    """The project id a container or volume name was made for (the inverse of the names here)."""
    found = re.fullmatch(rf"{NAME_PREFIX}(proj_[0-9a-f]{{12}})(?:-previous|-workspace)?", name)
    return found[1] if found else None


def volume_name(project_id: str) -> str:
    """The named volume that holds a volume workspace, on the project's engine."""
    return f"{container_name(project_id)}-workspace"


def engine_name(name: str, style: str) -> str:
    """A model name (container, volume, label value) as an engine of `style` accepts it:
    "docker" takes it as it is; "dns" (Kubernetes) takes lower-case letters, digits and
    '-', at most 63 characters, starting and ending with a letter or digit."""
    if style == "docker":
        return name
    mapped = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    return mapped or "x"


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
                and os.path.isfile(f"{self.projects_root}/{project_id}/{METADATA}"))  # an id: no separator

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
