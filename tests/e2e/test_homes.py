"""Homes sharing a real engine, and a home under stress: killed refreshes, a delete racing a
start, a read-only home. Each scenario runs on every engine; every outcome is checked with
the engine's own raw commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from tests.e2e.conftest import background, create, oubliette, start, wait_for_line, write_config


def home_id(home) -> str:
    return (home / "data" / "home.id").read_text().strip()


def test_two_homes_on_one_engine_never_see_or_touch_each_other(any_engine, home, other_home, images):
    engine = any_engine  # on the cluster too: two homes in one namespace
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    for each in (home, other_home):
        engine.configure(each, {"dev": repo})
    mine, theirs = create(home, engine=engine), create(other_home, engine=engine)
    start(engine, home, mine)
    their_container = start(engine, other_home, theirs)
    assert home_id(home) != home_id(other_home)

    listed = json.loads(oubliette("container", "list", "--all", "--json", home=home).stdout)
    assert [row["project_id"] for row in listed] == [mine]
    refreshed = oubliette("container", "refresh", "--json", home=home)
    assert refreshed.returncode == 0, refreshed.stderr
    assert [r["project_id"] for r in json.loads(refreshed.stdout)] == [mine]
    assert "no longer exists" not in refreshed.stderr
    stopped = oubliette("container", "stop", "--all", home=home)
    assert stopped.returncode == 0 and "Stopped 1 container." in stopped.stdout
    assert engine.labelled(f"oubliette.project={mine}") == []
    now = engine.inspect(f"oubliette-{theirs}")
    assert now["Id"] == their_container["Id"] and now["State"]["Running"]  # the other home's, untouched


def test_a_foreign_container_holding_the_projects_name_is_left_exactly_as_it_was(engine, home, images):
    repo = images.repo("dev") + ":latest"
    image = images.push(repo, keep_local=True)
    write_config(home, {"dev": repo})
    project_id = create(home)
    name = f"oubliette-{project_id}"
    foreign_id = engine.out("run", "-d", "--name", name, image.ref, "sleep", "infinity")
    try:
        for args in (("container", "start", project_id), ("session", "start", project_id, "--", "true")):
            result = oubliette(*args, home=home)
            assert result.returncode == 1 and "Traceback" not in result.stderr
            assert f"Error: the container name {name} is taken by container {foreign_id[:12]}" in result.stderr
            assert "Hint:" in result.stderr
        stopped = oubliette("container", "stop", "--all", home=home)
        assert stopped.returncode == 0 and "No containers to stop." in stopped.stdout
        now = engine.inspect(name)
        assert now["Id"] == foreign_id and now["State"]["Running"] and not now["Config"]["Labels"]
    finally:
        engine.cli("rm", "--force", name, check=False)


def test_a_container_made_before_home_ids_is_adopted_on_docker_and_left_alone_elsewhere(engine, home, images):
    """Docker lists mount sources, so an old container that mounts the project's workspace is
    recognised and relabelled; podman lists only destinations, so (no oubliette before home ids
    ever drove podman) such a container is treated as foreign: left alone, never removed."""
    repo = images.repo("dev") + ":latest"
    image = images.push(repo, keep_local=True)
    write_config(home, {"dev": repo})
    project_id = create(home)
    workspace = home / "data/projects" / project_id / "workspace"
    old_id = engine.out("run", "-d", "--name", f"oubliette-{project_id}", "--label", f"oubliette.project={project_id}",
                        "--label", "oubliette.type=dev", "--label", f"oubliette.image={image.ref}",
                        "--volume", f"{workspace}:/workspace", image.ref, "sleep", "infinity")
    listed = json.loads(oubliette("container", "list", "--json", home=home).stdout)
    result = oubliette("container", "start", project_id, home=home)
    now = engine.inspect(f"oubliette-{project_id}")
    if engine.name != "docker":
        assert listed == [] and result.returncode == 1 and "did not create" in result.stderr
        assert now["Id"] == old_id and now["State"]["Running"]
        return
    assert [row["project_id"] for row in listed] == [project_id]
    assert result.returncode == 0, result.stderr
    assert now["Id"] != old_id and now["State"]["Running"]
    assert now["Config"]["Labels"]["oubliette.home"] == home_id(home)


def test_sigterm_mid_refresh_finishes_the_swap_and_exits_143(engine, home, slow_stopping):
    project_id, old, new_image = slow_stopping
    proc = background(home, "container", "refresh", project_id)
    wait_for_line(proc.stdout, "restarting its container...")
    time.sleep(1.0)  # `docker stop` is now waiting out the container's ignored SIGTERM
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Terminated." in err and "Traceback" not in err
    assert f"Warning: refresh interrupted: refreshed {project_id} (" in err  # says which were done
    now = engine.inspect(f"oubliette-{project_id}")
    assert now["Id"] != old["Id"] and now["State"]["Running"] and now["Image"] == new_image.id
    assert engine.labelled(f"oubliette.project={project_id}") == [now["Id"]]  # nothing set aside


def test_after_a_sigkill_mid_refresh_the_next_start_waits_and_leaves_a_running_container(engine, home, slow_stopping):
    project_id, old, _ = slow_stopping
    proc = background(home, "container", "refresh", project_id)
    wait_for_line(proc.stdout, "restarting its container...")
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=30)
    assert (home / "data/projects" / project_id / ".swap").exists()

    result = oubliette("container", "start", project_id, home=home)
    assert result.returncode == 0, result.stderr
    assert "already running" not in result.stdout
    assert "Waiting for the engine calls of an interrupted operation" in result.stderr
    assert not (home / "data/projects" / project_id / ".swap").exists()
    now = engine.inspect(f"oubliette-{project_id}")
    assert now["State"]["Running"]
    time.sleep(2)  # the orphaned `docker stop` has finished: nothing stops it any more
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]
    assert len(engine.labelled(f"oubliette.project={project_id}")) == 1


def test_delete_racing_start_never_leaves_a_container_or_a_recreated_workspace(any_engine, home, images):
    engine = any_engine  # on the cluster too: no pod, no claim left
    repo = images.repo("dev") + ":latest"
    images.push(repo, keep_local=True)
    engine.configure(home, {"dev": repo})
    for _ in range(5):
        project_id = create(home, engine=engine)
        starter = background(home, "container", "start", project_id)
        deleter = background(home, "project", "delete", project_id, "--purge", "--yes")
        outputs = [p.communicate(timeout=120) for p in (starter, deleter)]
        assert deleter.returncode == 0, outputs
        for _, err in outputs:
            assert "Traceback" not in err
        assert starter.returncode in (0, 1), outputs
        if starter.returncode == 1:
            assert "was deleted" in outputs[0][1] or "no project matches" in outputs[0][1]
        assert engine.labelled(f"oubliette.project={project_id}") == []
        assert not (home / "data/projects" / project_id).exists() and not engine.has_workspace(home, project_id)


def test_a_read_only_home_still_lists_and_stops(any_engine, home, images):
    engine = any_engine  # on the cluster too
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    repo = images.repo("dev") + ":latest"
    images.push(repo, keep_local=True)
    engine.configure(home, {"dev": repo})
    project_id = create(home, engine=engine)
    start(engine, home, project_id)
    subprocess.run(["mount", "--bind", str(home), str(home)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(home)], check=True)
        listed = oubliette("container", "list", "--json", home=home)
        assert listed.returncode == 0, listed.stderr
        assert [row["project_id"] for row in json.loads(listed.stdout)] == [project_id]
        created = oubliette("project", "create", "x", home=home)
        assert created.returncode == 1 and "Error: cannot create the project" in created.stderr
        assert "Traceback" not in created.stderr
        stopped = oubliette("container", "stop", project_id, home=home)
        assert stopped.returncode == 0, stopped.stderr
        assert engine.labelled(f"oubliette.project={project_id}") == []
    finally:
        subprocess.run(["umount", str(home)], check=False)


def test_the_suites_own_stop_all_spares_a_running_container_of_another_home(engine, home, other_home, images):
    """`python3 -m pytest` beside real project containers leaves them running."""
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    write_config(other_home, {"dev": repo})
    write_config(home, {"dev": repo})
    users = create(other_home, f"real-work-{uuid.uuid4().hex[:4]}")
    theirs = start(engine, other_home, users)
    start(engine, home, create(home))
    assert oubliette("container", "stop", "--all", home=home).returncode == 0
    assert oubliette("container", "refresh", home=home).returncode == 0
    now = engine.inspect(f"oubliette-{users}")
    assert now["Id"] == theirs["Id"] and now["State"]["Running"]
