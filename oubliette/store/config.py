"""Home directory, `oubliette.jsonc`, shipped defaults, dev mode and validation.

The config is JSONC read with json5, so comments and trailing commas work. Keys that
belong to the wider oubliette system (server, credentials, models, ...) are kept and
ignored. Every problem is a ConfigError naming the file and the key, or the line and
column for a syntax error.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from oubliette.engines.kinds import RUNTIME_CHOICES
from oubliette.errors import ConfigError
from oubliette.store.files import names_in, read_home_file, user_path
from oubliette.validate import image_reference_problem, is_valid_type_name

if TYPE_CHECKING:
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.store.types import TypeSpec

CONFIG_DIR = "config"
CONFIG_NAME = "oubliette.jsonc"
DEFAULT_TYPE = "dev"
PUBLISHED_IMAGES = {
    "base": "ghcr.io/hyphagroup/oubliette-base:latest",
    "dev": "ghcr.io/hyphagroup/oubliette-dev:latest",
}
LOCAL_IMAGES = {
    "base": "oubliette-base:latest",
    "dev": "oubliette-dev:latest",
}
CONFIG_MAX_BYTES = 64 * 1024  # a config is a few KB; json5, which reports syntax errors, is slow on more
_REWRITE_HINT = "fix the file, or rewrite it with `oubliette init --force` (the old one is kept as a backup)"


def resolve_home(home: str | os.PathLike[str] | None = None, env: Mapping[str, str] = os.environ) -> str:
    """`--home`, else `OUBLIETTE_HOME`, else `~/.oubliette`."""
    if home:
        return user_path(home, "--home")
    if env.get("OUBLIETTE_HOME"):
        return user_path(env["OUBLIETTE_HOME"], "OUBLIETTE_HOME")
    return user_path("~/.oubliette", "default home")


def is_dev_mode(env: Mapping[str, str] = os.environ) -> bool:
    """Dev mode (`OUBLIETTE_DEV=1`): local image names, never pull."""
    return env.get("OUBLIETTE_DEV") == "1"


def default_containers(dev: bool) -> dict[str, str]:
    """The shipped type -> image map; local names in dev mode so build.sh output is used."""
    return dict(LOCAL_IMAGES if dev else PUBLISHED_IMAGES)


def config_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, CONFIG_DIR, CONFIG_NAME)


class Config(NamedTuple):
    """The validated parts of oubliette.jsonc that this tool uses (a NamedTuple: every
    command builds one, and it is cheaper to define than a dataclass)."""

    path: str
    containers: dict[str, str]
    default_type: str = DEFAULT_TYPE
    runtime: str = "auto"
    exists: bool = True
    dev_mode: bool = False
    extra: Mapping[str, Any] = {}  # never mutated
    engines: Mapping[str, "EngineEntry"] = {}  # named engines (never mutated)
    types: Mapping[str, "TypeSpec"] = {}  # the types written as objects (never mutated)
    identity: Mapping[str, bool] = {}  # {"git": false} keeps the host's git identity out of sessions


def load_config(home: str | os.PathLike[str], dev: bool | None = None) -> Config:
    """Read and validate `<home>/config/oubliette.jsonc`; a missing file means defaults."""
    dev = is_dev_mode() if dev is None else dev
    path = config_path(home)
    try:
        text = read_home_file(path, CONFIG_MAX_BYTES)
    except FileNotFoundError:
        backups = _backups(os.path.dirname(path))
        if backups:  # a config that went missing is not silently replaced by the defaults
            raise ConfigError(
                f"config {path} is missing, but a backup of it exists: {backups[-1]}",
                hint=f"restore it (`cp {backups[-1]} {path}`), or write a new one with `oubliette init`") from None
        return Config(path=path, containers=default_containers(dev), exists=False, dev_mode=dev)
    except (OSError, ValueError) as exc:  # ValueError: not a small regular file, or not UTF-8
        raise ConfigError(f"cannot read config {path}: {exc}", hint=_REWRITE_HINT) from None
    return parse_config(text, path, dev)


def _backups(directory: str) -> list[str]:
    """The config's backups `init --force` kept (oubliette.jsonc.bak, .bak.N), oldest first."""
    return sorted(os.path.join(directory, name) for name in names_in(directory)
                  if name.startswith(CONFIG_NAME + ".bak"))


