"""The wiring shared by the CLI and the MCP server: home, config, stores, and engines.

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


class Engine:
    """The engine a workflow acts on: its name in this home, its runtime and the images on
    it. Everything else (config, projects, sessions, the home's id) is the app's, shared.
    A command about a project gets its project's engine (`App.for_project`), so it cannot
    reach the default engine by accident: the app itself has no runtime."""

    def __init__(self, app: App, name: str, runtime: Runtime | None = None) -> None:
        self.app, self.name = app, name
        if runtime is not None:  # one chosen already (doctor's detection)
            self.__dict__["runtime"] = runtime

    @cached_property
    def runtime(self) -> Runtime:
        entry = self.app.engine_entry(self.name)
        if entry is not None:
            from oubliette.engines.kinds import make_runtime

            runtime = make_runtime(entry.runtime, self.app.env)
            runtime.point_at(entry.name, entry.endpoint, entry.environment(self.app.env))
            return runtime
        from oubliette.engines.detect import detect_runtime, requested_runtime

        choice = requested_runtime(self.app.runtime_choice, self.app.config.runtime, self.app.env)
        return detect_runtime(choice, self.app.env, note=self.app.reporter.note)

    @cached_property
    def images(self) -> ImageManager:
        """The configured types' images, pulled and checked on this engine."""
        from oubliette.ops.images import ImageManager

        return ImageManager(self.app.config.containers, lambda: self.runtime, self.app.config.dev_mode)


class App:
    """The home, its config and stores, and the engines its commands act on (built on first use)."""

    def __init__(self, home: str | os.PathLike[str] | None = None, runtime_choice: str | None = None,
                 reporter: Reporter | None = None, env: Mapping[str, str] = os.environ) -> None:
        self.home: Path = resolve_home(home, env)
        self.runtime_choice = runtime_choice
        self.reporter = reporter or Reporter()
        self.env = env
        self.lock_timeout: float | None = None  # seconds to wait for a project's lock (None: as long as it takes)
        self._engines: dict[str, Engine] = {}

    def engine(self, name: str | None = None) -> Engine:
        """The engine `name` (None: the default one); one per engine per process."""
        name = name or DEFAULT_ENGINE
        found = self._engines.get(name)
        if found is None:
            self.engine_entry(name)  # raises for an engine the config does not name
            found = self._engines[name] = Engine(self, name)
        return found

    def for_project(self, project: Project) -> Engine:
        """The project's engine: every command about a project acts on it."""
        return self.engine(project.engine)

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
    def types(self) -> ImageManager:
        """The configured container types and their images (no engine: checks and listings)."""
        from oubliette.ops.images import ImageManager

        return ImageManager(self.config.containers, None, self.config.dev_mode)

    @cached_property
    def projects(self) -> ProjectStore:
        from oubliette.store.projects import ProjectStore

        return ProjectStore(self.home, warn=lambda message: self.reporter.warn(message))

    @cached_property
    def sessions(self) -> SessionRegistry:
        from oubliette.store.sessions import SessionRegistry

        return SessionRegistry(self.home, warn=lambda message: self.reporter.warn(message))
