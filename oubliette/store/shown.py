"""What a listing shows of each project (its name and type), read through a cache the
listings keep: `container list --all` over a thousand projects would otherwise read a
thousand metadata files (~12 ms of a ~200 ms listing, measured).

The cache (`data/projects/.shown.json`, 0600) is never believed over the files: each
entry carries its metadata file's identity (inode, size, mtime in ns), which every write
changes (oubliette replaces the file, so a new inode; a hand edit, a new mtime), and the
file is looked at (stat) before its entry is used. A miss reads the file, then the cache
is rewritten; a cache that is missing, damaged or too large counts as empty; one that
cannot be written (a read-only home, a full disk) is left as it is.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import json
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from oubliette.errors import OublietteError
from oubliette.model import METADATA, PROJECT_ID_RE
from oubliette.store.files import read_home_file, write_atomic
from oubliette.validate import project_name_problem

if TYPE_CHECKING:
    from oubliette.store.projects import Project  # not imported when every entry matches

CACHE = ".shown.json"  # not a project id: the store's listings never take it for one
CACHE_MAX_BYTES = 64 * 1024 * 1024  # ~100 bytes a project
_VERSION = 1


class Shown(NamedTuple):
    """A project as a listing shows it; `env` and `ports` say whether it has its own (whoever
    shows those reads the whole record), so `has_settings` takes it as it takes a Project."""

    name: str
    type: str
    env: bool
    ports: bool


def shown(root: str, project_ids: Iterable[str], load: "Callable[[str], Project | None]") -> dict[str, Shown | None]:
    """Each project's name and type, by id (None: gone, damaged, or not an id), from the
    projects directory `root`; only the metadata files whose cache entry does not match
    are read, with `load` (the store's `by_id`)."""
    cache = _read(os.path.join(root, CACHE))
    found: dict[str, Shown | None] = {}
    changed = False
    for project_id in project_ids:
        if project_id in found:
            continue
        found[project_id] = None
        if PROJECT_ID_RE.fullmatch(project_id) is None:
            continue
        try:  # before the read: a write in between leaves an entry that misses next time
            info = os.stat(f"{root}/{project_id}/{METADATA}", follow_symlinks=False)  # an id: no separator in it
        except OSError:  # gone
            changed = cache.pop(project_id, None) is not None or changed
            continue
        key = [info.st_ino, info.st_size, info.st_mtime_ns]
        entry = _entry(cache.get(project_id), key)
        if entry is None:
            changed = cache.pop(project_id, None) is not None or changed
            try:
                project = load(project_id)
            except OublietteError:
                continue  # damaged: shown without a name, as before (and no rewrite for it)
            if project is None:
                continue
            entry = Shown(project.name, project.type, bool(project.env), bool(project.ports))
            cache[project_id] = [*key, *entry]
            changed = True
        found[project_id] = entry
    if changed:
        _write(root, cache)
    return found


def _entry(raw: Any, key: list[int]) -> Shown | None:
    """A cache entry that matches the file as it is now and holds what a project could."""
    if not (isinstance(raw, list) and len(raw) == 7 and raw[:3] == key):
        return None
    name, type_name, env, ports = raw[3:]
    if not (isinstance(name, str) and project_name_problem(name) is None and isinstance(type_name, str)
            and isinstance(env, bool) and isinstance(ports, bool)):
        return None  # the type is only looked up in the config: any string is safe there
    return Shown(name, type_name, env, ports)


def _read(path: str) -> dict[str, Any]:
    try:
        data = json.loads(read_home_file(path, CACHE_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return {}
    projects = data.get("projects") if isinstance(data, dict) and data.get("version") == _VERSION else None
    return projects if isinstance(projects, dict) else {}


def _write(root: str, cache: dict[str, Any]) -> None:
    """Keep the entries of projects that are still here; best effort."""
    try:
        here = set(os.listdir(root))
        kept = {project_id: entry for project_id, entry in cache.items() if project_id in here}
        write_atomic(os.path.join(root, CACHE), json.dumps({"version": _VERSION, "projects": kept}), durable=False)
    except (OSError, ValueError):
        pass  # a cache: the next listing reads the files again
