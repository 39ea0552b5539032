"""The project store: `<home>/data/projects/<id>/metadata.json` with `workspace/` beside it.

A project records its container *type*, not an image: the image is looked up in the
config whenever it is needed, so editing the config and refreshing moves a project
to the new image. A project's id is its directory's name; a damaged metadata file
affects that project alone (listings skip it with a warning, lookups of the others
work), and no path is ever built from a file's contents.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import builtins
import contextlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from oubliette.engines.kinds import ENGINES
from oubliette.errors import InvalidReferenceError, NotFoundError, OublietteError
from oubliette.model import DEFAULT_ENGINE, METADATA, PROJECT_ID_RE, container_name, id_prefix
from oubliette.store.files import FileLock, os_error, private_dir, read_home_file, write_atomic
from oubliette.store.home import projects_dir
from oubliette.validate import is_valid_type_name, project_name_problem

LOCK = ".lock"
WORKSPACE = "workspace"
METADATA_MAX_BYTES = 256 * 1024  # a record is a few hundred bytes
NAMES_LOCK = ".names.lock"  # held while a name is checked and written: names are unique
LIST_HINT = "list projects with `oubliette project list`"


class Project(NamedTuple):
    """A NamedTuple, not a dataclass: every command that touches a project defines it."""

    id: str
    name: str
    type: str
    created_at: str
    workspace: str | None = None  # the user's own directory (--workspace); None: oubliette's own
    engine: str | None = None  # a named engine of the config (--engine); None: the default engine
    volume: bool = False  # the workspace is a named volume on the engine, not a host directory
    runtime: str | None = None  # the kind of the default engine it was made on; None: the home's recorded one
    env: Mapping[str, str] | None = None  # its own variables, over its type's (--env)
    ports: tuple[str, ...] | None = None  # its own published ports, beside its type's (--port)

    @property
    def container_name(self) -> str:
        return container_name(self.id)

    @property
    def engine_name(self) -> str:
        return self.engine or DEFAULT_ENGINE

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["env"] = dict(self.env) if self.env else None
        data["ports"] = list(self.ports) if self.ports else None
        return data


def new_project_id() -> str:
    import secrets  # only `create` needs it; hashlib behind it costs every other command

    return "proj_" + secrets.token_hex(6)


class DamagedProjectError(OublietteError):
    """A project's metadata cannot be read or has fields of the wrong kind."""


