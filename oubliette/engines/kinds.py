"""Every engine oubliette can drive, described once.

Config validation, the `--runtime` choice, auto-detection and the docs read this
table; adding an engine is one adapter module plus one line here. A leaf module:
every command imports it, so it holds data only and imports adapters lazily.
"""

# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from oubliette.engines.base import Runtime


class ExecFlags(NamedTuple):
    """How an engine's `exec` takes each option (every engine so far spells them alike)."""

    interactive: str = "--interactive"
    tty: str = "--tty"
    user: str = "--user"
    env: str = "--env"
    workdir: str = "--workdir"


class EngineKind(NamedTuple):
    """One kind of engine and what it can do: the core asks these fields, never the adapter's class."""

    name: str  # what --runtime, OUBLIETTE_RUNTIME and "runtime" take
    display_name: str
    binary: str  # the CLI looked up on PATH
    binary_env: str | None  # an environment variable that names another binary
    adapter: str  # "module:Class", imported only when the engine is used
    pull_command: str  # the manual pull a hint suggests
    install_hint: str  # what the error for a missing binary suggests
    host_env: str | None = None  # the CLI's variable for an endpoint URL (a named engine's "host")
    context_env: str | None = None  # ... and for a named endpoint (docker context, podman connection)
    context_key: str | None = None  # what a named engine entry calls that named endpoint
    can_rename: bool = True  # refresh parks the old container under another name (else: kept image name)
    # refresh runs the new container beside the old one, which goes only once the new one runs
    # (a cluster: the pod is never stopped first; one that ended cannot be started again)
    replace_beside: bool = False
    volumes: bool = True  # named volumes: the engine can hold volume workspaces
    init_flag: str | None = "--init"  # runs an init as PID 1 (reaps the sessions' orphans)
    exec_flags: ExecFlags = ExecFlags()
    name_style: str = "docker"  # how names and label values are mapped (model.engine_name)
    tail_flag: str = "--tail"  # `logs`: the last N lines
    # `exec` inherits the container's environment and, when the container is not running,
    # fails before running anything with a line ErrorTexts.exec_refused knows: sessions exec
    # first and look at the container only when refused (one engine call, not two)
    exec_first: bool = True
    # `run` refuses plainly when the name is taken or the image is missing (docker and podman
    # with --pull=never): a start runs first and looks at what is there only when refused
    run_first: bool = True
    # A cluster (Kubernetes): only ever a named engine, never the default or auto-detected;
    # its workspaces are claims, and its nodes pull images when a pod starts, not the client
    cluster: bool = False
    # How long after `run` returns a start looks at the new container, to catch one whose
    # command cannot start (ops/swap.py). Docker registers such a death 20-77 ms after `run`
    # returned, so the one look begins 35 ms in (it reads the state ~50 ms in). Podman's
    # look read it at once in 120 of 120 tries here, 60 of them under full CPU load.
    start_window: float = 0.035
    # the listing says which image each container runs (by id); Docker's `ps` does not, so a
    # refresh reads its containers by name with one inspect instead (one call, not two)
    listing_image_ids: bool = True
    # the words before N of a line `WORDS N` the CLI adds after a command that failed with
    # exit code N: its own, not the command's, so never shown (the exit code says it)
    exec_trailer: str | None = None

    @property
    def client_pulls(self) -> bool:
        """Images are pulled through this CLI before a start (else the nodes pull them)."""
        return not self.cluster

    def binary_path(self, env: Mapping[str, str] = os.environ) -> str:
        return (env.get(self.binary_env) if self.binary_env else None) or self.binary

    @property
    def nameable(self) -> bool:
        """Can be a named engine in the config: it has an endpoint variable to point its CLI with."""
        return self.host_env is not None or self.cluster


ENGINES: dict[str, EngineKind] = {
    "docker": EngineKind("docker", "Docker", "docker", None,
                         "oubliette.engines.docker:DockerRuntime", "docker pull {image}",
                         "install Docker (https://docs.docker.com/get-docker/) "
                         "or choose another runtime with --runtime",
                         "DOCKER_HOST", "DOCKER_CONTEXT", "context", listing_image_ids=False),
    "podman": EngineKind("podman", "Podman", "podman", None,
                         "oubliette.engines.podman:PodmanRuntime", "podman pull {image}",
                         "install Podman (`apt-get install podman catatonit`, or https://podman.io), "
                         "or choose another runtime with --runtime",
                         "CONTAINER_HOST", "CONTAINER_CONNECTION", "connection", start_window=0.0),
    "apple": EngineKind("apple", "Apple container", "container", "APPLE_CONTAINER_BINARY",
                        "oubliette.engines.apple:AppleContainerRuntime", "container image pull {image}",
                        "install it from https://github.com/apple/container/releases, or use --runtime docker",
                        can_rename=False, volumes=False, tail_flag="-n", exec_first=False,
                        run_first=False),
    "kubernetes": EngineKind("kubernetes", "Kubernetes", "kubectl", None,
                             "oubliette.engines.kubernetes:KubernetesRuntime",
                             "the cluster's nodes pull {image} when a pod starts",
                             "install kubectl (https://kubernetes.io/docs/tasks/tools/), within one minor "
                             "version of the cluster", replace_beside=True, init_flag=None,
                             name_style="dns", exec_first=False, run_first=False, cluster=True,
                             exec_trailer="command terminated with exit code "),
}

# Auto's order when several engines are installed: the first whose service answers.
# Podman needs no service, so it comes last: a Docker user who also has podman keeps Docker.
PROBE_ORDER = ("apple", "docker", "podman")
RUNTIME_CHOICES = ("auto", *(name for name, kind in ENGINES.items() if not kind.cluster))


def make_runtime(name: str, env: Mapping[str, str] = os.environ) -> "Runtime":
    """An adapter for the engine `name` (a key of ENGINES)."""
    import importlib

    kind = ENGINES[name]
    module, cls = kind.adapter.split(":")
    runtime: Runtime = getattr(importlib.import_module(module), cls)(kind.binary_path(env))
    return runtime
