"""Refresh: pull each distinct image once, then replace the projects' containers.

One run holds the locks of all its projects, reads their containers with one engine call
(a listing, or on Docker an inspect by name), pulls each distinct image once and resolves
its id once, then replaces the containers `jobs` at a time. The pull comes first, so a failed pull
leaves the running containers untouched; each replacement is swap.py's, which brings
the old container back if the new one does not start. Failures stay per project.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING

from oubliette.app import App, Engine
from oubliette.engines.fleet import listed_everywhere
from oubliette.errors import ConfigError, ConflictError, EngineUnavailableError, OublietteError
from oubliette.model import DEFAULT_ENGINE, LABEL_CONFIG, LABEL_PROJECT, ContainerInfo, aside_name, container_name
from oubliette.ops.containers import owned_pair, refuse_active_sessions, spec_for
from oubliette.ops.locking import locked_project
from oubliette.ops.pulls import RefreshRun, pull_once
from oubliette.ops.swap import RolledBack, recover, replace, settle_interrupted_swap
from oubliette.report import Reporter
from oubliette.store.config import has_settings

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime
    from oubliette.store.projects import Project

DEFAULT_JOBS = 16  # the swaps wait on the engine, not on us: 10 at once took ~10% less time than 4 on 2 cores


class RefreshResult:
    """One project's outcome. A plain class, not a dataclass: `dataclasses` imports
    `inspect`, ~5 ms of every refresh."""

    __slots__ = ("project_id", "image", "old_image_id", "new_image_id", "changed", "status", "error", "hint",
                 "note")

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.image: str | None = None
        self.old_image_id: str | None = None
        self.new_image_id: str | None = None
        self.changed = False
        self.status = "failed"  # "refreshed" | "unchanged" | "failed"
        self.error: str | None = None
        self.hint: str | None = None
        self.note: str | None = None  # e.g. "registry unreachable": why the local image was used

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def refresh_targets(app: App, project_refs: Sequence[str],
                    left_out: list[OublietteError] | None = None) -> list[Project]:
    """The named projects, or every project of this home whose container is running (on
    every engine that answers; the errors of those that do not go to `left_out`)."""
    if project_refs:
        projects = [app.projects.get(ref) for ref in project_refs]
    else:
        projects = []
        for info in app.ownership.containers(listed_everywhere(app, include_stopped=False, left_out=left_out)):
            try:
                projects.append(app.projects.get(info.project_id or ""))
            except OublietteError:
                app.reporter.warn(f"skipping {info.name}: its project {info.project_id} no longer exists "
                                  f"(remove it with `oubliette container stop {info.project_id}`)")
    return list({p.id: p for p in projects}.values())


class _Target:
    """One project on its way through a run."""

    def __init__(self, project: Project, reporter: Reporter) -> None:
        self.project = project
        self.result = RefreshResult(project.id)
        self.old: ContainerInfo | None = None
        self.kept: str | None = None  # engines without rename: the old image's kept name
        self.reporter = reporter


def refresh(app: App, projects: Sequence[Project], reporter: Reporter, report_failures: bool = True,
            jobs: int = DEFAULT_JOBS, if_changed: bool = False, prune: bool = False) -> list[RefreshResult]:
    """Refresh these projects, engine by engine; results in the order given. Goes on past a
    project's failure. An engine that cannot be reached fails those of its projects not
    done yet (and, when it is the only engine, the run: no other project could fare better)."""
    groups: dict[str, list[_Target]] = {}
    for project in projects:
        groups.setdefault(app.engine_key(project), []).append(_Target(project, reporter))
    try:
        for name, targets in groups.items():
            try:
                _refresh_on(app.engine(name), targets, reporter, report_failures, jobs, if_changed, prune)
            except (EngineUnavailableError, ConfigError) as error:
                if len(groups) == 1:
                    raise
                for target in targets:
                    if target.result.status == "failed" and target.result.error is None:  # not done yet
                        _fail(target, error, report_failures)
    except KeyboardInterrupt:
        _report_interrupted([t for targets in groups.values() for t in targets], reporter)
        raise
    by_id = {t.project.id: t.result for targets in groups.values() for t in targets}
    return [by_id[p.id] for p in projects]


def _report_interrupted(targets: list[_Target], reporter: Reporter) -> None:
    """Ctrl-C or SIGTERM: which projects were refreshed, which were left as they were."""
    done = [t for t in targets if t.result.status == "refreshed" or t.result.status.startswith("unchanged")]
    failed = [t for t in targets if t.result.status == "failed" and t.result.error is not None]
    untouched = [t for t in targets if t not in done and t not in failed]

    def names(group: list[_Target]) -> str:
        return ", ".join(f"{t.project.id} ({t.project.name})" for t in group) or "none"

    reporter.warn(f"refresh interrupted: refreshed {names(done)}; failed {names(failed)}; "
                  f"untouched (their containers run as before) {names(untouched)}")


def _refresh_on(engine: Engine, targets: list[_Target], reporter: Reporter, report_failures: bool,
                jobs: int, if_changed: bool, prune: bool) -> None:
    """Refresh projects of one engine; results land in the targets."""
    run = RefreshRun()
    where = f" on engine {engine.name}" if engine.name != DEFAULT_ENGINE else ""
    reporter.info(f"Refreshing {len(targets)} container{'s' if len(targets) != 1 else ''}{where}...")
    with ExitStack() as held:
        ready = _lock_and_read(engine, targets, held, reporter, report_failures)
        try:
            ready = _pull_images(engine, ready, run, report_failures, if_changed)
            ready = [t for t in ready if not _unchanged(engine.app, t, if_changed)]
            _replace_all(engine, ready, run, jobs, report_failures, if_changed)
        finally:
            run.release(engine.runtime)
    if prune:
        _prune(engine, [t.result for t in targets], reporter)


def refresh_one(app: App, project: Project, reporter: Reporter) -> RefreshResult:
    """One project (the MCP tool): failures are in the result, not printed."""
    return refresh(app, [project], reporter, report_failures=False)[0]


# --- the phases ----------------------------------------------------------------------------


def _fail(target: _Target, error: OublietteError, report: bool) -> None:
    target.result.status, target.result.error, target.result.hint = "failed", error.message, error.hint
    if report:
        step = target.reporter.nested()
        step.note(f"{step.indent}{target.project.id} ({target.project.name}): failed: {error.message}")
        if error.hint:
            step.note(f"{step.indent}Hint: {error.hint}")


def _lock_and_read(engine: Engine, targets: list[_Target], held: ExitStack, reporter: Reporter,
                   report: bool) -> list[_Target]:
    """Take every project's lock (in id order, so two runs never deadlock), settle what a
    killed command left, then read all their containers: one listing (and an inspect of those
    whose image id it does not give), or, where the listing gives no ids, one inspect by name."""
    runtime = engine.runtime
    locked = []
    for target in sorted(targets, key=lambda t: t.project.id):
        try:
            target.project = held.enter_context(locked_project(engine.app, target.project.id, reporter))
            target.result.image = engine.images.get_image_name(target.project.type)
            refuse_active_sessions(engine.app, target.project.id, "refresh container")
            settle_interrupted_swap(engine.app, target.project.id, reporter)
        except EngineUnavailableError:
            raise
        except OublietteError as error:
            _fail(target, error, report)
            continue
        locked.append(target)
    if not locked:
        return []
    if runtime.kind.listing_image_ids:
        listed = {info.name: info for info in runtime.list_containers(LABEL_PROJECT, include_stopped=True)}
    else:  # an inspect of the names says all a listing would, and the image ids
        names = [name for t in locked for name in (container_name(t.project.id), aside_name(t.project.id))]
        listed = {info.name: info for info in runtime.inspect_many(names)}
    ready = []
    for target in locked:
        try:
            main, aside = owned_pair(engine, target.project.id, listed)
            main = recover(engine, target.project.id, main, aside, target.reporter)
            if main is None:
                raise ConflictError("no container to refresh",
                                    hint=f"start it with `oubliette container start {target.project.id}`")
        except EngineUnavailableError:
            raise
        except OublietteError as error:
            _fail(target, error, report)
            continue
        target.old = main
        ready.append(target)
    missing = [t.old.name for t in ready if t.old is not None and t.old.image_id is None]
    inspected = {info.name: info for info in runtime.inspect_many(missing)}
    for target in ready:
        assert target.old is not None
        target.old = inspected.get(target.old.name, target.old)
        target.result.old_image_id = target.old.image_id
    return [t for t in targets if t in ready]


def _pull_images(engine: Engine, targets: list[_Target], run: RefreshRun, report: bool,
                 if_changed: bool) -> list[_Target]:
    """Keep what rollbacks need, pull each distinct image once, resolve each new id once
    where it is needed before the swap (see _id_first)."""
    runtime = engine.runtime
    ready = []
    for target in targets:
        image = target.result.image or ""
        assert target.old is not None
        try:
            target.kept = run.keep(runtime, image, target.old)
            pull_once(engine, image, target.reporter, run)
            if image not in run.image_ids and _id_first(runtime, if_changed, image in run.notes):
                run.image_ids[image] = runtime.image_id(image)
        except EngineUnavailableError:
            raise
        except OublietteError as error:
            _fail(target, error, report)
            continue
        target.result.new_image_id = run.image_ids.get(image)  # else: the look at the new container says
        target.result.note = run.notes.get(image)
        ready.append(target)
    return ready


def _id_first(runtime: Runtime, if_changed: bool, local: bool) -> bool:
    """Resolve the pulled image's id before the swaps where something compares it first:
    --if-changed, and a `local` image (the registry gave nothing) in _unchanged; engines
    without rename roll back by it. Otherwise the new container's look gives it, one
    engine call fewer."""
    return if_changed or local or not runtime.can_rename


def config_label(app: App, project: Project) -> str | None:
    """The fingerprint of the project's type definition and own settings (None: a plain type)."""
    if not has_settings(app.config, project):
        return None
    from oubliette.ops.settings import expected_config_label

    return expected_config_label(app, project)


