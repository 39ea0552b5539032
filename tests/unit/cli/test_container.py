"""`oubliette container ...` against the fake engine: state after each workflow, and the
calls each took."""

from __future__ import annotations

import json
import os

import pytest

from oubliette.store.sessions import SessionRegistry
from tests.unit.conftest import BASE, DEV
from tests.unit.helpers import assert_clean_error, create, started, write_config


def container_of(docker, project_id):
    return docker.containers.get(f"oubliette-{project_id}")


# --- start ------------------------------------------------------------------------------


def test_start_pulls_a_missing_image_then_runs_the_design_spec(run, docker, oubliette_home):
    project_id = create(run, "web")
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    assert f"Pulling {DEV}..." in result.stdout and "Status: Downloaded newer image" in result.stdout
    run_call = docker.calls("run")[0]
    workspace = oubliette_home / "data/projects" / project_id / "workspace"
    assert run_call[:7] == ["docker", "run", "--detach", "--pull=never", "--name", f"oubliette-{project_id}", "--init"]
    assert f"type=bind,source={workspace},target=/workspace" in run_call and run_call[-3:] == [DEV, "sleep", "infinity"]
    assert f"OUBLIETTE_PROJECT_ID={project_id}" in run_call
    c = container_of(docker, project_id)
    assert c.labels == {"oubliette.project": project_id, "oubliette.type": "dev", "oubliette.image": DEV,
                        "oubliette.home": (oubliette_home / "data/home.id").read_text().strip()}
    assert c.state == "running"


def test_start_with_image_present_does_not_pull_and_running_is_a_noop(run, docker):
    docker.local(DEV)
    project_id = started(run, "web")
    assert docker.calls("pull") == []
    before = container_of(docker, project_id).id
    again = run("container", "start", project_id)
    assert again.exit_code == 0 and "already running" in again.stdout
    # the run that comes first was refused (the name is in use), then a look: nothing new
    assert container_of(docker, project_id).id == before and len(docker.containers) == 1


def test_a_start_runs_first_and_looks_only_when_refused(run, docker):
    docker.local(DEV)
    project_id = create(run, "web")
    before = len(docker.calls())
    assert run("container", "start", project_id).exit_code == 0
    assert {c[1] for c in docker.calls()[before:]} == {"run", "container"}  # no listing, no image inspect first
    docker.images.pop(DEV)  # gone from the engine: the refused run falls back to looking and pulling
    docker.containers.clear()
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    assert docker.calls("pull") and container_of(docker, project_id).state == "running"


def test_start_resumes_a_stopped_container_instead_of_replacing_it(run, docker):
    project_id = started(run, "web")
    before = container_of(docker, project_id).id
    container_of(docker, project_id).state = "exited"  # e.g. the host rebooted
    assert run("container", "start", project_id).exit_code == 0
    assert container_of(docker, project_id).id == before and container_of(docker, project_id).state == "running"


def test_start_replaces_a_stopped_container_that_will_not_start_again(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    old.state, old.broken = "exited", True  # its command no longer runs: every start exits
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    assert "creating a new one" in result.stderr
    new = container_of(docker, project_id)
    assert new.id != old.id and new.state == "running" and new.image == DEV


def test_start_of_an_image_that_cannot_run_leaves_nothing_behind(run, docker):
    docker.broken_images.add(DEV)
    project_id = create(run, "web")
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, "stopped right after it started", "exec sleep failed")
    assert "sleep" in result.stderr and "Hint:" in result.stderr
    assert docker.containers == {}


def test_a_dead_containers_log_that_trails_its_exit_is_still_read(run, docker):
    docker.broken_images.add(DEV)
    docker.silent_logs = 2  # podman's conmon had not written the log yet when asked
    result = run("container", "start", create(run, "web"))
    assert_clean_error(result, 1, "stopped right after it started", "exec sleep failed")
    assert len(docker.calls("logs")) == 3 and docker.containers == {}


def test_a_dead_container_that_printed_nothing_is_reported_within_the_bound(run, docker, monkeypatch):
    from oubliette.ops import swap

    monkeypatch.setattr(swap, "LAST_WORDS_SECONDS", 0.2)
    docker.broken_images.add(DEV)
    docker.silent_logs = 1_000
    result = run("container", "start", create(run, "web"))
    assert_clean_error(result, 1, "stopped right after it started")
    assert 2 <= len(docker.calls("logs")) <= 6 and docker.containers == {}


