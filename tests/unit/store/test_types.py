"""Type objects: every key validated with its path; the fingerprint moves with the definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oubliette.errors import ConfigError
from oubliette.store.config import parse_config, type_spec
from oubliette.store.types import Port, fingerprint

PATH = Path("/h/config/oubliette.jsonc")


def parsed(web: object):
    return parse_config(json.dumps({"containers": {"web": web}}), PATH)


def test_a_full_type_object_is_read():
    config = parsed({"image": "r.example/web:1", "env": {"A": "1"},
                     "ports": ["8080:80", "5173", "0.0.0.0:9000:9000/udp"],
                     "mounts": ["/srv:/srv:ro", "~/.cache:/cache"], "setup": "make deps", "cpus": 2,
                     "memory": "4G", "ssh_agent": True})
    web = type_spec(config, "web")
    assert config.containers == {"web": "r.example/web:1"}
    assert web.ports == (Port("127.0.0.1", 8080, 80), Port("127.0.0.1", 5173, 5173),
                         Port("0.0.0.0", 9000, 9000, "udp"))
    assert [tuple(m) for m in web.mounts][0] == ("/srv", "/srv", True) and web.mounts[1].source.startswith("/")
    assert web.setup == ("make deps",) and web.cpus == 2.0 and web.memory == "4g" and web.ssh_agent
    assert type_spec(parse_config('{"containers": {"web": "r.example/web:1"}}', PATH), "web").env == {}


@pytest.mark.parametrize("web, key, words", [
    ({"env": {}}, "containers.web.image", "missing"),
    ({"image": "r/x:1", "colour": 1}, "containers.web.colour", "unknown key"),
    ({"image": "r/x:1", "env": {"1A": "x"}}, "containers.web.env.1A", "invalid variable name"),
    ({"image": "r/x:1", "env": {"A": 1}}, "containers.web.env.A", "expected a string value"),
    ({"image": "r/x:1", "ports": ["8080:80", "99999"]}, "containers.web.ports[1]", "1-65535"),
    ({"image": "r/x:1", "ports": ["300.1.1.1:80:80"]}, "containers.web.ports[0]", "expected HOST:CONTAINER"),
    ({"image": "r/x:1", "mounts": ["relative:/x"]}, "containers.web.mounts[0]", "both absolute"),
    ({"image": "r/x:1", "mounts": ["/a,b:/x"]}, "containers.web.mounts[0]", "without ','"),
    ({"image": "r/x:1", "mounts": ["/a:/workspace"]}, "containers.web.mounts[0]", "may not be / or /workspace"),
    ({"image": "r/x:1", "setup": [""]}, "containers.web.setup", "list of shell commands"),
    ({"image": "r/x:1", "cpus": 0}, "containers.web.cpus", "number of CPUs"),
    ({"image": "r/x:1", "cpus": True}, "containers.web.cpus", "number of CPUs"),
    ({"image": "r/x:1", "memory": "lots"}, "containers.web.memory", "a size such as"),
    ({"image": "r/x:1", "ssh_agent": "yes"}, "containers.web.ssh_agent", "true or false"),
])
def test_each_key_is_checked_with_its_path(web, key, words):
    with pytest.raises(ConfigError) as caught:
        parsed(web)
    assert f"{key}:" in caught.value.message and words in caught.value.message


def test_the_fingerprint_follows_the_definition_not_the_image():
    one = type_spec(parsed({"image": "r/x:1", "env": {"A": "1"}}), "web")
    other_image = type_spec(parsed({"image": "r/x:2", "env": {"A": "1"}}), "web")
    other_env = type_spec(parsed({"image": "r/x:1", "env": {"A": "2"}}), "web")
    assert fingerprint(one.definition()) == fingerprint(other_image.definition())
    assert fingerprint(one.definition()) != fingerprint(other_env.definition())


def test_identity_is_checked():
    with pytest.raises(ConfigError, match="identity"):
        parse_config('{"identity": {"git": "no"}}', PATH)
    assert parse_config('{"identity": {"git": false}}', PATH).identity == {"git": False}