def _same_definition(app: App, target: _Target) -> bool:
    """The old container was made from the project's type, image reference and settings as they are now."""
    old = target.old
    assert old is not None
    return (old.type == target.project.type and old.image == target.result.image
            and old.labels.get(LABEL_CONFIG) == config_label(app, target.project))


def _unchanged(app: App, target: _Target, if_changed: bool) -> bool:
    """Leave the container running when it already runs what its type's reference resolves
    to, under --if-changed, or when the registry could not be asked (the local image is
    the one it runs: replacing it would change nothing)."""
    old = target.old
    assert old is not None
    same = ((if_changed or target.result.note is not None) and old.image_id == target.result.new_image_id
            and _same_definition(app, target))
    if same:
        target.result.status, target.result.changed = "unchanged", False
        if target.result.note:
            target.result.status = f"unchanged ({target.result.note})"
        target.reporter.info(f"{target.project.id} ({target.project.name}): unchanged, left running.")
    return same


def _replace_all(engine: Engine, targets: list[_Target], run: RefreshRun, jobs: int, report: bool,
                 if_changed: bool) -> None:
    """Replace the containers, `jobs` at a time; each project's lines printed together.

    Ctrl-C or SIGTERM reaches the main thread: projects not started yet are skipped,
    the swaps under way finish (or are undone), then the interrupt is raised.
    """
    if len(targets) <= 1 or jobs <= 1:
        for target in targets:
            _replace_one(engine, target, run, report, if_changed)
        return
    cancelled = threading.Event()
    engine.app.home_id  # noqa: B018 - made (or read) once here, not by several workers at once

    def work(target: _Target) -> None:
        if cancelled.is_set():
            return
        buffered = target.reporter.buffered()
        target.reporter = buffered
        try:
            _replace_one(engine, target, run, report, if_changed)
        finally:
            buffered.flush()

    pool = ThreadPoolExecutor(max_workers=min(jobs, len(targets)), thread_name_prefix="refresh")
    try:  # a signal may come while the work is still being handed out: the swaps under way still finish
        futures = [pool.submit(work, t) for t in targets]
        for future in futures:
            future.result()
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _replace_one(engine: Engine, target: _Target, run: RefreshRun, report: bool, if_changed: bool) -> None:
    result, project, old = target.result, target.project, target.old
    assert old is not None and result.image is not None
    step = target.reporter.nested()
    target.reporter.info(f"{project.id} ({project.name}): restarting its container...")
    unchanged = None
    if if_changed and result.new_image_id is None and _same_definition(engine.app, target):
        def unchanged(new: ContainerInfo) -> bool:  # a cluster: the digest is known once a node pulled it
            return new.image_id is not None and new.image_id == old.image_id
    try:
        def swapped(new: ContainerInfo | None) -> None:
            result.status = "refreshed"
            if result.new_image_id is None and new is not None:
                result.new_image_id = new.image_id

        spec = spec_for(engine.app, project, result.image)
        if not replace(engine, project.id, spec, old, target.kept, swapped, unchanged):
            result.status, result.new_image_id = "unchanged", old.image_id
            step.info("Unchanged (the same image digest): the new pod is gone, the previous one runs on.")
            return
    except RolledBack as error:
        if target.kept:
            run.in_use.add(target.kept)
        _fail_swap(engine, target, run, error, report)
        return
    except EngineUnavailableError:
        raise
    except OublietteError as error:
        _fail_swap(engine, target, run, error, report)
        return
    result.status = "refreshed"
    if result.new_image_id is None and not engine.runtime.kind.client_pulls:  # known once its node pulled it
        new = engine.runtime.inspect(container_name(project.id))
        result.new_image_id = new.image_id if new is not None else None
    result.changed = result.old_image_id != result.new_image_id
    if result.changed:
        step.info(f"Image updated: {result.old_image_id} -> {result.new_image_id}")
    else:
        step.info("Image unchanged.")
    step.info("Done.")


def _fail_swap(engine: Engine, target: _Target, run: RefreshRun, error: OublietteError, report: bool) -> None:
    """A swap that failed: its result still names the image that would not run."""
    image = target.result.image or ""
    if target.result.new_image_id is None and engine.runtime.kind.client_pulls:
        try:
            if image not in run.image_ids:
                run.image_ids[image] = engine.runtime.image_id(image)
            target.result.new_image_id = run.image_ids[image]
        except OublietteError:
            pass  # the failure says what matters
    _fail(target, error, report)


def _prune(engine: Engine, results: list[RefreshResult], reporter: Reporter) -> None:
    """--prune: remove each superseded image no container uses any more (never forced)."""
    superseded = sorted({r.old_image_id for r in results
                         if r.status == "refreshed" and r.changed and r.old_image_id})
    for image_id in superseded:
        if engine.runtime.remove_image(image_id):
            reporter.info(f"Removed the superseded image {image_id}.")
        else:
            reporter.info(f"Kept the superseded image {image_id}: a container or another tag still uses it.")