def test_start_in_dev_mode_never_pulls(run, docker, monkeypatch):
    monkeypatch.setenv("OUBLIETTE_DEV", "1")
    project_id = create(run, "web")
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, f"image {DEV} not found locally")
    assert "scripts/build.sh" in result.stderr and docker.calls("pull") == []


def test_start_recovers_a_container_set_aside_by_an_interrupted_refresh(run, docker, oubliette_home):
    project_id = started(run, "web")
    original = container_of(docker, project_id).id
    docker.containers[f"oubliette-{project_id}"].state = "exited"
    run_ = docker._rename([f"oubliette-{project_id}", f"oubliette-{project_id}-previous"])
    assert run_[0] == 0
    journal = oubliette_home / "data/projects" / project_id / ".swap"
    journal.write_text('{"calls": []}')  # what the killed refresh left: its engine calls have ended
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    assert "interrupted refresh" in result.stderr
    assert list(docker.containers) == [f"oubliette-{project_id}"]
    assert container_of(docker, project_id).id == original and container_of(docker, project_id).state == "running"
    assert not journal.exists()


def test_a_home_path_the_engine_cannot_mount_is_a_clear_error(run, docker, tmp_path, monkeypatch):
    home = tmp_path / "odd:home"
    monkeypatch.setenv("OUBLIETTE_HOME", str(home))
    write_config(home, {"containers": {"dev": DEV}})
    project_id = create(run, "web")
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, "contains ':'")
    assert docker.calls("run") == []


def test_start_with_unknown_project_and_daemon_down(run, docker):
    assert_clean_error(run("container", "start", "proj_000000000000"), 1, "no project matches")
    project_id = create(run, "web")
    docker.daemon_down = True
    result = run("container", "start", project_id)
    assert_clean_error(result, 3, "Docker at unix:///var/run/docker.sock cannot be reached")
    assert "start Docker" in result.stderr


