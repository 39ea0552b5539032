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

from oubliette.config import Config, load_config, resolve_home
from oubliette.report import Reporter

if TYPE_CHECKING:
    from oubliette.images import ImageManager
    from oubliette.names import Ownership
    from oubliette.projects import ProjectStore
    from oubliette.runtime.base import Runtime
    from oubliette.sessions import SessionRegistry


class App:
    def __init__(self, home: str | os.PathLike[str] | None = None, runtime_choice: str | None = None,
                 reporter: Reporter | None = None, env: Mapping[str, str] = os.environ) -> None:
        self.home: Path = resolve_home(home, env)
        self.runtime_choice = runtime_choice
        self.reporter = reporter or Reporter()
        self.env = env

    @property
    def dev_mode(self) -> bool:
        from oubliette.config import is_dev_mode

        return is_dev_mode(self.env)

    @cached_property
    def config(self) -> Config:
        return load_config(self.home, self.dev_mode)

    @cached_property
    def runtime(self) -> Runtime:
        from oubliette.runtime.detect import detect_runtime, requested_runtime

        choice = requested_runtime(self.runtime_choice, self.config.runtime, self.env)
        return detect_runtime(choice, self.env, note=self.reporter.note)

    @cached_property
    def home_id(self) -> str:
        """This home's id, created on first use: every container this home makes carries it."""
        from oubliette.home import ensure_home_id

        return ensure_home_id(self.home)

    @cached_property
    def ownership(self) -> Ownership:
        """Which engine containers are this home's (reads the id; never creates one)."""
        from oubliette.home import projects_dir, read_home_id
        from oubliette.names import Ownership

        home_id = self.__dict__.get("home_id") or read_home_id(self.home)
        return Ownership(home_id, str(projects_dir(self.home)))

    @cached_property
    def images(self) -> ImageManager:
        from oubliette.images import ImageManager

        return ImageManager(self.config.containers, lambda: self.runtime, self.config.dev_mode)

    @cached_property
    def projects(self) -> ProjectStore:
        from oubliette.projects import ProjectStore

        return ProjectStore(self.home, warn=lambda message: self.reporter.warn(message))

    @cached_property
    def sessions(self) -> SessionRegistry:
        from oubliette.sessions import SessionRegistry

        return SessionRegistry(self.home, warn=lambda message: self.reporter.warn(message))
