"""The wiring shared by the CLI and the MCP server: home, config, stores, and engines.

Everything is built on first use, so a command pays only for what it touches
(`project list` never looks for an engine; `container list` never builds an
ImageManager).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from oubliette.model import DEFAULT_ENGINE
from oubliette.report import Reporter
from oubliette.store.config import Config, load_config, resolve_home

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.model import Ownership
    from oubliette.ops.images import ImageManager
    from oubliette.store.engine_choice import EngineChoice
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
        from oubliette.engines.kinds import make_runtime

        if entry is not None:
            runtime = make_runtime(entry.runtime, self.app.env)
            runtime.point_at(entry, entry.environment(self.app.env))
            return runtime
        if self.name != DEFAULT_ENGINE:  # "default:podman": the default endpoint of a kind no longer the default
            return make_runtime(self.name.partition(":")[2], self.app.env)
        return self.app.default_runtime()

    @cached_property
    def images(self) -> ImageManager:
        """The configured types' images, pulled and checked on this engine."""
        from oubliette.ops.images import ImageManager

        return ImageManager(self.app.config.containers, lambda: self.runtime, self.app.config.dev_mode)


class App:
    """The home, its config and stores, and the engines its commands act on (built on first use)."""

    def __init__(self, home: str | os.PathLike[str] | None = None, runtime_choice: str | None = None,
                 reporter: Reporter | None = None, env: Mapping[str, str] = os.environ) -> None:
        self.home: str = resolve_home(home, env)
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
        return self.engine(self.engine_key(project))

    def engine_key(self, project: Project) -> str:
        """The name of the project's engine in this process: its named engine, the default
        one, or `default:KIND` for a project made on a default engine of another kind (a
        home whose default changed keeps its old projects where their containers are)."""
        if project.engine:
            return project.engine
        kind = self.kind_of(project)
        return DEFAULT_ENGINE if kind is None or kind == self.default_kind else f"{DEFAULT_ENGINE}:{kind}"

    def kind_of(self, project: Project) -> str | None:
        """The kind of engine a project runs on, without asking any engine; None: not decided yet."""
        if project.engine:
            entry = self.config.engines.get(project.engine)
            return entry.runtime if entry else None
        choice = self.engine_choice
        return project.runtime or (choice.kinds[0] if choice else None)  # made before kinds were recorded: the first

    def single_engine(self) -> bool:
        """Every project is on the default engine (no named engines, one kind): listings need
        not read the projects' metadata."""
        choice = self.engine_choice
        return not self.config.engines and (choice is None or choice.kinds == (self.default_kind,))

    def engine_entry(self, name: str) -> EngineEntry | None:
        """A named engine's config entry (None for the default engine and `default:KIND`)."""
        if name == DEFAULT_ENGINE or name.startswith(f"{DEFAULT_ENGINE}:"):
            return None
        entry = self.config.engines.get(name)
        if entry is None:
            from oubliette.errors import ConfigError

            raise ConfigError(f"the engine {name!r} is not in the config's \"engines\" any more",
                              hint=f"add engines.{name} back to {self.config.path} (projects pinned to it "
                                   "keep their containers there)")
        return entry

    @cached_property
    def engine_choice(self) -> EngineChoice | None:
        """The home's recorded default engine (None before the first command that needed one)."""
        from oubliette.store.engine_choice import read_choice

        return read_choice(self.home)

    @cached_property
    def default_kind(self) -> str:
        """The default engine's kind: as asked (--runtime, OUBLIETTE_RUNTIME, the config), else
        the home's record; detected (probing) only in a home that has none."""
        from oubliette.engines.detect import requested_runtime

        choice = requested_runtime(self.runtime_choice, self.config.runtime, self.env)
        if choice != "auto":
            return choice
        if self.engine_choice is not None and self.runtime_choice != "auto":
            return self.engine_choice.runtime
        return self.engine().runtime.name

    def default_runtime(self) -> Runtime:
        """The default engine's runtime. The first command that needs it records it in the
        home; after that auto-detection never runs again, so an engine that does not answer
        is an error naming it, not a switch to another engine."""
        from oubliette.engines.detect import detect_runtime, requested_runtime
        from oubliette.engines.kinds import make_runtime

        asked = requested_runtime(self.runtime_choice, self.config.runtime, self.env)
        record = self.engine_choice
        if asked != "auto":
            runtime = make_runtime(asked, self.env)
            for_one_command = bool(self.runtime_choice or self.env.get("OUBLIETTE_RUNTIME"))
            how = ("--runtime" if self.runtime_choice else "OUBLIETTE_RUNTIME" if for_one_command
                   else "the config's \"runtime\"")
            if record is None or (not for_one_command and record.runtime != asked):  # the config: from now on
                self._record(runtime, how, record)
        elif record is not None and self.runtime_choice != "auto":  # `--runtime auto` detects, for this command
            runtime = make_runtime(record.runtime, self.env)
        else:
            notes: list[str] = []
            runtime = detect_runtime(asked, self.env, note=notes.append)
            if record is None and self._record(runtime, "detected", None) and notes:
                self.reporter.note(f"{notes[0]} This home uses it from now on (choose another with --runtime, "
                                   "the config's \"runtime\" or `oubliette init --runtime NAME`).")
        if self.engine_choice is not None:
            runtime.home_endpoint = self.engine_choice.endpoint
        return runtime

    def _record(self, runtime: Runtime, how: str, previous: EngineChoice | None) -> bool:
        """Record `runtime` as the home's default; False (with a warning) where the home cannot
        be written (a read-only home still lists)."""
        from oubliette.errors import OublietteError
        from oubliette.store.engine_choice import record_choice

        try:
            self.__dict__["engine_choice"] = record_choice(self.home, runtime.name, str(runtime.where()), how,
                                                           previous)
        except OublietteError as error:
            self.reporter.warn(f"{error.message} (the engine was not recorded)")
            return False
        if previous is not None:
            self.reporter.note(f"This home's engine is now {runtime.display_name} ({how}); projects made on "
                               f"{previous.runtime} keep theirs.")
        return True

    def choose_engine(self, kind: str) -> None:
        """Make `kind` the home's default engine from now on (`init --runtime`); projects made
        on another kind keep theirs."""
        from oubliette.engines.kinds import make_runtime

        previous = self.engine_choice
        self.runtime_choice = kind
        if previous is None or previous.runtime != kind:
            self._record(make_runtime(kind, self.env), "init --runtime", previous)

    def note_kind(self, runtime: str) -> None:
        """Note in the home's record that a project was made on a default engine of `runtime`."""
        from oubliette.store.engine_choice import add_kind

        if self.engine_choice is None:
            self.engine().runtime  # noqa: B018 - records the default engine
        if self.engine_choice is not None and runtime not in self.engine_choice.kinds:
            self.__dict__["engine_choice"] = add_kind(self.home, self.engine_choice, runtime)

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
        return Ownership(home_id, projects_dir(self.home))

    @cached_property
    def types(self) -> ImageManager:
        """The configured container types and their images (no engine: checks and listings)."""
        from oubliette.ops.images import ImageManager

        return ImageManager(self.config.containers, None, self.config.dev_mode)

    @cached_property
    def projects(self) -> ProjectStore:
        from oubliette.store.projects import ProjectStore

        return ProjectStore(self.home, warn=lambda message: self.reporter.warn(message),
                            note=lambda message: self.reporter.note(message))

    @cached_property
    def sessions(self) -> SessionRegistry:
        from oubliette.store.sessions import SessionRegistry

        return SessionRegistry(self.home, warn=lambda message: self.reporter.warn(message))