_JSON5_ERROR = r"^<string>:(?P<line>\d+) (?P<what>.*) at column (?P<col>\d+)$"  # json5's message


# JSONC's two additions to JSON, outside strings: comments, and one comma after a value
# before } or ] (comments may sit between). A comma after `{`, `[` or another comma is
# left in place, so `{,}` and `[1,,]` stay invalid, as json5 has them.
#
# Linear time on any input: a string or a comment that is never closed is taken whole, to
# the end of the text (json.loads then fails and json5 reports it), so no later position
# scans the same tail again; the comma look-ahead stops at the first character that is
# neither space nor a closed comment, so the stretches it scans do not overlap.
_COMMENT = r"//[^\n]*(?![^\n])|/\*(?:[^*]|\*(?!/))*\*/"  # closed comments only
_OPEN_COMMENT = r"//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?"  # closed, or running to the end of the text
_GAP = rf"(?:\s|{_COMMENT})*"
_JSONC_TOKENS = re.compile(rf'("(?:\\.|[^"\\])*"?)|({_OPEN_COMMENT})|([{{\[,]{_GAP},)|,(?={_GAP}[}}\]])')


def _strip_jsonc(text: str) -> str:
    """JSONC -> JSON: drop comments and trailing commas, keep strings as they are."""
    return _JSONC_TOKENS.sub(lambda m: m[1] or m[3] or (_comment_gap(m[2]) if m[2] else ""), text)


def _comment_gap(comment: str) -> str:
    """A comment is a space; one never closed stays, so the text fails as JSON and json5 says where."""
    return comment if comment.startswith("/*") and (len(comment) < 4 or not comment.endswith("*/")) else " "


def _parse_text(text: str, path: str) -> Any:
    if not text.strip():
        raise ConfigError(f"config {path} is empty: expected a JSON object", hint=_REWRITE_HINT)
    try:
        # Plain JSONC (what init writes) parses with the stdlib in a fraction of a
        # millisecond; every command reads the config, so this is on the hot path.
        return json.loads(_strip_jsonc(text))
    except ValueError:
        pass
    except RecursionError:
        raise _too_deep(path) from None
    import json5  # the rest of JSON5, and the line/column of any syntax error

    try:
        return json5.loads(text)
    except RecursionError:
        raise _too_deep(path) from None
    except ValueError as exc:
        found = re.match(_JSON5_ERROR, str(exc), re.S)
        if found:
            what = found["what"].replace('"\n"', "end of line")
            where = f"{path}:{found['line']}:{found['col']}"
            raise ConfigError(
                f"config syntax error at {where}: {what} (expected JSONC: a JSON object, "
                "// comments and trailing commas allowed)",
                hint=_REWRITE_HINT,
            ) from None
        raise ConfigError(f"config syntax error in {path}: {exc}", hint=_REWRITE_HINT) from None


def _too_deep(path: str) -> ConfigError:
    return ConfigError(f"config {path} is nested too deeply to read (hundreds of levels of {{ or [)",
                       hint=_REWRITE_HINT)


def parse_config(text: str, path: str, dev: bool = False) -> Config:
    """Parse and validate config text; `path` is only used in messages."""
    data = _parse_text(text, path)
    if not isinstance(data, dict):
        raise _key_error(path, "(top level)", f"expected an object, got {_json_type(data)}")

    containers, types = _parse_containers(data.get("containers"), path)
    containers = containers or default_containers(dev)
    default_type = _parse_default_type(data.get("defaults"), path)
    runtime = data.get("runtime", "auto")
    if runtime is None:
        runtime = "auto"
    if runtime not in RUNTIME_CHOICES:
        raise _key_error(path, "runtime", f"expected one of {', '.join(RUNTIME_CHOICES)}, got {runtime!r}")
    engines = {}
    if data.get("engines") is not None:  # only then: `container list` reads the config on every call
        from oubliette.engines.endpoints import parse_engines

        engines = parse_engines(data["engines"], lambda key, problem: _key_error(path, key, problem))
    identity = data.get("identity") or {}
    if not isinstance(identity, dict) or not set(identity) <= {"git"} or \
            not all(isinstance(v, bool) for v in identity.values()):
        raise _key_error(path, "identity", "expected {\"git\": true or false}")
    extra = {k: v for k, v in data.items()
             if k not in ("containers", "defaults", "runtime", "engines", "identity")}
    return Config(path, containers, default_type, runtime, exists=True, dev_mode=dev, extra=extra,
                  engines=engines, types=types, identity=identity)


