"""Choose the engine: --runtime, else OUBLIETTE_RUNTIME, else config, else auto.

Auto looks at every registered engine. It costs nothing when only one is installed
(a dead engine then shows up as a classified error of the real call); with several
installed it probes them in `PROBE_ORDER` and uses the first that answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from oubliette.engines.base import Runtime
from oubliette.engines.kinds import ENGINES, PROBE_ORDER, RUNTIME_CHOICES, make_runtime
from oubliette.errors import ConfigError, EngineUnavailableError

__all__ = ["detect_runtime", "make_runtime", "requested_runtime", "which"]


def requested_runtime(flag: str | None, config_value: str | None, env: Mapping[str, str] = os.environ) -> str:
    """The runtime asked for, by precedence; `auto` when nobody asked."""
    env_value = env.get("OUBLIETTE_RUNTIME")
    if not flag and env_value and env_value not in RUNTIME_CHOICES:
        raise ConfigError(
            f"invalid OUBLIETTE_RUNTIME {env_value!r}: expected one of {', '.join(RUNTIME_CHOICES)}",
            hint=f"unset it or set it to {', '.join(RUNTIME_CHOICES[:-1])} or {RUNTIME_CHOICES[-1]}",
        )
    return flag or env_value or config_value or "auto"


def which(name: str, search: str) -> str | None:
    """shutil.which without importing shutil: this runs on every command."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def detect_runtime(
    choice: str = "auto",
    env: Mapping[str, str] = os.environ,
    note: Callable[[str], None] | None = None,
) -> Runtime:
    """The runtime for `choice`; for auto, the one installed engine or the first that answers."""
    if choice != "auto":
        return make_runtime(choice, env)

    search = env.get("PATH", os.defpath)
    installed = [name for name in PROBE_ORDER if which(ENGINES[name].binary_path(env), search)]
    binaries = " or ".join(f"`{ENGINES[name].binary_path(env)}`" for name in PROBE_ORDER)
    if not installed:
        raise EngineUnavailableError(
            f"no container engine found (looked for {binaries} on PATH)",
            hint=f"install Docker, Podman or Apple's container CLI, or choose one with --runtime "
                 f"{'|'.join(ENGINES)}")
    if len(installed) == 1:
        return make_runtime(installed[0], env)
    for name in installed:
        runtime = make_runtime(name, env)
        if runtime.is_running():
            if note:
                skipped = [ENGINES[n].display_name for n in installed[:installed.index(name)]]
                why = f"{', '.join(skipped)} did not answer" if skipped else "the first that answered"
                note(f"Using {runtime.display_name} ({why}; installed: "
                     f"{', '.join(ENGINES[n].binary_path(env) for n in installed)}).")
            return runtime
    raise EngineUnavailableError(
        f"no container engine is running (probed {', '.join(ENGINES[n].display_name for n in installed)})",
        hint="start one (Docker, or `container system start`), or choose one with --runtime")
