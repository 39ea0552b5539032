"""Homes sharing one engine: each sees and touches only the containers it created.

The fake engine holds containers of this home, of another home, an unlabelled one and
a pre-home-id one; every selection is checked against what it may touch.
"""

from __future__ import annotations

import json

from tests.unit.conftest import DEV
from tests.unit.fakes.docker import Container, image_id
from tests.unit.helpers import assert_clean_error, create, started


def home_id(home):
    return (home / "data" / "home.id").read_text().strip()


def other_homes_container(docker, project_id="proj_00000000aaaa", home="feedfacefeedface", state="running"):
    """A container another home created: same labels, another home id."""
    name = f"oubliette-{project_id}"
    docker.containers[name] = Container("f" * 64, name, DEV, image_id("x"), {
        "oubliette.project": project_id, "oubliette.type": "dev", "oubliette.image": DEV,
        "oubliette.home": home}, state=state)
    return docker.containers[name]


def test_list_refresh_all_and_stop_all_see_only_this_homes_containers(run, docker, oubliette_home):
    mine = started(run, "mine")
    theirs = other_homes_container(docker)
    listed = json.loads(run("container", "list", "--json", "--all").stdout)
    assert [row["project_id"] for row in listed] == [mine]

    refreshed = run("container", "refresh", "--json")
    assert refreshed.exit_code == 0, refreshed.output
    assert [r["project_id"] for r in json.loads(refreshed.stdout)] == [mine]
    assert "Warning" not in refreshed.stderr  # nothing about the other home's projects

    stopped = run("container", "stop", "--all", "--json")
    assert [r["project_id"] for r in json.loads(stopped.stdout)] == [mine]
    assert docker.containers[theirs.name].state == "running" and f"oubliette-{mine}" not in docker.containers


def test_a_foreign_container_holding_the_projects_name_is_reported_and_left_alone(run, docker):
    project_id = create(run, "web")
    squatter = docker.foreign(f"oubliette-{project_id}")  # no labels at all
    before = dict(vars(squatter))
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, f"oubliette-{project_id}", "did not create")
    assert "Hint:" in result.stderr
    assert docker.containers[squatter.name] is squatter and vars(squatter) == before
    assert docker.calls("rm") == [] and docker.calls("stop") == []


def test_a_labelled_container_of_another_home_with_the_projects_name_is_not_the_projects(run, docker,
                                                                                          oubliette_home):
    project_id = create(run, "web")
    theirs = other_homes_container(docker, project_id)
    for args in (("container", "start", project_id), ("session", "start", project_id, "--", "true"),
                 ("container", "refresh", project_id)):
        assert_clean_error(run(*args), 1, "did not create")
    # a session execs without looking first, naming this home: the wrapper ran nothing there
    home_id = (oubliette_home / "data/home.id").read_text().strip()
    assert [c[-3:] for c in docker.calls("exec")] == [["oubliette-session", home_id, "true"]]
    assert docker.containers[theirs.name].state == "running"
    stop = run("container", "stop", project_id)
    assert stop.exit_code == 0 and "has no container" in stop.stdout
    assert docker.containers[theirs.name].state == "running"


def test_a_container_with_our_home_label_but_without_the_workspace_is_ours_only_by_label(run, docker, oubliette_home):
    project_id = started(run, "web")
    container = docker.containers[f"oubliette-{project_id}"]
    container.labels["oubliette.home"] = "0123456789abcdef"  # somebody relabelled it: not ours any more
    assert json.loads(run("container", "list", "--json").stdout) == []
    assert_clean_error(run("container", "start", project_id), 1, "did not create")


def test_a_pre_home_id_container_counts_only_when_it_mounts_the_projects_workspace(run, docker, oubliette_home):
    project_id = create(run, "web")
    workspace = oubliette_home / "data/projects" / project_id / "workspace"
    name = f"oubliette-{project_id}"
    labels = {"oubliette.project": project_id, "oubliette.type": "dev", "oubliette.image": DEV}
    docker.local(DEV)
    docker.containers[name] = Container("a" * 64, name, DEV, docker.images[DEV], dict(labels), mounts=["/elsewhere"])
    assert json.loads(run("container", "list", "--json").stdout) == []  # wrong mount: not ours
    assert_clean_error(run("container", "start", project_id), 1, "did not create")

    docker.containers[name].mounts = [str(workspace)]
    listed = json.loads(run("container", "list", "--json").stdout)
    assert [row["project_id"] for row in listed] == [project_id]
    result = run("container", "start", project_id)  # recreated with this home's label
    assert result.exit_code == 0, result.output
    assert docker.containers[name].id != "a" * 64
    assert docker.containers[name].labels["oubliette.home"] == home_id(oubliette_home)


