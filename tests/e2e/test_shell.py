"""What a shell user reaches for first, on each real engine: names, their own directories,
status, safe destructive commands, completion, doctor and root sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import oubliette, scenario_engine, write_config


@pytest.fixture
def dev_type(request, home, images) -> str:
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    scenario_engine(request).configure(home, {"dev": repo, "base": repo})
    return repo


def ok(*args: str, home) -> subprocess.CompletedProcess:
    result = oubliette(*args, home=home)
    assert result.returncode == 0, (args, result.stderr)
    return result


def test_projects_are_addressed_by_name_and_names_are_unique(any_engine, home, dev_type):
    engine = any_engine  # on the cluster too
    project_id = ok("project", "create", "web", *engine.create_args, home=home).stdout.strip()
    duplicate = oubliette("project", "create", "web", home=home)
    assert duplicate.returncode == 1
    assert f"Error: a project named 'web' exists already ({project_id})" in duplicate.stderr
    assert "Hint:" in duplicate.stderr
    reserved = oubliette("project", "create", "proj_x", home=home)
    assert reserved.returncode == 1 and "may not start with proj_" in reserved.stderr
    ok("container", "start", "web", home=home)
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]
    assert json.loads(ok("project", "show", "web", "--json", home=home).stdout)["id"] == project_id
    ok("project", "update", "web", "--name", "site", home=home)
    assert json.loads(ok("project", "show", "site", "--json", home=home).stdout)["name"] == "site"


def test_a_workspace_of_the_users_own_is_mounted_and_survives_purge(engine, home, dev_type, tmp_path):
    code = tmp_path / "my-code"
    (code / "src").mkdir(parents=True)
    (code / "src" / "main.txt").write_text("hello")
    project_id = ok("project", "create", "mine", "--workspace", str(code), home=home).stdout.strip()
    shown = json.loads(ok("project", "show", project_id, "--json", home=home).stdout)
    assert shown["workspace"] == str(code.resolve()) and shown["workspace_kind"] == "user"
    result = oubliette("session", "start", project_id, "--", "sh", "-c",
                       "cat src/main.txt; echo made-inside > out.txt", home=home)
    assert result.returncode == 0 and result.stdout.strip() == "hello", result.stderr
    assert (code / "out.txt").read_text().strip() == "made-inside"
    ok("project", "delete", project_id, "--purge", "--yes", home=home)
    assert (code / "src" / "main.txt").read_text() == "hello" and (code / "out.txt").exists()
    assert engine.labelled(f"oubliette.project={project_id}") == []


def test_project_list_shows_each_containers_status_from_one_engine_call(engine, home, dev_type):
    running = ok("project", "create", "running", home=home).stdout.strip()
    stopped = ok("project", "create", "stopped", home=home).stdout.strip()
    paused = ok("project", "create", "paused", home=home).stdout.strip()
    idle = ok("project", "create", "idle", home=home).stdout.strip()
    for project_id in (running, stopped, paused):
        ok("container", "start", project_id, home=home)
    engine.cli("stop", f"oubliette-{stopped}")
    engine.cli("pause", f"oubliette-{paused}")
    records = {r["id"]: r["status"] for r in json.loads(
        ok("--runtime", engine.name, "project", "list", "--json", home=home).stdout)}
    assert records == {running: "running", stopped: "stopped", paused: "paused", idle: "none"}
    table = ok("project", "list", home=home).stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ID", "NAME", "TYPE", "STATUS", "CREATED"]
    debug = oubliette("project", "list", home=home, env={"OUBLIETTE_DEBUG": "1"})
    assert sum(line.startswith("[oubliette] ") for line in debug.stderr.splitlines()) == 1
    # a paused container is unpaused by start, not replaced
    before = engine.inspect(f"oubliette-{paused}")["Id"]
    ok("container", "start", paused, running, home=home)
    now = engine.inspect(f"oubliette-{paused}")
    assert now["Id"] == before and now["State"]["Status"] == "running"


def test_stop_refuses_while_a_session_runs_unless_forced_and_purge_needs_yes(any_engine, home, dev_type):
    engine = any_engine  # on the cluster too
    project_id = ok("project", "create", "busy", *engine.create_args, home=home).stdout.strip()
    client = subprocess.Popen([sys.executable, "-m", "oubliette", "session", "start", project_id, "--",
                               "sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env={**os.environ, "OUBLIETTE_HOME": str(home)})
    try:
        deadline = time.monotonic() + 60
        while not json.loads(ok("session", "list", "--json", home=home).stdout) and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = oubliette("container", "stop", project_id, home=home)
        assert refused.returncode == 1 and "active session(s) exist" in refused.stderr and "--force" in refused.stderr
        assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]
        engine.write_workspace(home, project_id, "keep.txt", "x")
        ok("container", "stop", project_id, "--force", home=home)
        assert engine.labelled(f"oubliette.project={project_id}") == []
    finally:
        client.kill()
        client.wait(timeout=30)
    refused = oubliette("project", "delete", project_id, "--purge", home=home)  # no terminal, no --yes
    assert refused.returncode == 1 and "--yes" in refused.stderr
    ok("container", "start", project_id, home=home)
    assert engine.read_workspace(home, project_id, "keep.txt") == "x"
    ok("project", "delete", project_id, "--purge", "--yes", home=home)
    assert not engine.has_workspace(home, project_id)


def complete(home, words: str, env_extra: dict | None = None) -> list[str]:
    """What bash completion offers for the last (possibly empty) word of `words`."""
    parts = words.split(" ")
    env = {**os.environ, "OUBLIETTE_HOME": str(home), "_OUBLIETTE_COMPLETE": "bash_complete",
           "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1), **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", "oubliette"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]


def test_completion_offers_ids_names_and_types_without_an_engine(engine, home, dev_type):
    project_id = ok("project", "create", "website", home=home).stdout.strip()
    offered = complete(home, "oubliette container start ", {"PATH": "/nonexistent"})  # no engine reachable
    assert project_id in offered and "website" in offered
    assert complete(home, "oubliette container start web") == ["website"]
    assert complete(home, "oubliette project create x --type ") == ["base", "dev"]
    assert "doctor" in complete(home, "oubliette d")
    source = subprocess.run([sys.executable, "-m", "oubliette"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "_OUBLIETTE_COMPLETE": "bash_source"})
    assert "complete -o nosort -F" in source.stdout


def test_doctor_healthy_broken_config_and_no_engine(engine, home, dev_type):
    ok("init", "--no-pull", home=home)
    write_config(home, {"dev": dev_type})
    healthy = oubliette("doctor", "--json", home=home)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["healthy"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["engine"]["status"] == "ok" and engine.name.capitalize() in checks["engine"]["detail"]
    assert checks[f"image {dev_type}"]["status"] == "warn"  # not pulled yet: a warning, with its hint
    (home / "config" / "oubliette.jsonc").write_text('{"containers": {"dev": "x:1",}')
    broken = oubliette("doctor", home=home)
    assert broken.returncode == 1 and "fail  config" in broken.stdout and "Hint:" in broken.stdout
    write_config(home, {"dev": dev_type})
    missing = oubliette("doctor", home=home, env={"PATH": "/nonexistent"})
    assert missing.returncode == 3 and "fail  engine" in missing.stdout
    for result in (healthy, broken, missing):
        assert "Traceback" not in result.stderr


def test_a_root_session_runs_as_root(any_engine, home, dev_type):
    engine = any_engine  # on the cluster too
    project_id = ok("project", "create", "rooted", *engine.create_args, home=home).stdout.strip()
    result = oubliette("session", "start", "--root", project_id, "--", "id", "-u", home=home)
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stderr
