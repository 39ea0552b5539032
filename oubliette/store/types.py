"""Container types as objects: an image and what a person needs to live in its container.

A type is an image reference string, or an object with `image` and any of `env`,
`ports`, `mounts`, `setup`, `cpus`, `memory` and `ssh_agent`. Every key is validated
here with its path (`containers.web.ports[1]`), so nothing unchecked reaches an engine's
argv. The definition's fingerprint labels each container, so `refresh --if-changed` and
`list --outdated` notice a changed definition as they notice a changed image.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from oubliette.validate import image_reference_problem

KEYS = ("image", "env", "ports", "mounts", "setup", "cpus", "memory", "ssh_agent")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
PORT_RE = re.compile(r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d{1,5}):)?(?P<port>\d{1,5})"
                     r"(?:/(?P<proto>tcp|udp))?")
MEMORY_RE = re.compile(r"[1-9]\d{0,12}(?:\.\d+)?[bkmg]?", re.I)
MOUNT_BAD = ',"'


class Port(NamedTuple):
    """A published port: on the host's `ip` (loopback unless the config says otherwise)."""

    ip: str
    host: int
    container: int
    proto: str = "tcp"

    def __str__(self) -> str:
        return f"{self.ip}:{self.host}:{self.container}" + ("" if self.proto == "tcp" else f"/{self.proto}")

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.ip == '0.0.0.0' else self.ip}:{self.host}"


class Mount(NamedTuple):
    source: str  # an absolute host path
    target: str  # an absolute path in the container
    readonly: bool = False


class TypeSpec(NamedTuple):
    image: str
    env: Mapping[str, str] = {}
    ports: tuple[Port, ...] = ()
    mounts: tuple[Mount, ...] = ()
    setup: tuple[str, ...] = ()
    cpus: float | None = None
    memory: str | None = None
    ssh_agent: bool = False

    def definition(self) -> dict[str, Any]:
        """Everything but the image, as JSON (what the fingerprint covers)."""
        return {"env": dict(self.env), "ports": [str(p) for p in self.ports],
                "mounts": [list(m) for m in self.mounts], "setup": list(self.setup), "cpus": self.cpus,
                "memory": self.memory, "ssh_agent": self.ssh_agent}


def fingerprint(*parts: Any) -> str:
    """A short digest of JSON-able parts (a type's definition, a project's own settings)."""
    import hashlib

    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def parse_type(key: str, value: Any, error: Callable[[str, str], Exception]) -> TypeSpec:
    """`containers.NAME`: an image string, or a type object; `error(key, problem)` raises."""
    if isinstance(value, str):
        return TypeSpec(_image(key, value, error))
    if not isinstance(value, dict):
        raise error(key, "expected an image reference string or an object with \"image\"")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise error(f"{key}.{unknown[0]}", f"unknown key (expected {', '.join(KEYS)})")
    if "image" not in value:
        raise error(f"{key}.image", "missing: a type object needs an image reference")
    return TypeSpec(
        image=_image(f"{key}.image", value["image"], error),
        env=parse_env(f"{key}.env", value.get("env"), error),
        ports=tuple(parse_ports(f"{key}.ports", value.get("ports"), error)),
        mounts=tuple(_mounts(f"{key}.mounts", value.get("mounts"), error)),
        setup=tuple(_setup(f"{key}.setup", value.get("setup"), error)),
        cpus=_cpus(f"{key}.cpus", value.get("cpus"), error),
        memory=_memory(f"{key}.memory", value.get("memory"), error),
        ssh_agent=_flag(f"{key}.ssh_agent", value.get("ssh_agent"), error),
    )


def _image(key: str, value: Any, error: Callable[[str, str], Exception]) -> str:
    if not isinstance(value, str):
        raise error(key, "expected an image reference string")
    problem = image_reference_problem(value)
    if problem:
        raise error(key, f"invalid image reference {value!r}: {problem}")
    return value


def parse_env(key: str, value: Any, error: Callable[[str, str], Exception]) -> dict[str, str]:
    """An object of NAME -> string value."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error(key, "expected an object of NAME -> value")
    for name, item in value.items():
        if not ENV_NAME_RE.fullmatch(name):
            raise error(f"{key}.{name}", "invalid variable name: letters, digits and '_', not starting with a digit")
        if not isinstance(item, str) or "\0" in item:
            raise error(f"{key}.{name}", "expected a string value (numbers in quotes)")
    return dict(value)


def parse_ports(key: str, value: Any, error: Callable[[str, str], Exception]) -> list[Port]:
    """`["8080:80", "5173", "0.0.0.0:9000:9000/udp"]`: HOST:CONTAINER, or one port for both;
    published on loopback unless an address is given."""
    ports = []
    for index, item in enumerate(_items(key, value, error, '["8080:80", "5173"]')):
        found = PORT_RE.fullmatch(str(item)) if isinstance(item, (str, int)) and not isinstance(item, bool) else None
        numbers = [int(n) for n in (found["host"] or found["port"], found["port"])] if found else [0]
        if found is None or not all(0 < n < 65536 for n in numbers) or (
                found["ip"] and not all(int(part) < 256 for part in found["ip"].split("."))):
            raise error(f"{key}[{index}]", f"expected HOST:CONTAINER, PORT or IP:HOST:CONTAINER (1-65535), "
                                           f"got {item!r}")
        ports.append(Port(found["ip"] or "127.0.0.1", numbers[0], numbers[1], found["proto"] or "tcp"))
    return ports


def _mounts(key: str, value: Any, error: Callable[[str, str], Exception]) -> list[Mount]:
    mounts = []
    for index, item in enumerate(_items(key, value, error, '["~/.cache/pip:/root/.cache/pip", "/data:/data:ro"]')):
        parts = item.split(":") if isinstance(item, str) else []
        readonly = len(parts) == 3 and parts[2] == "ro"
        source = os.path.expanduser(parts[0]) if parts else ""
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")) \
                or not os.path.isabs(source) or not parts[1].startswith("/") \
                or any(c in MOUNT_BAD or not c.isprintable() for c in source + parts[1]):
            raise error(f"{key}[{index}]", "expected SOURCE:TARGET or SOURCE:TARGET:ro, both absolute (~ allowed "
                                           f"in SOURCE), without ',' or '\"', got {item!r}")
        if parts[1].rstrip("/") in ("", "/workspace"):
            raise error(f"{key}[{index}]", "the target may not be / or /workspace (the project's workspace)")
        mounts.append(Mount(os.path.normpath(source), os.path.normpath(parts[1]), readonly))
    return mounts


def _items(key: str, value: Any, error: Callable[[str, str], Exception], example: str) -> list[Any]:
    """A key that holds a list (missing: empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise error(key, f"expected a list such as {example}")
    return value


def _setup(key: str, value: Any, error: Callable[[str, str], Exception]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() and "\0" not in c for c in value):
        raise error(key, "expected a list of shell commands (run as root with `sh -c` in each new container)")
    return list(value)


def _cpus(key: str, value: Any, error: Callable[[str, str], Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1024:
        raise error(key, f"expected a number of CPUs such as 2 or 0.5, got {value!r}")
    return float(value)


def _memory(key: str, value: Any, error: Callable[[str, str], Exception]) -> str | None:
    if value is None:
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not MEMORY_RE.fullmatch(text):
        raise error(key, f"expected a size such as \"4g\", \"512m\" or a number of bytes, got {value!r}")
    return text.lower()


def _flag(key: str, value: Any, error: Callable[[str, str], Exception]) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise error(key, "expected true or false")
    return value
