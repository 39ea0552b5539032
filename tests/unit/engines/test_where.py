"""Where an engine is, as the user set it, and the hint that fits how it is reached."""

from __future__ import annotations

import json

from oubliette.engines.kinds import ENGINES
from oubliette.engines.where import default_endpoint, ssh_login, ssh_stderr, unreachable_hint

DOCKER, PODMAN = ENGINES["docker"], ENGINES["podman"]
START = "start Docker (`sudo systemctl start docker`) and try again"
SSH_ERROR = ("error during connect: Get \"http://docker.example.com/v1.50/containers/json\": command [ssh -o "
             "ConnectTimeout=30 -T -l me -p 2222 -- box docker system dial-stdio] has exited with exit status 255, "
             "make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr={}")


def test_the_default_endpoint_is_named_by_the_setting_it_came_from(tmp_path):
    assert str(default_endpoint(DOCKER, {"DOCKER_HOST": "unix:///nope"})) == "unix:///nope (DOCKER_HOST)"
    assert str(default_endpoint(DOCKER, {"DOCKER_CONTEXT": "work"})) == "context work (DOCKER_CONTEXT)"
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert default_endpoint(DOCKER, {"DOCKER_CONFIG": str(tmp_path)}).text == "context remote"
    (tmp_path / "config.json").write_text("{not json")
    assert str(default_endpoint(DOCKER, {"DOCKER_CONFIG": str(tmp_path)})) == "unix:///var/run/docker.sock"
    assert str(default_endpoint(PODMAN, {"CONTAINER_CONNECTION": "box"})) == "connection box (CONTAINER_CONNECTION)"
    assert default_endpoint(PODMAN, {}).of("Podman") == "Podman (local)"
    tcp = default_endpoint(DOCKER, {"DOCKER_HOST": "tcp://h:2376"})
    assert tcp.of("Docker") == "Docker at tcp://h:2376 (DOCKER_HOST)"


def test_hints_fit_how_the_engine_is_reached():
    def hint(env, detail=""):
        return unreachable_hint(DOCKER, default_endpoint(DOCKER, env), START, detail)

    assert hint({"DOCKER_CONFIG": "/nonexistent"}) == START  # the local socket: start the daemon
    assert "unset DOCKER_HOST" in hint({"DOCKER_HOST": "unix:///nope"})
    assert "tcp://h:2376" in hint({"DOCKER_HOST": "tcp://h:2376"}) and "systemctl" not in hint(
        {"DOCKER_HOST": "tcp://h:2376"})
    assert "docker context inspect typo" in hint({"DOCKER_CONTEXT": "typo"})
    ssh = {"DOCKER_HOST": "ssh://me@box:2222"}
    assert "key was refused" in hint(ssh, SSH_ERROR.format("me@box: Permission denied (publickey)."))
    assert "`ssh -p 2222 me@box`" in hint(ssh, SSH_ERROR.format("Host key verification failed."))
    assert "not installed on that host" in hint(ssh, SSH_ERROR.format("bash: line 1: docker: command not found"))
    assert "ssh -p 2222 me@box docker version" in hint(ssh, SSH_ERROR.format(
        "ssh: connect to host box port 2222: Connection refused"))


def test_what_ssh_said_is_taken_from_dockers_wrapping():
    assert ssh_stderr(SSH_ERROR.format("Host key verification failed.")) == "Host key verification failed."
    assert ssh_stderr("no stderr here") == "no stderr here"
    assert ssh_login("ssh://me@box:2222") == "ssh -p 2222 me@box"
    assert ssh_login("ssh://box") == "ssh box"
    assert ssh_login("ssh://me@[::1]:22") == "ssh -p 22 me@[::1]"
