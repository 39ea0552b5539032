"""Config: home resolution, JSONC parsing, defaults, dev mode and every validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from oubliette.config import (
    LOCAL_IMAGES,
    PUBLISHED_IMAGES,
    load_config,
    parse_config,
    render_default_config,
    resolve_home,
)
from oubliette.errors import ConfigError
from tests.unit.helpers import write_config

P = Path("/h/config/oubliette.jsonc")


def test_home_precedence_flag_then_env_then_default(tmp_path):
    env = {"OUBLIETTE_HOME": str(tmp_path / "env")}
    assert resolve_home(str(tmp_path / "flag"), env) == tmp_path / "flag"
    assert resolve_home(None, env) == tmp_path / "env"
    assert resolve_home(None, {}) == Path("~/.oubliette").expanduser()


def test_missing_file_gives_published_defaults(oubliette_home):
    config = load_config(oubliette_home, dev=False)
    assert config.containers == PUBLISHED_IMAGES
    assert config.default_type == "dev" and config.runtime == "auto" and not config.exists


def test_dev_mode_defaults_are_local_names(oubliette_home):
    assert load_config(oubliette_home, dev=True).containers == LOCAL_IMAGES


def test_comments_trailing_commas_and_foreign_keys_load():
    text = """
    // a comment
    {
      /* block */ "containers": {"python-ml": "myregistry.com/ml-agent:v2",},
      "server": {"port": 8080}, "credentials": {"x": 1}, "models": ["a"],
      "defaults": {"container": {"type": "python-ml"}},
    }
    """
    config = parse_config(text, P)
    assert config.containers == {"python-ml": "myregistry.com/ml-agent:v2"}
    assert config.default_type == "python-ml"
    assert set(config.extra) == {"server", "credentials", "models"}


@pytest.mark.parametrize("containers", ["{}", "null"])
def test_empty_or_null_containers_give_defaults(containers):
    assert parse_config(f'{{"containers": {containers}}}', P).containers == PUBLISHED_IMAGES


def test_non_empty_map_is_used_as_given_without_merge():
    config = parse_config('{"containers": {"only": "x/y:1"}}', P, dev=True)
    assert config.containers == {"only": "x/y:1"}


def test_syntax_error_names_file_line_and_column():
    with pytest.raises(ConfigError) as caught:
        parse_config('{\n  "containers": {\n    "dev": "x"\n    "base": "y"\n  }\n}', P)
    message = caught.value.message
    assert f"{P}:4:5" in message  # where the missing comma should be
    assert "expected JSONC" in message
    assert caught.value.hint


@pytest.mark.parametrize(
    "text, key, fragment",
    [
        ('["a"]', "(top level)", "expected an object, got an array"),
        ('{"containers": ["a"]}', "containers", "expected an object"),
        ('{"containers": {"dev": 3}}', "containers.dev", "expected an image reference string, got a number"),
        ('{"containers": {"Bad Type": "x:1"}}', "containers.Bad Type", "invalid container type name"),
        ('{"containers": {"-x": "x:1"}}', "containers.-x", "invalid container type name"),
        ('{"containers": {"dev": "my image:1"}}', "containers.dev", "contains whitespace"),
        ('{"containers": {"dev": "--privileged"}}', "containers.dev", "starts with '-'"),
        ('{"containers": {"dev": "library/Upper:1"}}', "containers.dev", "expected name[:tag][@digest]"),
        ('{"containers": {"dev": ""}}', "containers.dev", "it is empty"),
        ('{"runtime": "podman"}', "runtime", "expected one of auto, docker, apple"),
        ('{"defaults": {"container": {"type": 7}}}', "defaults.container.type", "expected a container type name"),
        ('{"defaults": []}', "defaults", "expected an object"),
    ],
)
def test_wrong_types_name_the_key(text, key, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, P)
    assert f"{P}: {key}: " in caught.value.message
    assert fragment in caught.value.message


def test_empty_file_says_so():
    with pytest.raises(ConfigError, match="is empty"):
        parse_config("  \n", P)


def test_unreadable_file_is_a_config_error(oubliette_home):
    path = write_config(oubliette_home, "x")
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(oubliette_home)


@pytest.mark.parametrize("dev", [False, True])
def test_rendered_default_config_round_trips(dev):
    config = parse_config(render_default_config(dev), P, dev=dev)
    assert config.containers == (LOCAL_IMAGES if dev else PUBLISHED_IMAGES)
    assert config.default_type == "dev" and config.runtime == "auto"
    assert "//" in render_default_config(dev)