class ProjectStore:
    def __init__(self, home: str | os.PathLike[str], warn: Callable[[str], None] | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self.root = projects_dir(home)
        self.warn = warn or (lambda _message: None)
        self.note = note or (lambda _message: None)

    def project_dir(self, project_id: str) -> str:
        return os.path.join(self.root, project_id)

    def workspace(self, project_id: str) -> str:
        return os.path.join(self.root, project_id, WORKSPACE)

    def exists(self, project_id: str) -> bool:
        return (PROJECT_ID_RE.fullmatch(project_id) is not None
                and os.path.isfile(os.path.join(self.root, project_id, METADATA)))

    def lock(self, project_id: str, on_wait: Callable[[str], None] | None = None,
             timeout: float | None = None) -> FileLock:
        """The lock every change to a project's container takes (CLI and MCP alike)."""
        return FileLock(os.path.join(self.root, project_id, LOCK), on_wait, timeout)

    def create(self, name: str, type_name: str, workspace: str | os.PathLike[str] | None = None,
               engine: str | None = None, volume: bool = False, runtime: str | None = None,
               env: Mapping[str, str] | None = None, ports: tuple[str, ...] | None = None) -> Project:
        """A new project; `workspace` is a directory of the user's to mount instead of a new one;
        `engine` a named engine, whose named volume is the workspace when `volume`; `runtime`
        the kind of default engine it is made on (it keeps it when the home's default changes)."""
        name = self.check_name(name)
        try:
            private_dir(self.root)
            with FileLock(os.path.join(self.root, NAMES_LOCK)):  # two creates of one name: the second is refused
                self._refuse_taken(name)
                while True:
                    project_id = new_project_id()
                    try:
                        os.mkdir(self.project_dir(project_id), 0o700)
                        break
                    except FileExistsError:
                        continue
                if workspace is None and not volume:
                    os.mkdir(self.workspace(project_id), 0o700)
                from datetime import datetime, timezone

                project = Project(project_id, name, type_name,
                                  datetime.now(timezone.utc).isoformat(),  # microseconds: list order is creation order
                                  os.fspath(workspace) if workspace is not None else None, engine, volume,
                                  None if engine else runtime, dict(env) if env else None, ports or None)
                self._write(project)
        except OSError as exc:
            raise os_error("cannot create the project", exc) from None
        return project

    def update(self, project: Project, name: str | None = None, type_name: str | None = None,
               env: Mapping[str, str] | None = None, ports: tuple[str, ...] | None = None) -> Project:
        """A new name, type, variables or ports (call under the project's lock); `env` is
        merged (an empty value removes a variable), `ports` replaces the list."""
        changed = project
        if env is not None:
            merged = {**(project.env or {}), **env}
            changed = changed._replace(env={k: v for k, v in merged.items() if v} or None)
        if ports is not None:
            changed = changed._replace(ports=ports or None)
        if name is not None:
            name = self.check_name(name)
            if name != project.name:
                changed = changed._replace(name=name)
        if type_name is not None:
            changed = changed._replace(type=type_name)
        try:
            with FileLock(os.path.join(self.root, NAMES_LOCK)):
                if changed.name != project.name:
                    self._refuse_taken(changed.name)
                self._write(changed)
        except OSError as exc:
            raise os_error("cannot update the project", exc) from None
        return changed

    @staticmethod
    def check_name(name: str) -> str:
        name = name.strip()
        problem = project_name_problem(name)
        if problem is None and name.startswith("proj_"):
            problem = "names may not start with proj_ (that is how ids start)"
        if problem:
            raise InvalidReferenceError(f"invalid project name {name!r}: {problem}",
                                        hint="give a short printable name, such as `web` or `my api`")
        return name

    def _refuse_taken(self, name: str) -> None:
        for other in self.list():
            if other.name == name:
                raise InvalidReferenceError(f"a project named {name!r} exists already ({other.id})",
                                            hint="choose another name, or rename that one with "
                                                 f"`oubliette project update {other.id} --name NEW`")

    def _write(self, project: Project) -> None:
        write_atomic(os.path.join(self.root, project.id, METADATA), json.dumps(project.to_dict(), indent=2) + "\n")

    def workspace_of(self, project: Project) -> str:
        """Where the project's /workspace lives on the host: the user's directory, or ours."""
        return project.workspace or self.workspace(project.id)

    def ensure_workspace(self, project: Project) -> str:
        """The workspace to mount: ours is created if missing (never its parents), the user's
        must exist; neither may be a symlink."""
        workspace = self.workspace_of(project)
        if project.workspace is not None:
            if not os.path.isdir(workspace) or os.path.islink(workspace):
                raise OublietteError(f"the workspace {workspace} of {project.id} is not a directory (any more)",
                                     hint="restore that directory (oubliette mounts it at /workspace), or move "
                                          "the project's work elsewhere")
            return workspace
        if os.path.islink(workspace):
            raise OublietteError(f"the workspace {workspace} is a symbolic link; refusing to mount it",
                                 hint=f"replace the link with a real directory (`rm {workspace}` removes only "
                                      "the link), or move the files it points to there")
        try:
            os.mkdir(workspace, 0o700)
        except FileExistsError:
            if not os.path.isdir(workspace):
                raise OublietteError(f"the workspace {workspace} is not a directory",
                                     hint="move that file aside; oubliette mounts a directory there") from None
        except OSError as exc:
            raise os_error("cannot create the workspace", exc) from None
        return workspace

    def ids(self) -> list[str]:
        """Every project id in the home, from directory names alone (no file is read)."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error("cannot read the project store", exc) from None
        return sorted(name for name in entries
                      if PROJECT_ID_RE.fullmatch(name) and os.path.isfile(os.path.join(self.root, name, METADATA)))

    def list(self) -> list[Project]:
        """Every readable project, oldest first; a damaged one is skipped with a warning."""
        projects = []
        for project_id in self.ids():
            try:
                projects.append(self._load(project_id))
            except DamagedProjectError as error:
                self.warn(f"{error.message} (skipped; {error.hint})")
            except NotFoundError:
                pass  # deleted while we listed
        return sorted(projects, key=lambda p: (p.created_at, p.id))

    def get(self, ref: str) -> Project:
        """A project by id, name or unique id prefix (`proj_ab12`, or just `ab12`)."""
        return self._load(self.resolve(ref))

    def by_id(self, project_id: str) -> Project | None:
        """The project of an exact id (a container's label, say), or None: no name or prefix
        look-up, for listings that read one project per container."""
        if PROJECT_ID_RE.fullmatch(project_id) is None:
            return None
        try:
            return self._load(project_id)
        except NotFoundError:
            return None

    def here(self, directory: str | os.PathLike[str]) -> Project:
        """The project whose workspace is `directory` or holds it (the innermost), said on stderr."""
        from pathlib import Path  # only here: every command's start-up is ~2 ms shorter without pathlib

        directory = Path(directory).resolve()
        best: tuple[int, Project] | None = None
        for project in self.list():
            workspace = Path(self.workspace_of(project)).resolve()
            if (directory == workspace or workspace in directory.parents) and \
                    (best is None or len(workspace.parts) > best[0]):
                best = (len(workspace.parts), project)
        if best is None:
            raise NotFoundError(f"no project's workspace is {directory} or holds it (no project id was given)",
                                hint="give a project id or name, or cd into a project's workspace; " + LIST_HINT)
        self.note(f"Using {best[1].id} ({best[1].name}): its workspace holds the current directory.")
        return best[1]

    def using(self, directory: str | os.PathLike[str]) -> builtins.list[Project]:
        """The projects whose --workspace is `directory`."""
        directory = os.path.realpath(directory)
        return [p for p in self.list() if p.workspace and os.path.realpath(p.workspace) == directory]

    def resolve(self, ref: str) -> str:
        """A project's id from an exact id, else an exact name, else a unique id prefix
        (`.`: the project of the current directory; commands pass it for a left-out ID)."""
        given = ref.strip()
        if given == ".":
            return self.here(os.getcwd()).id
        if PROJECT_ID_RE.fullmatch(given) and self.exists(given):
            return given
        named = [p.id for p in self.list() if p.name == given]
        if named:
            return named[0]
        prefix = id_prefix(given, "proj", 12)
        if prefix is None:
            raise NotFoundError(f"no project matches {ref!r} (neither a name nor an id)", hint=LIST_HINT)
        matches = [project_id for project_id in self.ids() if project_id.startswith(prefix)]
        if not matches:
            raise NotFoundError(f"no project matches {ref!r}", hint=LIST_HINT)
        if len(matches) > 1:
            raise NotFoundError(f"{ref!r} matches {len(matches)} projects: {', '.join(matches)}",
                                hint="give more of the id")
        return matches[0]

    def delete(self, project_id: str, purge: bool = False) -> None:
        """Forget a project; its workspace stays unless `purge`. The lock file goes last,
        so a command waiting for it finds the project gone and re-creates nothing."""
        import shutil

        directory = self.project_dir(project_id)
        try:
            os.unlink(os.path.join(directory, METADATA))
            shutil.rmtree(os.path.join(directory, "sessions"), ignore_errors=True)
            if purge:
                for entry in os.listdir(directory):
                    if entry != LOCK:
                        path = os.path.join(directory, entry)
                        if os.path.isdir(path) and not os.path.islink(path):
                            shutil.rmtree(path)
                        else:
                            os.unlink(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, LOCK))
            if purge:
                shutil.rmtree(directory, ignore_errors=True)  # a lock file a waiter opened since
            else:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # nothing kept (a --workspace project): no empty directory left
        except OSError as exc:
            raise os_error(f"cannot delete project {project_id}", exc) from None

    def kept_workspaces(self) -> builtins.list[tuple[str, str]]:
        """Workspaces `delete` kept, by the deleted project's id (oldest first)."""
        kept = []
        for entry in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else ():
            workspace = os.path.join(self.root, entry, WORKSPACE)
            if PROJECT_ID_RE.fullmatch(entry) and not os.path.exists(os.path.join(self.root, entry, METADATA)) \
                    and os.path.isdir(workspace) and not os.path.islink(workspace):
                kept.append((entry, workspace))
        return sorted(kept, key=lambda item: os.stat(item[1]).st_mtime)

    def purge_kept(self, project_id: str) -> str:
        """Delete the workspace `delete` kept for `project_id` (an exact id); its path."""
        import shutil

        for kept_id, workspace in self.kept_workspaces():
            if kept_id == project_id.strip():
                try:
                    shutil.rmtree(os.path.dirname(workspace))
                except OSError as exc:
                    raise os_error(f"cannot delete the kept workspace of {kept_id}", exc) from None
                return workspace
        raise NotFoundError(f"no project matches {project_id!r}, and no workspace of a deleted project has that id",
                            hint=LIST_HINT)

    def _load(self, project_id: str) -> Project:
        path = os.path.join(self.root, project_id, METADATA)
        try:
            data = json.loads(read_home_file(path, METADATA_MAX_BYTES))
        except FileNotFoundError:
            raise NotFoundError(f"no project {project_id}", hint=LIST_HINT) from None
        except RecursionError:
            raise _damaged(path, "nested too deeply") from None
        except (OSError, ValueError) as exc:
            raise _damaged(path, str(exc)) from None
        problem = _metadata_problem(data, project_id)
        if problem:
            raise _damaged(path, problem)
        return Project(project_id, data["name"], data["type"], data["created_at"], data.get("workspace"),
                       data.get("engine"), data.get("volume") is True, data.get("runtime"),
                       data.get("env") or None, tuple(data["ports"]) if data.get("ports") else None)


def _metadata_problem(data: Any, project_id: str) -> str | None:
    if not isinstance(data, dict):
        return "expected a JSON object"
    if data.get("id") != project_id:
        return f"its id {data.get('id')!r} is not its directory's name {project_id}"
    for key in ("name", "type", "created_at"):
        if not isinstance(data.get(key), str):
            return f"{key}: expected a string, got {type(data.get(key)).__name__}"
    if project_name_problem(data["name"]):
        return f"name: {project_name_problem(data['name'])}"
    if not is_valid_type_name(data["type"]):
        return f"type: {data['type']!r} is not a container type name"
    workspace = data.get("workspace")
    if workspace is not None and not (isinstance(workspace, str) and os.path.isabs(workspace)):
        return "workspace: expected an absolute directory path or null"
    engine = data.get("engine")
    if engine is not None and not (isinstance(engine, str) and _engine_name_ok(engine)):
        return "engine: expected the name of an engine in the config, or null"
    settings = _settings_problem(data)
    if settings:
        return settings
    if data.get("runtime") is not None and data.get("runtime") not in ENGINES:
        return f"runtime: expected one of {', '.join(ENGINES)} or null"
    if data.get("volume") not in (None, True, False):
        return "volume: expected true or false"
    return None


def _engine_name_ok(name: str) -> bool:
    """A named engine's name (imported only for pinned projects: listings read every project)."""
    from oubliette.engines.endpoints import ENGINE_NAME_RE

    return ENGINE_NAME_RE.fullmatch(name) is not None


def _settings_problem(data: dict[str, Any]) -> str | None:
    """A project's own env and ports, checked as the config's are."""
    if data.get("env") is None and data.get("ports") is None:
        return None
    from oubliette.store.types import parse_env, parse_ports

    def problem(key: str, what: str) -> ValueError:
        return ValueError(f"{key}: {what}")

    try:
        parse_env("env", data.get("env"), problem)
        parse_ports("ports", data.get("ports"), problem)
    except ValueError as exc:
        return str(exc)
    return None


def _damaged(path: str, why: str) -> DamagedProjectError:
    return DamagedProjectError(
        f"project metadata {path} is damaged: {why}",
        hint="fix that file (a JSON object with id, name, type, created_at), or remove that one file to "
             "forget the project; the workspace/ beside it is not touched either way")
