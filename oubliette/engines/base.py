"""What every engine adapter offers, and the records they exchange with the core.

Adapters only run the engine's own CLI through `process`; they build argv with pure
functions (tested without running anything) and turn the engine's stderr into the
classified errors of `oubliette.errors`.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO, TypeVar

from oubliette.engines import process
from oubliette.engines.kinds import EngineKind, ExecFlags
from oubliette.engines.looks import StartLooks
from oubliette.engines.wording import ErrorTexts, classify_failure
from oubliette.errors import (
    EngineError,
    EngineOutputError,
    EngineUnavailableError,
    OublietteError,
    shorten,
)
from oubliette.model import DEFAULT_ENGINE, ContainerInfo
from oubliette.validate import check_argv_safe

if TYPE_CHECKING:
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.engines.where import Endpoint
    from oubliette.spec import ContainerSpec

DOCKER_EXEC = ExecFlags()  # every kind so far
# Every engine call has a bound; a call still going after it is a hung engine (exit 3).
QUICK_SECONDS = 60  # list, inspect, rename, start, remove, exec of oubliette's own helpers
STOP_SECONDS = QUICK_SECONDS + 30  # stop: the engine's own grace period (10 s; Apple 5 s) comes first
RUN_SECONDS = 120  # run of an image that is here: create, mount, start
T = TypeVar("T")

class Runtime(abc.ABC):
    """A container engine driven through its CLI."""

    kind: EngineKind  # what this engine is and can do (engines/kinds.py)
    texts: ErrorTexts
    # A named engine (`engines` in the config) sets these with `point_at`; the default
    # engine keeps them, so its CLI reads DOCKER_HOST, contexts and connections as usual.
    engine: str = DEFAULT_ENGINE  # the engine's name in this home
    endpoint: str | None = None  # where a named engine is, for messages
    env: Mapping[str, str] | None = None  # the whole environment of its CLI calls; None: ours
    on_spawn: Callable[[int], None] | None = None  # told the pid of each call (see `journalled`)
    home_endpoint: str | None = None  # where the home recorded its default engine, for hints

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.looks = StartLooks()  # shared with its journalled views (a refresh's swaps)

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def display_name(self) -> str:
        return self.kind.display_name

    @property
    def can_rename(self) -> bool:
        return self.kind.can_rename

    def journalled(self, *records: Callable[[int], None]) -> Runtime:
        """This runtime, with the pid of every engine call it starts told to `records` (a
        container swap's journals: after a SIGKILL, the next command waits for those calls)."""
        import copy

        def told(pid: int) -> None:
            for record in records:
                record(pid)

        view = copy.copy(self)
        view.on_spawn = told if records else None
        return view

    def point_at(self, entry: EngineEntry, env: Mapping[str, str]) -> None:
        """Make this a named engine's runtime: every call runs with `env` (its endpoint set)."""
        self.engine, self.endpoint, self.env = entry.name, entry.endpoint, env

    # --- probing ---------------------------------------------------------------

    def version_text(self) -> str | None:
        """The CLI's own `--version` line (every engine has one), for `doctor`."""

        try:
            result = process.capture([self.binary, "--version"], timeout=30, env=self.env)
        except process.ProcessError:
            return None
        lines = result.stdout.strip().splitlines()
        return lines[0] if result.ok and lines else None

    @abc.abstractmethod
    def is_running(self) -> bool:
        """One cheap call: is the engine installed and its daemon/service up?"""

    def health(self) -> list[tuple[str, bool | None, str]]:
        """`doctor`'s checks beyond answering, once it answers: (what, passed or None for
        could not tell, detail). A cluster checks its permissions and storage class."""
        return []

    # --- images ----------------------------------------------------------------

    @abc.abstractmethod
    def image_id(self, ref: str) -> str | None:
        """The local image's id (`sha256:...`), or None when it is not present."""

    def image_exists(self, ref: str) -> bool:
        return self.image_id(ref) is not None

    @abc.abstractmethod
    def pull(self, ref: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
        """Pull with the engine's own progress on `out`/`err`; raise a PullError."""

    def warm(self, ref: str) -> str:  # noqa: ARG002 - the interface; kinds whose client does not pull, override it
        """Pull `ref` where this engine's containers will run, ahead of them (init: a
        cluster's nodes); says what was done. Other kinds pull through `pull`."""
        raise OublietteError(f"{self.display_name} pulls images through `pull`")

    def pull_command(self, ref: str) -> str:
        """The manual command a user can try, for hints."""
        return self.texts.pull_command.format(image=ref)

    # --- containers ------------------------------------------------------------

    @abc.abstractmethod
    def run(self, spec: ContainerSpec) -> str:
        """Create and start a detached container; return its id."""

    @abc.abstractmethod
    def start(self, name: str) -> None:
        """Start an existing, stopped container."""

    @abc.abstractmethod
    def stop(self, names: Sequence[str]) -> None:
        """Stop containers (one engine call)."""

    @abc.abstractmethod
    def remove(self, names: Sequence[str], force: bool = False) -> None:
        """Remove containers (one engine call)."""

    def rename(self, old: str, new: str) -> None:  # noqa: ARG002 - the interface; kinds that can, override it
        """Only kinds with `can_rename`; the core asks the kind before it calls this."""
        raise OublietteError(f"{self.display_name} cannot rename containers")

    def unpause(self, name: str) -> None:
        """Resume a paused container (only engines that pause ever report `paused`)."""
        self._call([self.binary, "unpause", check_argv_safe(name)])

    def image_ids(self, containers: Sequence[ContainerInfo], refs: Sequence[str]
                  ) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """The image id each container runs (by name) and each reference resolves to
        locally (None: not here). Adapters answer in as few calls as their CLI allows;
        this default costs one call per reference (listings already carry image ids)."""
        return ({c.name: c.image_id for c in containers}, {ref: self.image_id(ref) for ref in refs})

    def remove_image(self, image_id: str) -> bool:  # noqa: ARG002 - the interface; kinds that can, override it
        """Remove an image no container uses, never forced; False when something still uses it."""
        return False

    def tag(self, source: str, target: str) -> None:  # noqa: ARG002 - the interface; kinds that can, override it
        """Give a local image another name (engines without rename keep the old image this way)."""
        raise OublietteError(f"{self.display_name} does not tag images here")

    def untag(self, ref: str) -> None:  # noqa: ARG002 - the interface; kinds that can, override it
        """Remove one name of a local image."""
        raise OublietteError(f"{self.display_name} does not untag images here")

    @abc.abstractmethod
    def list_containers(self, label: str, include_stopped: bool = False) -> list[ContainerInfo]:
        """Containers carrying `label`, running only unless `all`; one engine call."""

    @abc.abstractmethod
    def inspect(self, name: str) -> ContainerInfo | None:
        """One container by name, or None when there is none."""

    def inspect_many(self, names: Sequence[str]) -> list[ContainerInfo]:
        """Several containers (missing ones left out); adapters whose CLI takes several
        names do it in one call."""
        return [info for info in map(self.inspect, names) if info is not None]

    def logs_argv(self, name: str, follow: bool = False, lines: int | None = None) -> list[str]:
        """`logs` of a container with the kind's own flags (`container logs` passes it through)."""
        argv = [self.binary, "logs"]
        if follow:
            argv.append("--follow")
        if lines is not None:
            argv += [self.kind.tail_flag, str(lines)]
        return [*argv, check_argv_safe(name)]

    @abc.abstractmethod
    def logs_tail(self, name: str, lines: int = 5) -> str:
        """The last lines a container printed, to explain why it stopped."""

    def exec_argv(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
                  workdir: str | None = None, interactive: bool = True, user: str | None = None) -> list[str]:
        """The argv that runs `command` in a container, with the kind's own exec flags."""
        return exec_argv(self.binary, name, command, tty, env, workdir, interactive, user, self.kind.exec_flags)

    def exec(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
             workdir: str | None = None, user: str | None = None) -> int:
        """Run a command in the container with the terminal attached; its exit code."""
        from oubliette.engines import attached

        argv = self.exec_argv(name, command, tty=tty, env=env, workdir=workdir, user=user)
        try:
            return attached.interactive(argv, env=self.env)
        except process.BinaryMissing:
            raise self.missing_binary() from None

    def exec_first(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
                   workdir: str | None = None, user: str | None = None) -> tuple[int, str | None]:
        """`exec` without looking at the container first; (exit code, refusal): the engine's
        error line, not shown, when it seems to have refused to run it (no such container,
        not running, unreachable)."""
        from oubliette.engines import attached

        argv = self.exec_argv(name, command, tty=tty, env=env, workdir=workdir, user=user)
        try:
            return attached.interactive_unless_refused(argv, self.texts.refuses_exec, env=self.env)
        except process.BinaryMissing:
            raise self.missing_binary() from None

    def exec_capture(self, name: str, command: Sequence[str], user: str | None = None,
                     timeout: float = QUICK_SECONDS) -> process.Result:
        """Run one of oubliette's own helpers (or a type's setup) in the container and capture its output."""
        return self._call(self.exec_argv(name, command, tty=False, interactive=False, user=user), check=False,
                          timeout=timeout)

    def exec_result(self, result: process.Result) -> process.Result:
        """A captured exec of a user's command, as the command's own result (a kind whose CLI
        adds words of its own, or refuses in them, overrides this)."""
        return result

    # --- shared machinery ------------------------------------------------------

    def classify(self, result: process.Result, image: str | None = None) -> EngineError:
        """Turn a failed call into the matching classified error; one about an engine that
        cannot be reached names it and where it is, with a hint that fits how it is reached."""
        error = classify_failure(result, self.texts, image)
        if isinstance(error, EngineUnavailableError):
            from oubliette.engines.where import ssh_stderr

            detail = error.detail or error.message
            self.unreachable(error, ssh_stderr(detail) if (self.where().url or "").startswith("ssh://") else detail,
                             detail)
        return error

    def where(self) -> Endpoint:
        """Where this engine is: a named engine's endpoint, or what the default one's CLI reads."""
        from oubliette.engines.where import Endpoint, default_endpoint  # error paths and records only

        if self.engine != DEFAULT_ENGINE:
            text = self.endpoint or self.display_name
            return Endpoint(text, None, text if "://" in text else None)
        return default_endpoint(self.kind, os.environ if self.env is None else self.env)

    def unreachable(self, error: EngineUnavailableError, said: str, detail: str = "") -> EngineUnavailableError:
        """Word `error` for this engine not answering: which engine, where, and what to check."""
        from oubliette.engines.where import unreachable_hint

        where = self.where()
        if self.engine != DEFAULT_ENGINE:
            error.message = shorten(f"the engine {self.engine!r} ({where}) cannot be reached: {said}")
        else:
            error.message = shorten(f"{where.of(self.display_name)} cannot be reached: {said}")
        error.args = (error.message,)
        error.hint = unreachable_hint(self.kind, where, self.texts.start_hint, detail or said)
        if self.engine != DEFAULT_ENGINE:
            error.hint += "; its projects wait for it, the other engines' projects work meanwhile"
        elif self.home_endpoint and self.home_endpoint != str(where):
            error.hint += f" (this home's engine was recorded at {self.home_endpoint})"
        return error

    # --- volumes and endpoints (engines that can be named engines) -----------------

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:  # noqa: ARG002 - the interface; kinds that can, override it
        """Create a named volume unless it exists (a volume workspace, on first start)."""
        raise self.no_volumes()

    def remove_volume(self, name: str) -> bool:  # noqa: ARG002 - the interface; kinds that can, override it
        """Remove a named volume; False when there is none."""
        raise self.no_volumes()

    def no_volumes(self) -> OublietteError:
        return OublietteError(f"{self.display_name} keeps no volume workspaces here",
                              hint="a volume workspace lives on a named docker or podman engine; check the "
                                   "project's \"engine\" and \"volume\" in its metadata.json")

    def context_endpoint(self, context: str) -> str | None:  # noqa: ARG002 - the interface; kinds that can, override it
        """The URL a named context/connection points at (read by the CLI, no engine call)."""
        return None

    def missing_binary(self) -> EngineUnavailableError:
        """The error for an engine binary that is not installed."""
        where = (f"set {self.kind.binary_env} or put `{self.kind.binary}` on PATH" if self.kind.binary_env
                 else "on PATH")
        return EngineUnavailableError(f"{self.kind.binary} not found (looked for {self.binary!r}; {where})",
                                      hint=self.kind.install_hint)

    def _call(self, argv: Sequence[str], check: bool = True, image: str | None = None,
              timeout: float = QUICK_SECONDS, stdin: bytes | None = None) -> process.Result:
        """Run one engine call within `timeout` seconds (STOP_SECONDS, RUN_SECONDS for those);
        `stdin`: a small input (a manifest) for it to read."""

        try:
            result = process.capture(argv, timeout=timeout, env=self.env, on_spawn=self.on_spawn, stdin=stdin)
        except process.BinaryMissing:
            raise self.missing_binary() from None
        except process.TimedOut:
            command = " ".join(argv[:3])
            error = self.unreachable(EngineUnavailableError("", argv=list(argv)),
                                     f"`{command}` did not answer within {timeout:.0f} s")
            error.hint = (f"{(error.hint or '').rstrip('.')} (restarting it if it is stuck); "
                          "OUBLIETTE_DEBUG=1 shows every engine call")
            raise error from None
        if result.overflow and len(result.stdout) >= process.OUTPUT_LIMIT // 2:
            command = " ".join(argv[:3])
            raise EngineOutputError(
                f"`{command}` printed more than {process.OUTPUT_LIMIT // 2**20} MB; oubliette stopped reading it",
                hint=f"check that `{self.binary}` is {self.display_name} (not a wrapper printing without end); "
                     "OUBLIETTE_DEBUG=1 shows every engine call", argv=list(argv), returncode=result.returncode)
        if check and not result.ok:
            raise self.classify(result, image)
        return result

    def parse(self, result: process.Result, parser: Callable[[str], T]) -> T:
        """Parse an engine's output; output it cannot read is an error naming the command."""
        try:
            return parser(result.stdout)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
            command = " ".join(result.argv[:3])
            raise EngineOutputError(
                f"`{command}` printed output oubliette cannot read ({type(exc).__name__}: {str(exc)[:120]})",
                hint=f"check that `{self.binary}` is {self.display_name} in a supported version "
                     "(not a wrapper for another engine); OUBLIETTE_DEBUG=1 shows every engine call",
                argv=result.argv, returncode=result.returncode, stderr=result.stderr) from None


def exec_argv(binary: str, name: str, command: Sequence[str], tty: bool,
              env: Mapping[str, str] | None = None, workdir: str | None = None,
              interactive: bool = True, user: str | None = None, flags: ExecFlags = DOCKER_EXEC) -> list[str]:
    argv = [binary, "exec"]
    if interactive:
        argv.append(flags.interactive)
    if tty:
        argv.append(flags.tty)
    if user is not None:
        argv += [flags.user, check_argv_safe(user, "user")]
    for key, value in (env or {}).items():
        argv += [flags.env, f"{key}={value}"]
    if workdir:
        argv += [flags.workdir, workdir]
    return argv + [check_argv_safe(name), *command]
