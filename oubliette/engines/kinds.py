"""Every engine oubliette can drive, described once.

Config validation, the `--runtime` choice, auto-detection and the docs read this
table; adding an engine is one adapter module plus one line here. A leaf module:
every command imports it, so it holds data only and imports adapters lazily.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime


class EngineKind(NamedTuple):
    name: str  # what --runtime, OUBLIETTE_RUNTIME and "runtime" take
    display_name: str
    binary: str  # the CLI looked up on PATH
    binary_env: str | None  # an environment variable that names another binary
    adapter: str  # "module:Class", imported only when the engine is used
    pull_command: str  # the manual pull a hint suggests
    host_env: str | None = None  # the CLI's variable for an endpoint URL (a named engine's "host")
    context_env: str | None = None  # ... and for a named endpoint (docker context, podman connection)
    context_key: str | None = None  # what a named engine entry calls that named endpoint

    def binary_path(self, env: Mapping[str, str] = os.environ) -> str:
        return (env.get(self.binary_env) if self.binary_env else None) or self.binary


ENGINES: dict[str, EngineKind] = {
    "docker": EngineKind("docker", "Docker", "docker", None,
                         "oubliette.engines.docker:DockerRuntime", "docker pull {image}",
                         "DOCKER_HOST", "DOCKER_CONTEXT", "context"),
    "podman": EngineKind("podman", "Podman", "podman", None,
                         "oubliette.engines.podman:PodmanRuntime", "podman pull {image}",
                         "CONTAINER_HOST", "CONTAINER_CONNECTION", "connection"),
    "apple": EngineKind("apple", "Apple container", "container", "APPLE_CONTAINER_BINARY",
                        "oubliette.engines.apple:AppleContainerRuntime", "container image pull {image}"),
}

# Auto's order when several engines are installed: the first whose service answers.
# Podman needs no service, so it comes last: a Docker user who also has podman keeps Docker.
PROBE_ORDER = ("apple", "docker", "podman")
RUNTIME_CHOICES = ("auto", *ENGINES)


def make_runtime(name: str, env: Mapping[str, str] = os.environ) -> Runtime:
    """An adapter for the engine `name` (a key of ENGINES)."""
    import importlib

    kind = ENGINES[name]
    module, cls = kind.adapter.split(":")
    return getattr(importlib.import_module(module), cls)(kind.binary_path(env))
