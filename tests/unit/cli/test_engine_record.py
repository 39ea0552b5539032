"""A home's default engine is decided once: with Docker and Podman both installed, the
first command that needs an engine records one, and from then on an engine that does
not answer is exit 3 naming it, never a switch to the other (issue 21)."""

from __future__ import annotations

import json
import stat

import pytest

from tests.unit.conftest import DEV
from tests.unit.engines.test_detect import fake_path
from tests.unit.fakes.docker import FakeDocker
from tests.unit.fakes.podman import FakePodman
from tests.unit.helpers import assert_clean_error, create, write_config


@pytest.fixture
def both(fp, monkeypatch, tmp_path, oubliette_home):
    """Docker and Podman installed and answering, each with the dev image in its registry."""
    from oubliette.ops import swap

    monkeypatch.setattr(swap, "START_WINDOWS", False)
    monkeypatch.setenv("PATH", fake_path(tmp_path, "docker", "podman")["PATH"])
    from oubliette.engines import process

    engines = FakeDocker(fp, monkeypatch), FakePodman(fp, monkeypatch)
    by_binary = {engine.binary: engine for engine in engines}
    monkeypatch.setattr(process, "stream", lambda argv, *a, **k: by_binary[argv[0]]._stream(argv, *a, **k))
    for engine in engines:
        engine.push(DEV, seed="dev-1")
    write_config(oubliette_home, {"containers": {"dev": DEV}})
    return engines


def auto(run, *args: str):
    return run(*args, runtime=None)


def record(home) -> dict:
    return json.loads((home / "data" / "engine.json").read_text())


def test_the_first_command_records_the_engine_and_says_so_once(both, run, oubliette_home):
    docker, podman = both
    made = auto(run, "project", "create", "web")
    project_id = made.stdout.strip()
    assert "Using Docker (the first that answered; installed: docker, podman). This home uses it from now on" \
        in made.stderr
    assert record(oubliette_home)["runtime"] == "docker"
    assert stat.S_IMODE((oubliette_home / "data" / "engine.json").stat().st_mode) == 0o600
    first = auto(run, "container", "start", project_id)
    assert first.exit_code == 0, first.output
    assert "Using" not in first.stderr + auto(run, "project", "list").stderr
    again = auto(run, "container", "list")
    assert again.exit_code == 0 and "Using" not in again.stderr
    assert docker.calls("run") and not podman.calls("run")


def test_a_docker_that_does_not_answer_is_exit_3_naming_it_and_podman_is_never_touched(both, run, oubliette_home):
    docker, podman = both
    project_id = create(lambda *a: auto(run, *a), "web")
    assert auto(run, "container", "start", project_id).exit_code == 0
    docker.daemon_down = True
    podman_calls = len(podman.log)

    start = auto(run, "container", "start", project_id)
    assert_clean_error(start, 3, "Docker at unix:///var/run/docker.sock cannot be reached")
    assert "systemctl" in start.stderr or "start Docker" in start.stderr
    assert_clean_error(auto(run, "container", "list"), 3, "Docker at")
    listed = auto(run, "project", "list")
    assert_clean_error(listed, 3, "Docker at")
    assert project_id in listed.stdout and "unknown" in listed.stdout and "none" not in listed.stdout
    doctor = auto(run, "doctor")
    assert doctor.exit_code == 3 and "Docker at unix:///var/run/docker.sock" in doctor.output
    assert len(podman.log) == podman_calls and not podman.calls("run")

    docker.daemon_down = False  # back: everything is as before
    assert auto(run, "container", "list", "--quiet").stdout.split() == [project_id]


def test_an_endpoint_set_in_the_shell_is_named_with_a_hint_that_fits(both, run, monkeypatch):
    project_id = create(lambda *a: auto(run, *a), "web")
    monkeypatch.setenv("DOCKER_HOST", "ssh://me@buildbox")
    result = auto(run, "container", "start", project_id)
    assert_clean_error(result, 3, "Docker at ssh://me@buildbox (DOCKER_HOST) cannot be reached")
    assert "systemctl" not in result.stderr and "ssh me@buildbox docker version" in result.stderr
    monkeypatch.setenv("DOCKER_HOST", "unix:///nope")
    result = auto(run, "container", "start", project_id)
    assert_clean_error(result, 3, "Docker at unix:///nope (DOCKER_HOST)")
    assert "unset DOCKER_HOST" in result.stderr
    result = auto(run, "session", "start", project_id, "--", "true")  # execs first: the refusal, then a look
    assert_clean_error(result, 3, "Docker at unix:///nope (DOCKER_HOST)")


def test_the_config_choosing_podman_moves_new_projects_and_old_ones_keep_docker(both, run, oubliette_home):
    docker, podman = both
    old = create(lambda *a: auto(run, *a), "old")
    assert auto(run, "container", "start", old).exit_code == 0
    write_config(oubliette_home, {"containers": {"dev": DEV}, "runtime": "podman"})
    new = create(lambda *a: auto(run, *a), "new")
    started = auto(run, "container", "start", new)
    assert started.exit_code == 0, started.output
    assert record(oubliette_home)["runtime"] == "podman" and record(oubliette_home)["kinds"] == ["docker", "podman"]
    assert [c.name for c in podman.containers.values()] == [f"oubliette-{new}"]
    assert [c.name for c in docker.containers.values()] == [f"oubliette-{old}"]
    rows = json.loads(auto(run, "container", "list", "--json").stdout)
    assert {(r["project_id"], r["engine"]) for r in rows} == {(new, "default"), (old, "default:docker")}
    projects = {p["id"]: p for p in json.loads(auto(run, "project", "list", "--json").stdout)}
    assert projects[old]["runtime"] == "docker" and projects[new]["runtime"] == "podman"
    assert "ok    engine default:docker" in auto(run, "doctor").output
    docker.daemon_down = True  # the old projects' engine is down: a failed check of its own
    assert "fail  engine default:docker" in auto(run, "doctor").output
    docker.daemon_down = False
    assert auto(run, "container", "stop", old).exit_code == 0
    assert docker.calls("stop") and not podman.calls("stop")


def test_init_runtime_changes_the_home_engine_explicitly(both, run, oubliette_home):
    assert auto(run, "init", "--no-pull").exit_code == 0
    assert not (oubliette_home / "data" / "engine.json").exists()  # nothing needed an engine yet
    chosen = auto(run, "init", "--no-pull", "--runtime", "podman")
    assert chosen.exit_code == 0 and record(oubliette_home)["runtime"] == "podman"
    assert record(oubliette_home)["how"] == "init --runtime"


def test_a_damaged_record_is_a_clean_error_never_a_new_detection(both, run, oubliette_home):
    create(lambda *a: auto(run, *a), "web")
    (oubliette_home / "data" / "engine.json").write_text('{"runtime": "lxc"}')
    result = auto(run, "container", "list")
    assert_clean_error(result, 1, "engine.json is damaged")
    assert "oubliette init --runtime" in result.stderr
