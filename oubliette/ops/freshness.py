"""Which containers are out of date: they run another image than their type's reference
resolves to locally now, or their project's type now maps to another reference.

No network: "now" is what the local image store holds (after a pull, or a local build).
Costs one engine call per engine on top of the listing (adapters batch it).
"""

from __future__ import annotations

from typing import NamedTuple

from oubliette.app import App
from oubliette.model import LABEL_CONFIG, ContainerInfo


class Freshness(NamedTuple):
    info: ContainerInfo
    image_id: str | None  # what the container runs
    latest_image_id: str | None  # what its type's reference resolves to locally now
    reference: str | None  # its type's reference now (None: the type left the config)
    project_type: str
    config_label: str | None = None  # the fingerprint of its type's definition and settings now

    @property
    def outdated(self) -> bool:
        if self.reference is None:
            return False  # nothing to refresh onto; `project show` tells
        if self.reference != self.info.image or self.project_type != self.info.type:
            return True  # the project's type, or what it maps to, changed
        if self.config_label != self.info.labels.get(LABEL_CONFIG):
            return True  # the type's definition, or the project's own settings, changed
        return self.latest_image_id is not None and self.image_id != self.latest_image_id

    def to_record(self) -> dict:
        """A container row of `list --outdated --json` (its project exists, so never an orphan)."""
        return {**self.info.to_record(), "outdated": self.outdated, "image_id": self.image_id,
                "latest_image_id": self.latest_image_id}


def freshness(app: App, infos: list[ContainerInfo]) -> list[Freshness]:
    """Each container (of an existing project) with what it runs and what it would run now."""
    from oubliette.ops.refresh import config_label

    references: dict[str, str | None] = {}
    types: dict[str, str] = {}
    labels: dict[str, str | None] = {}
    for info in infos:
        project_id = info.project_id or ""
        if app.ownership.project_exists(project_id):
            project = app.projects.get(project_id)
            types[info.name] = project.type
            references[info.name] = app.config.containers.get(types[info.name])
            labels[info.name] = config_label(app, project)
    known = [i for i in infos if i.name in references]
    running: dict[str, str | None] = {}
    latest: dict[tuple[str, str], str | None] = {}  # (engine, reference) -> local image id there
    for engine in sorted({i.engine for i in known}):
        here = [i for i in known if i.engine == engine]
        refs = sorted({r for r in (references[i.name] for i in here) if r})
        by_name, by_ref = app.engine(engine).runtime.image_ids(here, refs)
        running.update(by_name)
        latest.update(((engine, ref), image_id) for ref, image_id in by_ref.items())
    return [Freshness(i, running.get(i.name), latest.get((i.engine, references[i.name] or "")),
                      references[i.name], types[i.name], labels[i.name]) for i in known]
