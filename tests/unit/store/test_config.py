"""Config: home resolution, JSONC parsing, defaults, dev mode and every validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from oubliette.errors import ConfigError, OublietteError
from oubliette.store.config import (
    LOCAL_IMAGES,
    PUBLISHED_IMAGES,
    load_config,
    parse_config,
    render_default_config,
    resolve_home,
)
from tests.unit.helpers import write_config

P = Path("/h/config/oubliette.jsonc")


def test_home_precedence_flag_then_env_then_default(tmp_path):
    env = {"OUBLIETTE_HOME": str(tmp_path / "env")}
    assert resolve_home(str(tmp_path / "flag"), env) == str(tmp_path / "flag")
    assert resolve_home(None, env) == str(tmp_path / "env")
    assert resolve_home(None, {}) == str(Path("~/.oubliette").expanduser())


def test_a_home_is_made_absolute_and_a_home_of_no_such_user_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_home("rel/./h", {}) == str(tmp_path / "rel" / "h")
    with pytest.raises(OublietteError, match="'~no-such-user-here/h'.*~no-such-user-here names no user") as caught:
        resolve_home(None, {"OUBLIETTE_HOME": "~no-such-user-here/h"})
    assert "OUBLIETTE_HOME" in caught.value.message and caught.value.hint


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


@pytest.mark.parametrize("text", [
    render_default_config(False),
    '{"a": "x // not a comment", "b": "/* nor this */", "c": [1, 2,],}',
    '// lead\n{"a": 1 /* mid */, "b": "q\\"uote // x",  // tail\n}',
    '{"a": [ {"b": 1,}, ],\n}',
    '{"a": 1, // comment between the comma and the brace\n /* and another */ }',
    '{"url": "http://x/y", "glob": "a/*b*/c"}',
    '{\n  // a comment ending in a comma,\n  "a": 1, // see {}\n  "b": [2, /* ] */ 3,],\n}',
])
def test_fast_jsonc_path_agrees_with_json5(text):
    import json

    import json5

    from oubliette.store.config import _strip_jsonc

    assert json.loads(_strip_jsonc(text)) == json5.loads(text)


@pytest.mark.parametrize("text", ['{"a": 1,,}', '{"a": [1,,]}', '{,}', '{"a": [,]}', '{"a": [1, /* c */ ,]}',
                                  '{"a": 1 // no newline before the brace}'])
def test_fast_jsonc_path_never_accepts_what_json5_rejects(text):
    with pytest.raises(ConfigError, match="config syntax error"):
        parse_config(text, P)


def test_json5_only_syntax_still_loads():
    config = parse_config("{containers: {dev: 'my/img:1'}, runtime: 'docker'}", P)
    assert config.containers == {"dev": "my/img:1"} and config.runtime == "docker"


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
        ('{"containers": {"dev": 3}}', "containers.dev",
         "expected an image reference string or a type object, got a number"),
        ('{"containers": {"Bad Type": "x:1"}}', "containers.Bad Type", "invalid container type name"),
        ('{"containers": {"-x": "x:1"}}', "containers.-x", "invalid container type name"),
        ('{"containers": {"dev": "my image:1"}}', "containers.dev", "contains whitespace"),
        ('{"containers": {"dev": "--privileged"}}', "containers.dev", "starts with '-'"),
        ('{"containers": {"dev": "library/Upper:1"}}', "containers.dev", "must be lowercase"),
        ('{"containers": {"dev": ""}}', "containers.dev", "it is empty"),
        ('{"runtime": "lxc"}', "runtime", "expected one of auto, docker, podman, apple"),
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


def _random_jsonc(rng, depth=0):
    """A random JSON value written as JSONC: comments, odd spacing, trailing commas."""
    import json

    def gap():
        return rng.choice(["", " ", "\n", "  // c, } ] , \n", " /* x, } */ ", "\n/* , */\n", "\t"])

    kind = rng.choice(["obj", "arr", "str", "num", "lit"] if depth < 3 else ["str", "num", "lit"])
    if kind == "obj":
        items = [f'{gap()}{json.dumps(rng.choice(["a", "b//c", "d/*e*/", "x,y", "}"]) + str(i))}{gap()}:'
                 f'{gap()}{_random_jsonc(rng, depth + 1)}{gap()}' for i in range(rng.randint(0, 3))]
        trailing = "," + gap() if items and rng.random() < 0.5 else ""
        return "{" + ",".join(items) + trailing + gap() + "}"
    if kind == "arr":
        items = [f"{gap()}{_random_jsonc(rng, depth + 1)}{gap()}" for _ in range(rng.randint(0, 3))]
        trailing = "," + gap() if items and rng.random() < 0.5 else ""
        return "[" + ",".join(items) + trailing + gap() + "]"
    if kind == "str":
        return json.dumps(rng.choice(["", "//", "/* */", ",]", '"q"', "back\\slash", "ünï"]))
    if kind == "num":
        return rng.choice(["0", "-1", "2.5", "1e3"])
    return rng.choice(["true", "false", "null"])


def test_fast_jsonc_path_matches_json5_on_random_input():
    import json
    import random

    import json5

    from oubliette.store.config import _strip_jsonc

    rng = random.Random(20261126)
    for _ in range(400):
        text = _random_jsonc(rng)
        assert json.loads(_strip_jsonc(text)) == json5.loads(text), text
        broken = list(text)
        broken.insert(rng.randrange(len(broken) + 1), rng.choice([",", ":", "}", "]", "{", '"', "/"]))
        broken = "".join(broken)
        try:
            expected = json5.loads(broken)
        except ValueError:
            with pytest.raises(ValueError):
                json.loads(_strip_jsonc(broken))
        else:
            try:
                assert json.loads(_strip_jsonc(broken)) == expected, broken
            except ValueError:
                pass  # the fast path may decline; json5 then parses it
