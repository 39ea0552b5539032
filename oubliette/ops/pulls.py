"""What one refresh run pulls, and keeps for its rollbacks: each distinct image is pulled
once and its new id resolved once, and (engines without rename) the image an old container
runs is kept under a local name until its replacement runs, so a rollback never needs the
registry. The pulls come before any container is replaced: a failed pull changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oubliette.engines.base import Runtime
from oubliette.errors import AccessDeniedError, EngineUnavailableError, OublietteError, PullError
from oubliette.model import ContainerInfo
from oubliette.ops.images import not_built
from oubliette.ops.swap import repository_of
from oubliette.report import Reporter

if TYPE_CHECKING:
    from oubliette.app import Engine


class RefreshRun:
    """What one refresh run shares between its projects: each image is pulled once and
    its new id resolved once, and (engines without rename) the image each old container
    runs is kept under a local name until its replacement runs, so a rollback never
    needs the registry."""

    def __init__(self) -> None:
        self.pulls: dict[str, OublietteError | None] = {}
        self.notes: dict[str, str] = {}  # image -> why the local image was used
        self.image_ids: dict[str, str | None] = {}
        self.kept: set[str] = set()
        self.in_use: set[str] = set()

    def keep(self, runtime: Runtime, image: str, old: ContainerInfo) -> str | None:
        """A local name for the image `old` runs; made before the pull moves `image`'s tag.
        None where a rollback runs `repository@digest` (a cluster's nodes pull that)."""
        if runtime.can_rename or not old.image_id or not runtime.kind.client_pulls:
            return None
        name = kept_name(image, old.image_id)
        if name not in self.kept:
            if runtime.image_id(image) == old.image_id:
                runtime.tag(image, name)
            elif not runtime.image_exists(name):  # kept by an earlier run whose rollback runs it
                return None
            self.kept.add(name)
        return name

    def release(self, runtime: Runtime) -> None:
        """Remove the kept names no rolled-back container runs on."""
        for name in sorted(self.kept - self.in_use):
            try:
                runtime.untag(name)
            except OublietteError:
                pass  # a leftover name costs nothing; the next run removes it
        self.kept.clear()


def kept_name(image: str, digest: str) -> str:
    """`host/app:tag` + `sha256:abcdef...` -> `host/app:oubliette-kept-abcdef012345`."""
    return f"{repository_of(image)}:oubliette-kept-{digest.rpartition(':')[2][:12]}"


def pull_once(engine: Engine, image: str, reporter: Reporter, run: RefreshRun) -> None:
    """Pull `image` unless this run already did. When the registry cannot give it (not
    found, denied, unreachable) and an image of that reference is here, use that one."""
    pulls = run.pulls
    if image in pulls:
        failure = pulls[image]
        if failure is not None:
            raise failure
        return
    runtime = engine.runtime
    try:
        if engine.app.config.dev_mode:
            if not runtime.image_exists(image):
                raise not_built(image)
            reporter.info(f"Dev mode: using the local image {image} (never pulled).")
        else:
            try:
                engine.images.pull(image, reporter)
            except PullError as error:
                if not runtime.image_exists(image):
                    raise
                why = "denied access" if isinstance(error, AccessDeniedError) else ""
                why = why or ("does not have it" if "not found" in error.message else "cannot be reached")
                run.notes[image] = "registry unreachable" if why == "cannot be reached" else f"registry {why}"
                reporter.info(f"The registry {why}; using the local image {image}.")
    except EngineUnavailableError:
        raise
    except OublietteError as error:
        pulls[image] = error
        raise
    pulls[image] = None


