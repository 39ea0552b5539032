"""Refresh, stop and start at engine speed: batched engine calls, no fixed sleep, concurrent
replacement with grouped output, and seeing and refreshing only what is out of date."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from oubliette.ops import swap
from tests.unit.conftest import BASE, DEV
from tests.unit.helpers import assert_clean_error, create, started


def test_a_refresh_of_several_projects_batches_its_engine_calls(run, docker):
    """No image inspect: each new container's look says which image it runs."""
    from tests.unit.fakes.docker import image_id

    projects = [started(run, name) for name in "abcde"]
    docker.push(DEV, seed="dev-2")
    before = len(docker.calls())
    result = run("container", "refresh", "--json", *projects)
    assert result.exit_code == 0, result.output
    assert {r["new_image_id"] for r in json.loads(result.stdout)} == {image_id("dev-2")}
    calls = docker.calls()[before:]
    count = {kind: sum(1 for c in calls if c[1:3] == kind.split() or c[1:2] == [kind])
             for kind in ("ps", "pull", "image inspect", "stop", "rename", "run", "rm")}
    assert count == {"ps": 0, "pull": 1, "image inspect": 0, "stop": 5, "rename": 5, "run": 5, "rm": 5}
    # the old containers (and any set aside) read by name in one inspect, as docker's ps gives
    # no image ids; then one state check per new container
    inspects = [c for c in calls if c[1:3] == ["container", "inspect"]]
    assert inspects[0][3:] == [name for p in sorted(projects) for name in (f"oubliette-{p}", f"oubliette-{p}-previous")]
    assert len(inspects) == 1 + 5


def test_projects_are_replaced_concurrently_with_each_projects_lines_together(run, docker):
    projects = [started(run, name) for name in "abcdef"]
    docker.push(DEV, seed="dev-2")
    result = run("container", "refresh", "--jobs", "3", *projects)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for project_id in projects:
        at = next(i for i, line in enumerate(lines)
                  if line.startswith(f"{project_id} (") and line.endswith("): restarting its container..."))
        assert lines[at + 1].startswith("  Image updated: ") and lines[at + 2] == "  Done."
    assert {c.state for c in docker.containers.values()} == {"running"}
    assert sorted(docker.containers) == sorted(f"oubliette-{p}" for p in projects)


def test_ctrl_c_while_containers_are_replaced_leaves_every_project_a_container(run, docker):
    projects = [started(run, name) for name in "abcdefgh"]
    docker.push(DEV, seed="dev-2")
    real_run = docker._run
    runs = []

    def run_then_interrupt(args):
        runs.append(args)
        if len(runs) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the main thread gets it, as from the terminal
        return real_run(args)

    docker._run = run_then_interrupt
    result = run("container", "refresh", "--jobs", "2", *projects)
    assert result.exit_code == 130 and "Interrupted." in result.stderr
    assert sorted(docker.containers) == sorted(f"oubliette-{p}" for p in projects)  # nothing set aside
    assert {c.state for c in docker.containers.values()} == {"running"}
    assert len(runs) < len(projects)  # the ones not started yet were skipped


def test_ctrl_c_while_the_work_is_handed_out_still_waits_for_the_swaps_under_way(run, docker, monkeypatch):
    from oubliette.ops import refresh

    projects = [started(run, name) for name in "abcdef"]
    docker.push(DEV, seed="dev-2")

    class InterruptedPool(refresh.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            if len(self._threads) == 2:  # both workers under way; the signal lands in the hand-out
                raise KeyboardInterrupt
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(refresh, "ThreadPoolExecutor", InterruptedPool)
    result = run("container", "refresh", "--jobs", "2", *projects)
    assert result.exit_code == 130
    assert not [t for t in threading.enumerate() if t.name.startswith("refresh")]  # none outlives the command
    assert result.stdout.count("  Done.") == 2 and "refreshed proj_" in result.stderr
    assert {c.state for c in docker.containers.values()} == {"running"}
    assert sorted(docker.containers) == sorted(f"oubliette-{p}" for p in projects)


def test_stop_of_several_projects_is_one_stop_and_one_remove_call(run, docker):
    projects = [started(run, name) for name in "abcd"]
    before = len(docker.calls())
    result = run("container", "stop", *projects)
    assert result.exit_code == 0, result.output
    calls = docker.calls()[before:]
    assert [c[1] for c in calls] == ["ps", "stop", "rm"]
    assert docker.containers == {}


def test_a_container_that_dies_a_moment_after_run_is_caught_by_the_one_look(run, docker, monkeypatch):
    monkeypatch.setattr(swap, "START_WINDOWS", True)
    project_id = create(run, "web")
    docker.local(DEV)
    real_container = docker._container
    seen = []

    def dead_by_the_look(args):
        name = args[-1]
        seen.append(name)
        if name in docker.containers:
            docker.containers[name].state = "exited"  # it died after `run` returned
        return real_container(args)

    docker._container = dead_by_the_look
    started_at = time.monotonic()
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, "stopped right after it started")
    assert f"oubliette-{project_id}" not in docker.containers
    assert time.monotonic() - started_at < 0.5 and seen[:1] == [f"oubliette-{project_id}"]