def test_an_orphaned_container_is_marked_and_stop_by_id_removes_it(run, docker, oubliette_home):
    project_id = started(run, "web")
    (oubliette_home / "data/projects" / project_id / "metadata.json").unlink()
    listed = json.loads(run("container", "list", "--json").stdout)
    assert listed[0]["project_id"] == project_id and listed[0]["orphan"] is True
    assert "running (orphaned)" in run("container", "list").stdout
    refreshed = run("container", "refresh")
    assert "no longer exists" in refreshed.stderr
    stopped = run("container", "stop", project_id[:10])
    assert stopped.exit_code == 0, stopped.output
    assert f"oubliette-{project_id}" not in docker.containers


def test_a_failed_run_never_removes_what_another_home_made(run, docker, oubliette_home):
    """The name is taken between our look and our run: the holder is left alone."""
    project_id = create(run, "web")
    docker.local(DEV)
    real_run = docker._run

    def racing_run(args):
        other_homes_container(docker, project_id)
        return real_run(args)

    docker._run = racing_run
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, "did not create")
    assert docker.containers[f"oubliette-{project_id}"].labels["oubliette.home"] == "feedfacefeedface"
    assert docker.calls("rm") == []


# --- SIGTERM and SIGKILL mid-swap -------------------------------------------------------------


def test_sigterm_during_the_swap_finishes_it_and_exits_143(run, docker, oubliette_home):
    import os
    import signal

    project_id = started(run, "web")
    docker.push(DEV)  # a newer image
    real_stop = docker._stop

    def stop_then_sigterm(args):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while `docker stop` runs
        return real_stop(args)

    docker._stop = stop_then_sigterm
    result = run("container", "refresh", project_id)
    assert result.exit_code == 143 and "Terminated." in result.stderr, result.output
    assert "Traceback" not in result.output
    assert list(docker.containers) == [f"oubliette-{project_id}"]
    new = docker.containers[f"oubliette-{project_id}"]
    assert new.state == "running" and new.image_id == docker.registry[DEV]
    assert not (oubliette_home / "data/projects" / project_id / ".swap").exists()


def test_a_swap_journal_left_by_sigkill_makes_the_next_command_wait_for_its_engine_calls(run, docker, fp,
                                                                                           oubliette_home):
    import subprocess
    import sys
    import time

    project_id = started(run, "web")
    container = docker.containers[f"oubliette-{project_id}"]
    # The killed refresh's orphaned `docker stop`: still running, and it stops the container as it ends.
    fp.pass_command([sys.executable, fp.any()])
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    journal = oubliette_home / "data/projects" / project_id / ".swap"
    from oubliette.engines.pids import program_of, start_stamp

    journal.write_text(json.dumps({"pid": 999999, "calls": [[orphan.pid, start_stamp(orphan.pid),
                                                             program_of(orphan.pid)]]}))

    def orphan_finishes():
        orphan.wait()
        container.state = "exited"

    import threading

    threading.Thread(target=orphan_finishes).start()
    started_at = time.monotonic()
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started_at >= 0.5  # it waited for the orphan
    assert "already running" not in result.stdout and "Waiting for the engine calls" in result.stderr
    assert container.state == "running" and not journal.exists()


def test_a_project_deleted_while_start_waited_stays_deleted(run, docker, oubliette_home, monkeypatch):
    from oubliette.store.projects import ProjectStore

    real_resolve = ProjectStore.resolve

    def resolve_then_lose_the_race(self, ref):
        resolved = real_resolve(self, ref)
        self.delete(resolved, purge=True)  # `project delete --purge` finished in between
        return resolved

    for args in (("container", "start"), ("session", "start"), ("container", "refresh"), ("project", "delete")):
        project_id = create(run, "web")
        monkeypatch.setattr(ProjectStore, "resolve", resolve_then_lose_the_race)
        result = run(*args, project_id)
        monkeypatch.setattr(ProjectStore, "resolve", real_resolve)
        assert_clean_error(result, 1, project_id)
        # under the lock: "was deleted"; refresh and delete read the project before they lock it,
        # and may find it gone there
        assert "was deleted" in result.stderr or (args[1] in ("refresh", "delete") and "no project" in result.stderr)
        assert not (oubliette_home / "data/projects" / project_id).exists()
    assert docker.calls("run") == []
