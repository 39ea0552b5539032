"""Named engines (`"engines"` in the config): where a pinned project's container lives.

A project without an engine uses the *default* engine: `--runtime`, OUBLIETTE_RUNTIME,
the config's "runtime" or auto, with the engine CLI's own DOCKER_HOST, context or
connection passed through. A project pinned to a named engine uses that engine
whatever the shell says: its endpoint is set in the environment of every call to the
engine's CLI (DOCKER_HOST/DOCKER_CONTEXT, CONTAINER_HOST/CONTAINER_CONNECTION), the
others cleared. Loaded only when the config has "engines" or a command names one, so
`container list` in a home without named engines never pays for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from oubliette.engines.kinds import ENGINES
from oubliette.model import DEFAULT_ENGINE

__all__ = ["EngineEntry", "parse_engines"]

BIND, VOLUME = "bind", "volume"
WORKSPACE_KINDS = (BIND, VOLUME)
ENGINE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
CONTEXT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
HOST_RE = re.compile(r"(unix|tcp|ssh|npipe)://[\x21-\x7e]+")
LOCAL_SCHEMES = ("unix://", "npipe://")
NAMEABLE = tuple(name for name, kind in ENGINES.items() if kind.nameable and kind.volumes)  # docker, podman, ...
CLUSTERS = tuple(name for name, kind in ENGINES.items() if kind.cluster)  # kubernetes
CLUSTER_KEYS = ("runtime", "context", "namespace", "kubeconfig", "storage_class", "workspace_size")
DNS_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")  # a namespace, a storage class
QUANTITY_RE = re.compile(r"[1-9][0-9]{0,5}(Ki|Mi|Gi|Ti|K|M|G|T)")


class EngineEntry(NamedTuple):
    """One entry of `"engines"`: a runtime and at most one endpoint."""

    name: str
    runtime: str  # a key of ENGINES that can be named (docker, podman)
    host: str | None = None  # an endpoint URL: unix://, tcp://, ssh://
    context: str | None = None  # a docker context or podman connection, by name
    workspace: str | None = None  # "bind" | "volume"; None: decided by where the endpoint is
    # a cluster (kubernetes) only: where in it, and its workspaces' claims
    namespace: str | None = None
    kubeconfig: str | None = None
    storage_class: str | None = None
    workspace_size: str | None = None

    @property
    def endpoint(self) -> str:
        """Where it is, for messages."""
        kind = ENGINES[self.runtime]
        if kind.cluster:
            context = f"context {self.context}" if self.context else "the kubeconfig's current context"
            return context + (f", namespace {self.namespace}" if self.namespace else "")
        if self.host:
            return self.host
        if self.context:
            return f"{kind.context_key} {self.context}"
        return f"the local {kind.display_name}"

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with this engine's endpoint set and the shell's other endpoint settings cleared;
        with no endpoint, the engine's local default (docker's `default` context)."""
        kind = ENGINES[self.runtime]
        if kind.cluster:  # context and namespace are flags (kubectl reads no variable for them)
            return {**base, "KUBECONFIG": os.path.expanduser(self.kubeconfig)} if self.kubeconfig else dict(base)
        env = {k: v for k, v in base.items() if k not in (kind.host_env, kind.context_env)}
        if self.host and kind.host_env:
            env[kind.host_env] = self.host
        elif self.context and kind.context_env:
            env[kind.context_env] = self.context
        elif self.runtime == "docker":
            env["DOCKER_CONTEXT"] = "default"
        return env

    def workspace_kind(self, resolve_context: Callable[[str], str | None]) -> str:
        """`bind` or `volume`: as configured, else `volume` for an engine that is not on a
        local socket (`resolve_context` turns a context/connection name into its URL)."""
        if ENGINES[self.runtime].cluster:
            return VOLUME  # a claim
        if self.workspace:
            return self.workspace
        if self.host:
            return BIND if self.host.startswith(LOCAL_SCHEMES) else VOLUME
        if self.context:
            url = resolve_context(self.context)
            if url is None:
                from oubliette.errors import ConfigError

                raise ConfigError(
                    f"cannot tell where the engine {self.name!r} ({self.endpoint}) is: the "
                    f"{ENGINES[self.runtime].context_key} is not known to `{ENGINES[self.runtime].binary}`",
                    hint=f'create it, or say "workspace": "bind" or "volume" in engines.{self.name}')
            return BIND if url.startswith(LOCAL_SCHEMES) else VOLUME
        return BIND