def test_missing_docker_binary_exits_3(run, oubliette_home, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("container", "list")
    assert_clean_error(result, 3, "docker not found")
    # The home recorded docker as its engine: auto keeps to it, never looks for another.
    assert_clean_error(run("container", "list", runtime=None), 3, "docker not found")
    (oubliette_home / "data" / "engine.json").unlink()
    assert_clean_error(run("container", "list", runtime=None), 3, "no container engine found")


# --- list -------------------------------------------------------------------------------


def test_list_is_one_labelled_call_and_shows_the_configured_reference(run, docker):
    first = started(run, "a")
    second = started(run, "b", "--type", "base")
    docker.foreign("not-ours")
    docker.foreign("labelled-but-misnamed", {"oubliette.project": first})
    before = len(docker.calls())
    result = run("container", "list", "--json")
    assert result.exit_code == 0
    assert len(docker.calls()) == before + 1
    assert "label=oubliette.project" in docker.calls()[-1]
    rows = json.loads(result.stdout)
    assert rows == sorted([
        {"project_id": first, "name": f"oubliette-{first}", "image": DEV, "type": "dev", "status": "running",
         "orphan": False, "engine": "default", "project_name": "a", "ports": []},
        {"project_id": second, "name": f"oubliette-{second}", "image": BASE, "type": "base", "status": "running",
         "orphan": False, "engine": "default", "project_name": "b", "ports": []},
    ], key=lambda r: r["project_id"])


def test_list_table_states_all_quiet_and_empty(run, docker):
    empty = run("container", "list")
    assert empty.exit_code == 0 and empty.stdout.splitlines() == ["PROJECT ID    NAME    IMAGE    STATUS"]
    assert run("container", "list", "--json").stdout.strip() == "[]"
    running, stopped = started(run, "a"), started(run, "b")
    container_of(docker, stopped).state = "created"
    table = run("container", "list").stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ID", "NAME", "IMAGE", "STATUS"] and len(table) == 2
    assert table[1].split() == [running, "a", DEV, "running"]
    rows = run("container", "list", "--all").stdout.splitlines()[1:]
    everything = {line.split()[0]: line.split()[-1] for line in rows}
    assert everything == {running: "running", stopped: "stopped"}
    assert run("container", "list", "-q").stdout.split() == [running]


# --- refresh ----------------------------------------------------------------------------


def test_refresh_moves_the_container_to_the_newer_image(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    new_id = docker.push(DEV, seed="dev-2")
    result = run("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Refreshing 1 container..."
    assert lines[1] == f"Pulling {DEV}..."
    assert any(line.startswith(f"{project_id} (") and line.endswith("): restarting its container...")
               for line in lines)
    assert f"  Image updated: {old.image_id} -> {new_id}" in lines and lines[-1] == "  Done."
    new = container_of(docker, project_id)
    assert new.id != old.id and new.image_id == new_id and new.state == "running"
    assert list(docker.containers) == [f"oubliette-{project_id}"]


def test_refresh_with_an_unchanged_image_still_restarts(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    result = run("container", "refresh", project_id, "--json")
    assert result.exit_code == 0
    (record,) = json.loads(result.stdout)
    assert record == {"project_id": project_id, "image": DEV, "old_image_id": old.image_id,
                      "new_image_id": old.image_id, "changed": False, "status": "refreshed",
                      "error": None, "hint": None, "note": None}
    assert "Image unchanged." in result.stderr and "Pulling" in result.stderr  # progress off stdout
    assert container_of(docker, project_id).id != old.id


def test_refresh_all_pulls_each_distinct_image_once(run, docker):
    projects = [started(run, name) for name in "abc"] + [started(run, "d", "--type", "base")]
    container_of(docker, projects[2]).state = "exited"  # not running: not part of "all"
    pulls_before = len(docker.calls("pull"))
    result = run("container", "refresh")
    assert result.exit_code == 0, result.output
    pulled = [c[2] for c in docker.calls("pull")[pulls_before:]]
    assert sorted(pulled) == [BASE, DEV]
    assert result.stdout.startswith("Refreshing 3 containers...")
    assert result.stdout.rstrip().endswith("All containers refreshed.")
    assert result.stdout.count(": restarting its container...") == 3 and projects[2] not in result.stdout


def test_refresh_all_with_nothing_running(run, docker):
    result = run("container", "refresh")
    assert result.exit_code == 0 and result.stdout.strip() == "No running containers to refresh."
    assert json.loads(run("container", "refresh", "--json").stdout) == []


def test_failed_pull_leaves_the_old_container_untouched(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    docker.pull_errors[DEV] = "pull_registry_down.stderr"
    del docker.images[DEV]  # the tag is gone locally: nothing to fall back on
    result = run("container", "refresh", project_id)
    assert_clean_error(result, 1, f"cannot reach the registry for {DEV}")
    assert f"docker pull {DEV}" in result.stderr
    assert container_of(docker, project_id) is old and old.state == "running"
    assert docker.calls("stop") == [] and docker.calls("rename") == []


def test_an_unreachable_registry_with_the_running_image_here_keeps_the_container(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    docker.pull_errors[DEV] = "pull_registry_down.stderr"
    result = run("container", "refresh", project_id, "--json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["status"] == "unchanged (registry unreachable)" and record["changed"] is False
    assert f"The registry cannot be reached; using the local image {DEV}." in result.stderr
    assert container_of(docker, project_id) is old and old.state == "running"
    assert docker.calls("stop") == [] and docker.calls("run")[-1:] == docker.calls("run")[:1]


@pytest.mark.parametrize("failure", ["pull_missing_tag.stderr", "pull_no_credentials.stderr"])
def test_registry_refusal_with_a_local_image_uses_it(run, docker, failure):
    project_id = started(run, "web")
    docker.pull_errors[DEV] = failure
    rebuilt = docker.local(DEV, seed="rebuilt-locally")
    result = run("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    assert f"using the local image {DEV}" in result.stdout
    assert container_of(docker, project_id).image_id == rebuilt


def test_refused_while_a_session_is_active_and_without_a_container(run, docker, oubliette_home):
    project_id = started(run, "web")
    session = SessionRegistry(oubliette_home).register(project_id, [], pid=os.getpid())
    result = run("container", "refresh", project_id)
    assert_clean_error(result, 1, "cannot refresh container: 1 active session(s) exist - end them first")
    SessionRegistry(oubliette_home).unregister(session)
    assert docker.calls("pull") == docker.calls("pull")[:1]  # only start's pull
    idle = create(run, "idle")
    assert_clean_error(run("container", "refresh", idle), 1, "no container to refresh")


def test_new_container_that_dies_brings_the_old_one_back(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    docker.push(DEV, seed="dev-broken")
    docker.broken_images.add(DEV)
    # the old container keeps running its old image, so breaking DEV only breaks new ones
    old.image = "registry.example/oubliette-dev@old"
    result = run("container", "refresh", project_id)
    assert_clean_error(result, 1, "the new container did not start", "the previous container is running again")
    assert list(docker.containers) == [f"oubliette-{project_id}"]
    back = container_of(docker, project_id)
    assert back.id == old.id and back.state == "running"


def test_several_projects_go_on_past_a_failure(run, docker):
    ok = started(run, "a", "--type", "base")
    bad = started(run, "b")
    docker.pull_errors[DEV] = "pull_registry_down.stderr"
    del docker.images[DEV]
    result = run("container", "refresh", bad, ok)
    assert result.exit_code == 1
    assert f"{ok} (" in result.stdout and "): restarting its container..." in result.stdout
    assert f"{bad} (" in result.stderr and "): failed: cannot reach the registry" in result.stderr
    assert result.stderr.rstrip().endswith("1 of 2 containers failed to refresh.")
    records = {r["project_id"]: r for r in json.loads(run("container", "refresh", bad, ok, "--json").stdout)}
    assert records[bad]["status"] == "failed" and "cannot reach" in records[bad]["error"]
    assert records[ok]["status"] == "refreshed"


def test_ctrl_c_during_the_pull_exits_130_and_keeps_the_container(run, docker, monkeypatch):
    project_id = started(run, "web")
    old = container_of(docker, project_id)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("oubliette.ops.images.ImageManager.pull", interrupted)
    result = run("container", "refresh", project_id)
    assert result.exit_code == 130 and "Interrupted." in result.stderr
    assert container_of(docker, project_id) is old and old.state == "running"


def test_interrupted_refresh_is_recovered_by_the_next_refresh(run, docker):
    project_id = started(run, "web")
    old = container_of(docker, project_id)
    docker._stop([old.name])
    docker._rename([old.name, f"oubliette-{project_id}-previous"])  # killed right after the rename
    result = run("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    assert list(docker.containers) == [f"oubliette-{project_id}"]
    assert container_of(docker, project_id).state == "running"


# --- stop -------------------------------------------------------------------------------


def test_stop_one_and_a_project_without_container(run, docker):
    project_id = started(run, "web")
    result = run("container", "stop", project_id)
    assert result.exit_code == 0 and docker.containers == {}
    again = run("container", "stop", project_id)
    assert again.exit_code == 0 and "has no container" in again.stdout


def test_stop_all_is_one_stop_and_one_remove_and_spares_foreign_containers(run, docker):
    projects = [started(run, name) for name in "abc"]
    container_of(docker, projects[1]).state = "exited"
    foreign = docker.foreign("my-postgres")
    stops, removes = len(docker.calls("stop")), len(docker.calls("rm"))
    result = run("container", "stop", "--all")
    assert result.exit_code == 0 and "Stopped 3 containers." in result.stdout
    assert len(docker.calls("stop")) == stops + 1 and len(docker.calls("rm")) == removes + 1
    assert list(docker.containers) == ["my-postgres"] and foreign.state == "running"
    assert run("container", "stop", "--all").stdout.strip() == "No containers to stop."


def test_stop_needs_ids_or_all(run, docker):
    assert run("container", "stop").exit_code == 2
    assert run("container", "stop", "--all", "proj_0").exit_code == 2


def test_refresh_never_touches_foreign_containers(run, docker):
    started(run, "a")
    foreign = docker.foreign("my-redis", {"com.example": "x"})
    assert run("container", "refresh").exit_code == 0
    assert docker.containers["my-redis"] is foreign and foreign.state == "running"
    assert all("my-redis" not in call for call in docker.calls())
