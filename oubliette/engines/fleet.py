"""This home's containers on every engine its projects use, listed concurrently.

A home without named engines has one engine, listed with one call as before. With
named engines, each engine in use is listed in its own thread, so a listing costs
the slowest engine, not the sum; an engine that cannot be reached is a warning
naming it (the others are still listed) unless it was the only one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from oubliette.errors import OublietteError
from oubliette.model import DEFAULT_ENGINE, LABEL_PROJECT, ContainerInfo

if TYPE_CHECKING:
    from oubliette.app import App


def engines_in_use(app: App) -> list[str]:
    """The default engine and every other engine a project is on (named, or a default engine
    of another kind), default first. In a home of one engine no project metadata is read."""
    if app.single_engine():
        return [DEFAULT_ENGINE]
    used = {app.engine_key(project) for project in app.projects.list()} or {DEFAULT_ENGINE}
    return sorted(used, key=lambda name: (name != DEFAULT_ENGINE, name))


def home_containers(app: App, include_stopped: bool = False,
                    engines: Iterable[str] | None = None) -> list[ContainerInfo]:
    """This home's containers on these engines (default: every engine in use), set-aside
    ones left out, each marked `orphan` when its project is gone: the one listing behind
    `container list` and the MCP `container` tool."""
    own = app.ownership
    return [info if own.project_exists(info.project_id or "") else info._replace(orphan=True)
            for info in own.containers(listed_everywhere(app, engines, include_stopped=include_stopped))]


def list_on(app: App, engines: Iterable[str],
            include_stopped: bool = True) -> dict[str, list[ContainerInfo] | OublietteError]:
    """Each engine's labelled containers (each tagged with its engine), or the error listing
    it raised; one call per engine, the calls concurrent."""
    names = list(dict.fromkeys(engines))

    def one(name: str) -> list[ContainerInfo] | OublietteError:
        try:
            infos = app.engine(name).runtime.list_containers(LABEL_PROJECT, include_stopped=include_stopped)
        except OublietteError as error:
            return error
        return infos if name == DEFAULT_ENGINE else [info._replace(engine=name) for info in infos]

    if len(names) <= 1:
        return {name: one(name) for name in names}
    for name in names:  # detection and its notes happen here, not in threads
        try:
            app.engine(name).runtime  # noqa: B018
        except OublietteError:
            pass  # raised again, and kept, by `one`
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="list") as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def listed_everywhere(app: App, engines: Iterable[str] | None = None, include_stopped: bool = True,
                      left_out: list[OublietteError] | None = None) -> list[ContainerInfo]:
    """Every labelled container of these engines (default: those in use). An engine that
    fails is a warning naming it, or, given `left_out`, its error goes there (commands that
    change things end with an Error then); when every engine failed, the first error is raised."""
    results = list_on(app, engines_in_use(app) if engines is None else engines, include_stopped)
    failed = [r for r in results.values() if isinstance(r, OublietteError)]
    if failed and len(failed) == len(results):
        raise failed[0]
    if left_out is not None:
        left_out += failed  # the caller ends with an Error naming them
    else:
        for error in failed:
            app.reporter.warn(f"{error.message} (its containers are left out)")
    return _once_each(app, [info for result in results.values() if not isinstance(result, OublietteError)
                            for info in result])


def _once_each(app: App, infos: list[ContainerInfo]) -> list[ContainerInfo]:
    """Each container once: one engine reached two ways (a named ssh:// engine that is the
    local daemon) lists the same container twice; it is kept under its project's engine."""
    kept: dict[object, ContainerInfo] = {}
    for info in infos:
        key = (info.id, info.name) if info.id else ("", id(info))
        first = kept.setdefault(key, info)
        if first is not info and info.engine == _engine_of(app, info.project_id):
            kept[key] = info
    return list(kept.values())


def _engine_of(app: App, project_id: str | None) -> str | None:
    try:
        return app.engine_key(app.projects.get(project_id or ""))
    except OublietteError:
        return None


def left_out_error(errors: list[OublietteError], what: str) -> OublietteError:
    """The error a command exits with after doing its work on every engine but these."""
    first = errors[0]
    first.message = f"{first.message}; {what}"
    first.args = (first.message,)
    return first


def strictly_listed(app: App, engines: Iterable[str], include_stopped: bool = True) -> dict[str, list[ContainerInfo]]:
    """Each engine's containers; the first engine that fails raises (a command about its projects)."""
    results = list_on(app, engines, include_stopped)
    for result in results.values():
        if isinstance(result, OublietteError):
            raise result
    return results  # type: ignore[return-value]