def test_a_healthy_start_waits_only_the_short_window(run, docker, monkeypatch):
    monkeypatch.setattr(swap, "START_WINDOWS", True)
    project_id = create(run, "web")
    docker.local(DEV)
    started_at = time.monotonic()
    assert run("container", "start", project_id).exit_code == 0
    assert time.monotonic() - started_at < 0.45  # the old fixed settle alone was 0.5 s
    assert len(docker.calls("container inspect")) == 1  # one look, begun after the window


def test_list_outdated_shows_containers_behind_their_reference_and_is_one_more_call(run, docker):
    behind, current = started(run, "behind"), started(run, "current", "--type", "base")
    newer = docker.push(DEV, seed="dev-2")
    docker._pull([DEV])  # the newer image arrives locally
    before = len(docker.calls())
    listed = json.loads(run("container", "list", "--outdated", "--json").stdout)
    assert len(docker.calls()) == before + 2  # the listing and one batched inspect
    assert [row["project_id"] for row in listed] == [behind]
    assert listed[0]["outdated"] is True and listed[0]["latest_image_id"] == newer
    assert run("container", "list", "--outdated", "-q").stdout.split() == [behind]
    assert current not in run("container", "list", "--outdated").stdout
    assert len(docker.calls()) > before
    plain_before = len(docker.calls())
    run("container", "list", "--json")
    assert len(docker.calls()) == plain_before + 1  # plain list: still one call


def test_a_type_that_now_maps_to_another_reference_is_outdated(run, docker, oubliette_home):
    from tests.unit.helpers import write_config

    project_id = started(run, "web")
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": BASE}})
    docker.local(BASE)
    (row,) = json.loads(run("container", "list", "--outdated", "--json").stdout)
    assert row["project_id"] == project_id and row["outdated"] is True


def test_if_changed_leaves_an_unchanged_container_running_and_prune_removes_what_was_superseded(run, docker):
    steady, moving = started(run, "steady", "--type", "base"), started(run, "moving")
    steady_container = docker.containers[f"oubliette-{steady}"]
    old_dev = docker.images[DEV]
    docker.push(DEV, seed="dev-2")
    result = run("container", "refresh", "--if-changed", "--prune", "--json")
    assert result.exit_code == 0, result.output
    records = {r["project_id"]: r for r in json.loads(result.stdout)}
    assert records[steady]["status"] == "unchanged" and records[moving]["status"] == "refreshed"
    assert docker.containers[f"oubliette-{steady}"] is steady_container and steady_container.state == "running"
    assert docker.removed_images == [old_dev]
    text = run("container", "refresh", "--if-changed")
    assert text.exit_code == 0 and text.stdout.rstrip().endswith("0 refreshed, 2 unchanged.")


def test_prune_never_forces_an_image_a_container_still_uses(run, docker):
    first, second = started(run, "a"), started(run, "b")
    old_dev = docker.images[DEV]
    docker.push(DEV, seed="dev-2")
    result = run("container", "refresh", first, "--prune")
    assert result.exit_code == 0, result.output
    assert "Kept the superseded image" in result.stdout and docker.removed_images == []
    assert docker.containers[f"oubliette-{second}"].image_id == old_dev


def test_a_swap_that_failed_leaves_its_journal_so_the_next_start_looks_first(run, docker, oubliette_home):
    project_id = started(run, "web")
    docker.push(DEV, seed="dev-2")
    docker.broken_images.add(DEV)  # the new image cannot run: the refresh rolls back
    assert run("container", "refresh", project_id).exit_code != 0
    journal = oubliette_home / "data/projects" / project_id / ".swap"
    assert journal.exists()
    docker.broken_images.clear()
    before = len(docker.calls())
    assert run("container", "start", project_id).exit_code == 0
    assert docker.calls()[before][1] == "ps" and not journal.exists()  # looked first, then cleared


def test_the_looks_at_a_refreshs_new_containers_share_inspects(run, docker, monkeypatch):
    """Swaps under way at once look at their new containers together (engines/looks.py)."""
    monkeypatch.setattr(swap, "START_WINDOWS", True)
    projects = [started(run, name) for name in "abcde"]
    docker.push(DEV, seed="dev-2")
    before = len(docker.calls())
    result = run("container", "refresh", "--json", *projects)
    assert result.exit_code == 0, result.output
    looks = [c[3:] for c in docker.calls()[before:] if c[1:3] == ["container", "inspect"]][1:]
    assert sorted(name for names in looks for name in names) == sorted(f"oubliette-{p}" for p in projects)
    assert len(looks) < len(projects)
