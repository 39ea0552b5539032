"""What a start asks an engine to run: one project container, as a `ContainerSpec`.

Its own leaf module, apart from model.py: only commands that start a container build one,
and `container list`, which imports model.py, need not pay for defining it (~0.3 ms).
"""

# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every start).
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

_NO_ENTRIES: Mapping[str, str] = MappingProxyType({})


class ContainerSpec(NamedTuple):
    """Everything needed to run one project container."""

    name: str
    image: str
    labels: Mapping[str, str] = _NO_ENTRIES
    mounts: Sequence[tuple[str, str]] = ()  # (host directory, target): bind mounts
    volumes: Sequence[tuple[str, str]] = ()  # (named volume, target) on the engine
    workdir: str | None = None
    env: Mapping[str, str] = _NO_ENTRIES
    command: Sequence[str] = ()
    init: bool = True
    # From the project's type (store/types.py) and its own settings:
    ro_mounts: Sequence[tuple[str, str]] = ()  # (host path, target), read-only
    ports: Sequence[str] = ()  # "IP:HOST:CONTAINER[/udp]", published
    cpus: float | None = None
    memory: str | None = None  # "4g"
    hostname: str | None = None  # the project's name, as a hostname
    ssh_agent: str | None = None  # the host's agent socket, forwarded (its own flag on Apple)
    setup: Sequence[str] = ()  # run as root in the new container before it counts as started
    setup_log: str | None = None  # the project's log on the host, where setup's output goes
