"""`oubliette project ...` with a fake engine: types from the config, ids, delete rules."""

from __future__ import annotations

import json
import os

import pytest

from oubliette.store.sessions import SessionRegistry
from tests.unit.conftest import BASE, DEV
from tests.unit.helpers import assert_clean_error, write_config


def create(run, *args):
    result = run("project", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_create_prints_only_the_new_id_and_uses_the_default_type(run, docker, oubliette_home):
    project_id = create(run, "web")
    assert project_id.startswith("proj_") and len(project_id) == 17
    meta = json.loads((oubliette_home / "data" / "projects" / project_id / "metadata.json").read_text())
    assert meta["type"] == "dev" and meta["name"] == "web"
    assert (oubliette_home / "data" / "projects" / project_id / "workspace").is_dir()
    assert docker.calls() == []  # creating a project never touches the engine


def test_create_custom_type_from_config_and_configured_default(run, docker, oubliette_home):
    write_config(oubliette_home, {"containers": {"python-ml": "my.reg/ml:v2", "dev": DEV},
                                  "defaults": {"container": {"type": "python-ml"}}})
    project_id = create(run, "ml")
    shown = json.loads(run("project", "show", project_id, "--json").stdout)
    assert shown["type"] == "python-ml" and shown["image"] == "my.reg/ml:v2"
    assert json.loads(run("project", "create", "x", "--type", "dev", "--json").stdout)["type"] == "dev"


def test_unknown_type_lists_the_valid_ones(run, docker):
    result = run("project", "create", "x", "--type", "osint")
    assert_clean_error(result, 1, "unknown container type: osint (valid types: base, dev)")


def test_list_table_json_quiet_and_empty(run, docker):
    empty = run("project", "list")
    assert empty.exit_code == 0 and empty.stdout.split() == ["PROJECT", "ID", "NAME", "TYPE", "STATUS", "CREATED"]
    assert json.loads(run("project", "list", "--json").stdout) == []
    first, second = create(run, "a"), create(run, "b", "--type", "base")
    table = run("project", "list").stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ID", "NAME", "TYPE", "STATUS", "CREATED"]
    assert {line.split()[0] for line in table[1:]} == {first, second}
    assert set(run("project", "list", "-q").stdout.split()) == {first, second}
    records = json.loads(run("project", "list", "--json").stdout)
    assert {r["id"]: r["image"] for r in records} == {first: DEV, second: BASE}


def test_prefix_unknown_ambiguous_and_invalid_ids(run, docker, oubliette_home):
    project_id = create(run, "a")
    assert json.loads(run("project", "show", project_id[:8], "--json").stdout)["id"] == project_id
    assert json.loads(run("project", "show", project_id[5:9], "--json").stdout)["id"] == project_id
    assert_clean_error(run("project", "show", "proj_ffffffffffff"), 1, "no project matches")
    assert_clean_error(run("project", "show", "--", "-rf"), 1, "no project matches '-rf' (neither a name nor an id)")
    assert_clean_error(run("project", "show", "proj_xyz"), 1, "no project matches")
    other = create(run, "b")
    while other[5] != project_id[5]:  # make two ids share a prefix
        run("project", "delete", other, "--purge", "--yes")
        other = create(run, "b")
    assert_clean_error(run("project", "show", project_id[:6]), 1, "matches 2 projects")


def test_options_lists_types_images_and_default(run, docker):
    data = json.loads(run("project", "options", "--json").stdout)
    assert data == {"container_types": {"available": [{"name": "base", "image": BASE}, {"name": "dev", "image": DEV}],
                                        "default": "dev"}}
    table = run("project", "options").stdout.splitlines()
    assert table[0].split() == ["TYPE", "IMAGE", "DEFAULT"]
    assert table[2].split() == ["dev", DEV, "yes"]


def test_delete_removes_container_and_keeps_workspace(run, docker, oubliette_home):
    project_id = create(run, "a")
    run("container", "start", project_id)
    (oubliette_home / "data/projects" / project_id / "workspace/keep.txt").write_text("work")
    result = run("project", "delete", project_id)
    assert result.exit_code == 0, result.output
    assert docker.containers == {}
    assert (oubliette_home / "data/projects" / project_id / "workspace/keep.txt").read_text() == "work"
    assert run("project", "list", "-q").stdout == ""
    assert_clean_error(run("project", "show", project_id), 1, "no project matches")


def test_delete_purge_removes_everything_only_when_confirmed(run, docker, oubliette_home):
    project_id = create(run, "a")
    (oubliette_home / "data/projects" / project_id / "workspace" / "work.txt").write_text("mine")
    refused = run("project", "delete", project_id, "--purge")  # no terminal, no --yes
    assert_clean_error(refused, 1, "without confirmation")
    assert "--yes" in refused.stderr
    assert (oubliette_home / "data/projects" / project_id / "workspace" / "work.txt").exists()
    assert run("project", "show", project_id).exit_code == 0
    assert run("project", "delete", project_id, "--purge", "--yes").exit_code == 0
    assert not (oubliette_home / "data/projects" / project_id).exists()


def test_delete_refused_while_a_session_is_active(run, docker, oubliette_home):
    project_id = create(run, "a")
    run("container", "start", project_id)
    session = SessionRegistry(oubliette_home).register(project_id, ["sleep", "9"], pid=os.getpid())
    result = run("project", "delete", project_id)
    assert_clean_error(result, 1, "cannot delete project: 1 active session(s) exist - end them first")
    assert list(docker.containers) == [f"oubliette-{project_id}"]
    SessionRegistry(oubliette_home).unregister(session)
    assert run("project", "delete", project_id).exit_code == 0


@pytest.mark.parametrize("name", ["", "   ", "a\nb"])
def test_bad_project_names(run, docker, name):
    assert_clean_error(run("project", "create", name), 1, "invalid project name")
