"""A home's engine never changes behind its back: with Docker and Podman both installed
and Docker made unreachable, nothing touches Podman; choosing Podman is an explicit act
and the projects made on Docker keep it (issue 21)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import unavailable
from tests.e2e.conftest import DOCKER, PODMAN, create, oubliette, write_config


@pytest.fixture
def both(docker_engine, podman_config, monkeypatch):
    if not PODMAN.reachable():
        unavailable("podman is not installed or does not answer")
    monkeypatch.delenv("OUBLIETTE_RUNTIME", raising=False)


def test_docker_unreachable_is_exit_3_naming_it_and_podman_is_never_used(both, home, images):
    image = images.push(images.repo("keep") + ":latest")
    write_config(home, {"dev": image.ref})
    old = create(home, "old")
    assert json.loads((home / "data" / "engine.json").read_text())["runtime"] == "docker"
    try:
        assert oubliette("container", "start", old, home=home).returncode == 0
        down = {"DOCKER_HOST": "unix:///nonexistent.sock"}
        for args in (("container", "start", old), ("container", "list"), ("project", "list"), ("doctor",),
                     ("session", "start", old, "--", "true")):  # a session execs first: its refusal unseen
            result = oubliette(*args, home=home, env=down)
            assert result.returncode == 3, (args, result.stdout, result.stderr)
            assert "unix:///nonexistent.sock" in result.stdout + result.stderr, args
            assert not [line for line in result.stderr.splitlines() if line.startswith("Cannot connect")], args
            assert "Traceback" not in result.stderr and "Using Podman" not in result.stderr
        listed = oubliette("project", "list", home=home, env=down)
        assert "unknown" in listed.stdout and " none " not in listed.stdout
        assert PODMAN.out("ps", "-aq", "--filter", f"label=oubliette.project={old}") == ""
        assert image.ref not in PODMAN.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()

        back = json.loads(oubliette("container", "list", "--json", home=home).stdout)
        assert [(r["project_id"], r["status"]) for r in back] == [(old, "running")]

        # Choosing Podman is the config's "runtime": new projects go there, the old one stays on Docker.
        write_config(home, {"dev": image.ref}, runtime="podman")
        new = create(home, "new")
        assert oubliette("container", "start", new, home=home).returncode == 0
        assert PODMAN.inspect(f"oubliette-{new}")["State"]["Running"] and DOCKER.inspect(f"oubliette-{new}") is None
        assert DOCKER.inspect(f"oubliette-{old}")["State"]["Running"]
        rows = json.loads(oubliette("container", "list", "--json", home=home).stdout)
        assert {(r["project_id"], r["engine"]) for r in rows} == {(new, "default"), (old, "default:docker")}
        assert oubliette("session", "start", old, "--", "true", home=home).returncode == 0
    finally:
        PODMAN.cli("image", "rm", "--force", image.ref, check=False)
