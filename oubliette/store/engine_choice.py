"""The home's default engine, decided once: `data/engine.json`.

Auto-detection runs only while a home has no record; after that the home uses the
recorded kind, so an engine that is down for a moment is an error naming it, never a
quiet switch to another engine (a project's container would be looked for, pulled
and run where it is not). `kinds` lists every kind the home's projects were made on,
so listings look at each without reading every project's metadata.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import json
import os
from typing import NamedTuple

from oubliette.engines.kinds import ENGINES
from oubliette.errors import ConfigError
from oubliette.store.files import os_error, private_dir, read_home_file, write_atomic

RECORD_LIMIT = 16 * 1024


class EngineChoice(NamedTuple):
    """The recorded default: its kind, where it was (as the user had set it), how it was chosen."""

    runtime: str  # a key of ENGINES
    endpoint: str  # for messages: "unix:///var/run/docker.sock", "context work (DOCKER_CONTEXT)"
    how: str  # "detected", "--runtime", "the config", "OUBLIETTE_RUNTIME", "init --runtime"
    since: str  # ISO time
    kinds: tuple[str, ...]  # every kind the home's projects were made on, the first recorded first


def choice_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, "data", "engine.json")


def read_choice(home: str | os.PathLike[str]) -> EngineChoice | None:
    """The home's recorded default engine; None before the first command that needed one.
    A damaged record is an error (never a reason to detect again and perhaps switch)."""
    path = choice_path(home)
    try:
        data = json.loads(read_home_file(path, RECORD_LIMIT))
        runtime, kinds = data["runtime"], data.get("kinds") or [data["runtime"]]
        if runtime not in ENGINES or not isinstance(kinds, list) or not set(kinds) <= set(ENGINES):
            raise ValueError(f"unknown engine kind {runtime!r}")
        return EngineChoice(runtime, str(data.get("endpoint", ""))[:300], str(data.get("how", ""))[:40],
                            str(data.get("since", ""))[:40], tuple(dict.fromkeys([*kinds, runtime])))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ConfigError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]})",
                          hint='write {"runtime": "docker"} (or podman, apple: the engine this home\'s projects '
                               "run on) into it, or delete it and choose with `oubliette init --runtime NAME`"
                          ) from None


def record_choice(home: str | os.PathLike[str], runtime: str, endpoint: str, how: str,
                  previous: EngineChoice | None = None) -> EngineChoice:
    """Make `runtime` the home's default engine (kinds used before are kept)."""
    from datetime import datetime, timezone  # only when recording: every command reads the record

    kinds = tuple(dict.fromkeys([*(previous.kinds if previous else ()), runtime]))
    choice = EngineChoice(runtime, endpoint, how, datetime.now(timezone.utc).isoformat(timespec="seconds"), kinds)
    _write(home, choice)
    return choice


def add_kind(home: str | os.PathLike[str], choice: EngineChoice, runtime: str) -> EngineChoice:
    """Note that a project was made on `runtime` (another kind than the default)."""
    if runtime in choice.kinds:
        return choice
    choice = choice._replace(kinds=(*choice.kinds, runtime))
    _write(home, choice)
    return choice


def _write(home: str | os.PathLike[str], choice: EngineChoice) -> None:
    path = choice_path(home)
    try:
        private_dir(os.path.dirname(path))
        write_atomic(path, json.dumps({**choice._asdict(), "kinds": list(choice.kinds)}, indent=2) + "\n")
    except OSError as exc:
        raise os_error("recording this home's engine", exc) from None