def parse_engines(value: Any, key_error: Callable[[str, str], Exception]) -> dict[str, EngineEntry]:
    """Validate the `"engines"` object; `key_error(key, problem)` makes the error naming the key."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise key_error("engines", "expected an object of engine name -> {\"runtime\": ..., \"host\": ...}")
    engines = {}
    for name, entry in value.items():
        key = f"engines.{name}"
        if name == DEFAULT_ENGINE or not ENGINE_NAME_RE.fullmatch(name):
            raise key_error(key, "invalid engine name: use up to 40 lowercase letters, digits, '.', '_' or '-' "
                                 f"(and not {DEFAULT_ENGINE!r}, the name of the engine unpinned projects use)")
        if not isinstance(entry, dict):
            raise key_error(key, "expected an object such as {\"runtime\": \"docker\", \"host\": \"ssh://me@box\"}")
        engines[name] = _parse_entry(name, entry, key, key_error)
    return engines


def _parse_entry(name: str, entry: dict[str, Any], key: str, key_error: Callable[[str, str], Exception]) -> EngineEntry:
    runtime = entry.get("runtime")
    if runtime in CLUSTERS:
        return _parse_cluster(name, entry, key, key_error)
    if runtime not in NAMEABLE:
        raise key_error(f"{key}.runtime", f"expected one of {', '.join(NAMEABLE)}, got {runtime!r}"
                        + (" (Apple's container CLI drives this Mac's engine only)" if runtime == "apple" else ""))
    kind = ENGINES[runtime]
    allowed = {"runtime", "host", "workspace", *([kind.context_key] if kind.context_key else [])}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise key_error(f"{key}.{unknown[0]}", f"unknown key for a {runtime} engine (expected "
                                               f"{', '.join(sorted(allowed))})")
    host, context, workspace = entry.get("host"), entry.get(kind.context_key or ""), entry.get("workspace")
    if host is not None and not (isinstance(host, str) and HOST_RE.fullmatch(host)):
        raise key_error(f"{key}.host", f"expected a URL such as ssh://me@box, tcp://host:2376 or "
                                       f"unix:///path/to.sock, got {host!r}")
    if context is not None and not (isinstance(context, str) and CONTEXT_NAME_RE.fullmatch(context)):
        raise key_error(f"{key}.{kind.context_key}", f"expected the name of a {runtime} {kind.context_key}, "
                                                     f"got {context!r}")
    if host is not None and context is not None:
        raise key_error(key, f"give \"host\" or \"{kind.context_key}\", not both")
    if workspace is not None and workspace not in WORKSPACE_KINDS:
        raise key_error(f"{key}.workspace", f"expected \"bind\" or \"volume\", got {workspace!r}")
    return EngineEntry(name, runtime, host, context, workspace)




def _parse_cluster(name: str, entry: dict[str, Any], key: str,
                   key_error: Callable[[str, str], Exception]) -> EngineEntry:
    """A Kubernetes engine: a context and namespace of a kubeconfig, and its claims' class and size."""
    unknown = sorted(set(entry) - set(CLUSTER_KEYS))
    if unknown:
        raise key_error(f"{key}.{unknown[0]}", f"unknown key for a {entry['runtime']} engine (expected "
                                               f"{', '.join(sorted(CLUSTER_KEYS))})")
    values = {field: entry.get(field) for field in CLUSTER_KEYS[1:]}
    checks = {"context": (CONTEXT_NAME_RE, "the name of a context in the kubeconfig"),
              "namespace": (DNS_NAME_RE, "a namespace name (lowercase letters, digits, '-', '.')"),
              "kubeconfig": (re.compile(r"[^\x00-\x1f]{1,4096}"), "the path of a kubeconfig file"),
              "storage_class": (DNS_NAME_RE, "a storage class name"),
              "workspace_size": (QUANTITY_RE, 'a size such as "10Gi"')}
    for field, (pattern, expected) in checks.items():
        value = values[field]
        if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)
                                      and not value.startswith("-")):
            raise key_error(f"{key}.{field}", f"expected {expected}, got {value!r}")
    return EngineEntry(name, entry["runtime"], context=values["context"], workspace="volume",
                       namespace=values["namespace"], kubeconfig=values["kubeconfig"],
                       storage_class=values["storage_class"], workspace_size=values["workspace_size"])