def _parse_containers(value: Any, path: str) -> "tuple[dict[str, str], dict[str, TypeSpec]]":
    """Type -> image, and the types written as objects (parsed by store/types.py, loaded
    only when a config has one: `container list` reads the config on every call)."""
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise _key_error(path, "containers", f"expected an object of type -> image, got {_json_type(value)}")
    images, objects = {}, {}
    for name, image in value.items():
        if not is_valid_type_name(name):
            raise _key_error(
                path,
                f"containers.{name}",
                "invalid container type name: use lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
            )
        if isinstance(image, dict):
            from oubliette.store.types import parse_type

            objects[name] = parse_type(f"containers.{name}", image, lambda key, problem: _key_error(path, key, problem))
            images[name] = objects[name].image
            continue
        if not isinstance(image, str):
            raise _key_error(path, f"containers.{name}", f"expected an image reference string or a type object, "
                                                         f"got {_json_type(image)}")
        problem = image_reference_problem(image)
        if problem:
            raise _key_error(path, f"containers.{name}", f"invalid image reference {image!r}: {problem}")
        images[name] = image
    return images, objects


def has_settings(config: Config, project: Any) -> bool:
    """Whether a project's container gets more than its image: its type is an object, or the
    project has variables or ports of its own (the rest never loads store/types.py)."""
    return project.type in config.types or bool(project.env) or bool(project.ports)


def type_spec(config: Config, name: str) -> "TypeSpec":
    """A configured type as an object (an image string is a type with nothing else)."""
    from oubliette.store.types import TypeSpec

    return config.types.get(name) or TypeSpec(config.containers[name])


def _parse_default_type(defaults: Any, path: str) -> str:
    if defaults is None:
        return DEFAULT_TYPE
    if not isinstance(defaults, dict):
        raise _key_error(path, "defaults", f"expected an object, got {_json_type(defaults)}")
    container = defaults.get("container")
    if container is None:
        return DEFAULT_TYPE
    if not isinstance(container, dict):
        raise _key_error(path, "defaults.container", f"expected an object, got {_json_type(container)}")
    kind = container.get("type", DEFAULT_TYPE)
    if not is_valid_type_name(kind):
        raise _key_error(path, "defaults.container.type", f"expected a container type name, got {kind!r}")
    return kind


def _key_error(path: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"invalid config {path}: {key}: {problem}", hint=_REWRITE_HINT)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def render_default_config(dev: bool) -> str:
    """The commented config `oubliette init` writes."""
    containers = default_containers(dev)
    lines = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in containers.items())
    return f"""\
// oubliette configuration: JSONC, so comments and trailing commas are fine.
// Container types are described in docs/CONTAINER_TYPES.md.
{{
  // Container type -> image reference. Add your own, for example
  //   "python-ml": "registry.example.com/ml-agent:v2",
  // An empty or missing map means the built-in base and dev images.
  "containers": {{
{lines},
  }},

  // The type `oubliette project create` uses when --type is not given.
  "defaults": {{
    "container": {{ "type": "{DEFAULT_TYPE}" }},
  }},

  // The engine to drive: "auto", "docker", "podman" or "apple" (Apple's `container` CLI).
  // --runtime and OUBLIETTE_RUNTIME take precedence.
  "runtime": "auto",

  // Named engines elsewhere; `oubliette project create NAME --engine box` pins a project
  // to one (docs/ENGINES.md). For example:
  //   "engines": {{
  //     "box":  {{ "runtime": "docker", "host": "ssh://me@buildbox" }},
  //     "team": {{ "runtime": "docker", "context": "team-host", "workspace": "volume" }},
  //   }},
}}
"""
