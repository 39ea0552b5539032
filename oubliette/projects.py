"""The project store: `<home>/data/projects/<id>/metadata.json` with `workspace/` beside it.

A project records its container *type*, not an image: the image is looked up in the
config whenever it is needed, so editing the config and refreshing moves a project
to the new image.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from oubliette.errors import InvalidReferenceError, NotFoundError, OublietteError
from oubliette.files import FileLock, write_atomic
from oubliette.home import projects_dir
from oubliette.names import container_name

PROJECT_ID_RE = re.compile(r"proj_[0-9a-f]{12}")
_ID_INPUT_RE = re.compile(r"(?:proj_)?[0-9a-f]{1,12}|proj_")
METADATA = "metadata.json"
LIST_HINT = "list projects with `oubliette project list`"


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    type: str
    created_at: str

    @property
    def container_name(self) -> str:
        return container_name(self.id)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def new_project_id() -> str:
    return "proj_" + secrets.token_hex(6)


class ProjectStore:
    def __init__(self, home: Path) -> None:
        self.root = projects_dir(home)

    def project_dir(self, project_id: str) -> Path:
        return self.root / project_id

    def workspace(self, project_id: str) -> Path:
        return self.project_dir(project_id) / "workspace"

    def lock(self, project_id: str, on_wait=None) -> FileLock:
        """The lock every change to a project's container takes (CLI and MCP alike)."""
        return FileLock(self.project_dir(project_id) / ".lock", on_wait)

    def create(self, name: str, type_name: str) -> Project:
        name = name.strip()
        if not name or any(ord(ch) < 32 for ch in name) or len(name) > 200:
            raise InvalidReferenceError(f"invalid project name {name!r}: use 1 to 200 printable characters")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            while True:
                project_id = new_project_id()
                try:
                    self.project_dir(project_id).mkdir()
                    break
                except FileExistsError:
                    continue
            self.workspace(project_id).mkdir()
            project = Project(project_id, name, type_name,
                              datetime.now(timezone.utc).isoformat())  # microseconds: list order is creation order
            write_atomic(self.project_dir(project_id) / METADATA, json.dumps(project.to_dict(), indent=2) + "\n")
        except OSError as exc:
            raise OublietteError(f"cannot create project: {exc}",
                                 hint="check that the oubliette home is writable (see `oubliette init`)") from None
        return project

    def list(self) -> list[Project]:
        if not self.root.is_dir():
            return []
        projects = [self._load(path.name) for path in self.root.iterdir()
                    if PROJECT_ID_RE.fullmatch(path.name) and (path / METADATA).is_file()]
        return sorted(projects, key=lambda p: (p.created_at, p.id))

    def get(self, id_or_prefix: str) -> Project:
        """A project by full id or unique prefix (`proj_ab12`, or just `ab12`)."""
        return self._load(self.resolve(id_or_prefix))

    def resolve(self, id_or_prefix: str) -> str:
        given = id_or_prefix.strip()
        if not _ID_INPUT_RE.fullmatch(given):
            raise InvalidReferenceError(
                f"invalid project id {id_or_prefix!r}: expected proj_ and up to 12 hex digits "
                "(a unique prefix is enough)", hint=LIST_HINT)
        prefix = given if given.startswith("proj_") else f"proj_{given}"
        if PROJECT_ID_RE.fullmatch(prefix) and (self.project_dir(prefix) / METADATA).is_file():
            return prefix
        matches = sorted(p.id for p in self.list() if p.id.startswith(prefix))
        if not matches:
            raise NotFoundError(f"no project matches {id_or_prefix!r}", hint=LIST_HINT)
        if len(matches) > 1:
            raise NotFoundError(f"{id_or_prefix!r} matches {len(matches)} projects: {', '.join(matches)}",
                                hint="give more of the id")
        return matches[0]

    def delete(self, project_id: str, purge: bool = False) -> None:
        """Forget a project; its workspace stays unless `purge`."""
        directory = self.project_dir(project_id)
        try:
            if purge:
                shutil.rmtree(directory)
                return
            (directory / METADATA).unlink()
            shutil.rmtree(directory / "sessions", ignore_errors=True)
        except OSError as exc:
            raise OublietteError(f"cannot delete project {project_id}: {exc}") from None

    def _load(self, project_id: str) -> Project:
        path = self.project_dir(project_id) / METADATA
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Project(data["id"], data["name"], data["type"], data["created_at"])
        except FileNotFoundError:
            raise NotFoundError(f"no project {project_id}", hint=LIST_HINT) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OublietteError(f"project metadata {path} is unreadable: {exc}",
                                 hint="restore the file, or delete the project directory") from None
