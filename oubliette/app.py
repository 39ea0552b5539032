"""The wiring shared by the CLI and the MCP server: home, config, runtime, stores.

Everything is built on first use, so a command pays only for what it touches
(`project list` never looks for an engine; `container list` never builds an
ImageManager).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from oubliette.model import DEFAULT_ENGINE
from oubliette.report import Reporter
from oubliette.store.config import Config, load_config, resolve_home

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.model import Ownership
    from oubliette.ops.images import ImageManager
    from oubliette.store.projects import Project, ProjectStore
    from oubliette.store.sessions import SessionRegistry


class App:
    engine_name = DEFAULT_ENGINE  # the engine `runtime` drives (see `on_engine`)

    def __init__(self, home: str | os.PathLike[str] | None = None, runtime_choice: str | None = None,
                 reporter: Reporter | None = None, env: Mapping[str, str] = os.environ) -> None:
        self.home: Path = resolve_home(home, env)
        self.runtime_choice = runtime_choice
        self.reporter = reporter or Reporter()
        self.env = env
        self._views: dict[str, App] = {DEFAULT_ENGINE: self}

    def on_engine(self, name: str | None) -> App:
        """This app with `runtime` (and `images`) on the engine `name` (None: the default);
        everything else is shared. One view per engine per process."""
        name = name or DEFAULT_ENGINE
        view = self._views.get(name)
        if view is None:
            self.engine_entry(name)  # raises for an engine the config does not name
            import copy

            view = copy.copy(self)
            for attr in ("runtime", "images"):
                view.__dict__.pop(attr, None)
            view.engine_name = name
            self._views[name] = view
        return view

    def for_project(self, project: Project) -> App:
        """This app on the project's engine: every command about a project uses it."""
        return self.on_engine(project.engine)

    def engine_entry(self, name: str) -> EngineEntry | None:
        """A named engine's config entry (None for the default engine)."""
        if name == DEFAULT_ENGINE:
            return None
        entry = self.config.engines.get(name)
        if entry is None:
            from oubliette.errors import ConfigError

            raise ConfigError(f"the engine {name!r} is not in the config's \"engines\" any more",
                              hint=f"add engines.{name} back to {self.config.path} (projects pinned to it "
                                   "keep their containers there)")
        return entry

    @property
    def dev_mode(self) -> bool:
        from oubliette.store.config import is_dev_mode

        return is_dev_mode(self.env)

    @cached_property
    def config(self) -> Config:
        return load_config(self.home, self.dev_mode)

    @cached_property
    def runtime(self) -> Runtime:
        entry = self.engine_entry(self.engine_name)
        if entry is not None:
            from oubliette.engines.kinds import make_runtime

            runtime = make_runtime(entry.runtime, self.env)
            runtime.point_at(entry.name, entry.endpoint, entry.environment(self.env))
            return runtime
        from oubliette.engines.detect import detect_runtime, requested_runtime

        choice = requested_runtime(self.runtime_choice, self.config.runtime, self.env)
        return detect_runtime(choice, self.env, note=self.reporter.note)

    @cached_property
    def home_id(self) -> str:
        """This home's id, created on first use: every container this home makes carries it."""
        from oubliette.store.home import ensure_home_id

        return ensure_home_id(self.home)

    @cached_property
    def ownership(self) -> Ownership:
        """Which engine containers are this home's (reads the id; never creates one)."""
        from oubliette.model import Ownership
        from oubliette.store.home import projects_dir, read_home_id

        home_id = self.__dict__.get("home_id") or read_home_id(self.home)
        return Ownership(home_id, str(projects_dir(self.home)))

    @cached_property
    def images(self) -> ImageManager:
        from oubliette.ops.images import ImageManager

        return ImageManager(self.config.containers, lambda: self.runtime, self.config.dev_mode)

    @cached_property
    def projects(self) -> ProjectStore:
        from oubliette.store.projects import ProjectStore

        return ProjectStore(self.home, warn=lambda message: self.reporter.warn(message))

    @cached_property
    def sessions(self) -> SessionRegistry:
        from oubliette.store.sessions import SessionRegistry

        return SessionRegistry(self.home, warn=lambda message: self.reporter.warn(message))
