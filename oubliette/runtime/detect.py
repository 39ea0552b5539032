"""Choose the engine: --runtime, else OUBLIETTE_RUNTIME, else config, else auto.

Auto costs nothing when only one engine is installed (a dead engine then shows up as
a classified error of the real call); only with both installed does it probe, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from oubliette.config import RUNTIME_CHOICES
from oubliette.errors import ConfigError, EngineUnavailableError
from oubliette.runtime.base import Runtime


def requested_runtime(flag: str | None, config_value: str | None, env: Mapping[str, str] = os.environ) -> str:
    """The runtime asked for, by precedence; `auto` when nobody asked."""
    env_value = env.get("OUBLIETTE_RUNTIME")
    if not flag and env_value and env_value not in RUNTIME_CHOICES:
        raise ConfigError(
            f"invalid OUBLIETTE_RUNTIME {env_value!r}: expected one of {', '.join(RUNTIME_CHOICES)}",
            hint="unset it or set it to auto, docker or apple",
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


def make_runtime(name: str, env: Mapping[str, str] = os.environ) -> Runtime:
    if name == "docker":
        from oubliette.runtime.docker import DockerRuntime

        return DockerRuntime()
    if name == "apple":
        from oubliette.runtime.apple import AppleContainerRuntime, default_binary

        return AppleContainerRuntime(default_binary(env))
    raise ValueError(name)


def detect_runtime(
    choice: str = "auto",
    env: Mapping[str, str] = os.environ,
    note: Callable[[str], None] | None = None,
) -> Runtime:
    """The runtime for `choice`; for auto, the one installed engine or a single probe."""
    if choice != "auto":
        return make_runtime(choice, env)

    apple_binary = env.get("APPLE_CONTAINER_BINARY") or "container"  # as apple.default_binary()
    search = env.get("PATH", os.defpath)
    has_docker = which("docker", search) is not None
    has_apple = which(apple_binary, search) is not None
    if has_docker and not has_apple:
        return make_runtime("docker", env)
    if has_apple and not has_docker:
        return make_runtime("apple", env)
    if not has_docker and not has_apple:
        raise EngineUnavailableError(
            f"no container engine found (looked for `docker` and `{apple_binary}` on PATH)",
            hint="install Docker or Apple's container CLI, or choose one with --runtime docker|apple",
        )

    apple = make_runtime("apple", env)
    if apple.is_running():
        chosen = apple
        why = "its system service is running"
    else:
        docker = make_runtime("docker", env)
        if not docker.is_running():
            raise EngineUnavailableError(
                "no container engine is running (probed `container system status` and `docker version`)",
                hint="start Docker, or run `container system start`; or choose one with --runtime",
            )
        chosen = docker
        why = "the container system service is not running"
    if note:
        note(f"Using {chosen.display_name} ({why}; both docker and container are installed).")
    return chosen
