"""Where an engine is, as the user set it, and what to check when it does not answer.

The default engine's CLI finds its endpoint itself (DOCKER_HOST, a context, podman's
CONTAINER_HOST or connection); an error about it names that setting, so a typo in a
variable is not mistaken for a stopped daemon. The hint fits the way the engine is
reached: a remote host over SSH is not `systemctl start docker`. Read only on error
paths and when a home records its engine: nothing here runs on a command's hot path.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from oubliette.engines.kinds import EngineKind

DOCKER_SOCKET = "unix:///var/run/docker.sock"
_SSH_RE = re.compile(r"ssh://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?")


class Endpoint(NamedTuple):
    """An engine's endpoint: `url` (or a context/connection name), and the setting it came from."""

    text: str  # "unix:///nope", "context work", "local"
    source: str | None = None  # "DOCKER_HOST", "DOCKER_CONTEXT", "the docker CLI's current context"; None: the default
    url: str | None = None  # the URL, when it is one

    def __str__(self) -> str:
        return f"{self.text} ({self.source})" if self.source else self.text

    def of(self, display_name: str) -> str:
        """`Docker at unix:///nope (DOCKER_HOST)`, `Podman (local)`: an engine and where it is."""
        return f"{display_name} at {self}" if self.url else f"{display_name} ({self})"


def default_endpoint(kind: EngineKind, env: Mapping[str, str]) -> Endpoint:
    """Where the default engine's CLI will connect, from the same settings it reads."""
    if kind.host_env and env.get(kind.host_env):
        return Endpoint(env[kind.host_env], kind.host_env, env[kind.host_env])
    if kind.context_env and env.get(kind.context_env):
        return Endpoint(f"{kind.context_key} {env[kind.context_env]}", kind.context_env)
    if kind.name == "docker":
        current = _docker_current_context(env)
        if current and current != "default":
            return Endpoint(f"context {current}", "`docker context use`")
        return Endpoint(DOCKER_SOCKET, None, DOCKER_SOCKET)
    if kind.name == "podman":
        return Endpoint("local")
    return Endpoint("the container system service")


def named_endpoint(kind: EngineKind, host: str | None, context: str | None) -> Endpoint:
    """A named engine's endpoint (the config's `host` or context/connection)."""
    if host:
        return Endpoint(host, None, host)
    if context:
        return Endpoint(f"{kind.context_key} {context}")
    return default_endpoint(kind, {})


def unreachable_hint(kind: EngineKind, endpoint: Endpoint, start_hint: str, detail: str = "") -> str:
    """What to check for an engine that did not answer, by how it is reached."""
    url = endpoint.url or ""
    if url.startswith("ssh://"):
        return ssh_hint(kind, url, detail)
    if url.startswith("tcp://"):
        return f"check that the engine at {url} is up and that this machine can reach it (network, TLS settings)"
    if endpoint.source and url.startswith("unix://"):
        return (f"check that an engine serves {url[len('unix://'):]}, or unset {endpoint.source} "
                f"to use the local {kind.display_name}")
    if endpoint.text.startswith(f"{kind.context_key} ") and kind.context_key:
        name = endpoint.text.split(" ", 1)[1]
        if kind.name == "docker":
            return (f"check it with `docker context inspect {name}`, or use the local engine: "
                    "`docker context use default`")
        return f"check it with `podman system connection list`, or unset {kind.context_env}"
    return start_hint


def ssh_hint(kind: EngineKind, url: str, detail: str) -> str:
    """The fix for an SSH endpoint, from what ssh said (docker passes it on as `stderr=...`)."""
    login = ssh_login(url)
    text = detail.lower()
    if "host key verification failed" in text or "host key for" in text:
        return (f"the host key is not known here (or it changed): check and accept it once with `{login}`, "
                "then run the command again (oubliette never answers ssh's questions for you)")
    if "permission denied" in text:
        return f"the SSH key was refused: load it (`ssh-add`) or name it in ~/.ssh/config, and check `{login}`"
    if "command not found" in text or ("not found" in text and "status 127" in text):
        return (f"`{kind.binary}` is not installed on that host, or not on the PATH of a non-interactive "
                f"SSH login: check `{login} {kind.binary} version`")
    return f"check that `{login} {kind.binary} version` works from this machine without a prompt"


def ssh_login(url: str) -> str:
    """`ssh -p PORT user@host` for an ssh:// URL."""
    match = _SSH_RE.match(url)
    if match is None:
        return f"ssh {url}"
    user, host, port = match.group("user"), match.group("host"), match.group("port")
    return "ssh " + (f"-p {port} " if port else "") + (f"{user}@{host}" if user else host)


def ssh_stderr(detail: str) -> str:
    """What ssh itself said, from docker's `... has exited with exit status 255, ...: stderr=MESSAGE`."""
    _, found, said = detail.rpartition("stderr=")
    return said.strip() or detail if found else detail


def _docker_current_context(env: Mapping[str, str]) -> str | None:
    """The docker CLI's current context from its config file (bounded read; None when unset)."""
    directory = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(directory, "config.json"), "rb") as file:
            data = json.loads(file.read(1 << 20))
    except (OSError, ValueError):
        return None
    current = data.get("currentContext") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None
