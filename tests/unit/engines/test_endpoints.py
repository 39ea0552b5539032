"""Named engines: config, pinning, volume workspaces, one list over every engine.

The fake docker answers calls by their DOCKER_HOST, so a second engine here is a second
FakeDocker that only calls carrying its address reach.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oubliette.engines import transfer
from oubliette.errors import ConfigError
from oubliette.store.config import parse_config
from tests.unit.conftest import BASE, DEV
from tests.unit.helpers import assert_clean_error, create, write_config

BOX = "tcp://127.0.0.1:2399"


@pytest.fixture
def box(docker, oubliette_home):
    """A second engine, `box`, reached over tcp; the config names it."""
    engine = docker.remote(BOX)
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": DEV},
                                  "engines": {"box": {"runtime": "docker", "host": BOX}}})
    return engine


# --- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(("engines", "key", "fragment"), [
    ([], "engines", "expected an object"),
    ({"default": {"runtime": "docker"}}, "engines.default", "invalid engine name"),
    ({"Box": {"runtime": "docker"}}, "engines.Box", "invalid engine name"),
    ({"box": "ssh://me@box"}, "engines.box", "expected an object"),
    ({"box": {"host": BOX}}, "engines.box.runtime", "expected one of docker, podman"),
    ({"box": {"runtime": "apple"}}, "engines.box.runtime", "this Mac's engine only"),
    ({"box": {"runtime": "docker", "host": "http://box"}}, "engines.box.host", "expected a URL"),
    ({"box": {"runtime": "docker", "host": BOX, "context": "x"}}, "engines.box", "not both"),
    ({"box": {"runtime": "docker", "context": "-H x"}}, "engines.box.context", "expected the name"),
    ({"box": {"runtime": "podman", "context": "x"}}, "engines.box.context", "unknown key"),
    ({"box": {"runtime": "docker", "workspace": "nfs"}}, "engines.box.workspace", "expected \"bind\" or \"volume\""),
])
def test_a_bad_engines_block_names_the_key_at_fault(engines, key, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_config(json.dumps({"engines": engines}), Path("/h/oubliette.jsonc"))
    assert f"/h/oubliette.jsonc: {key}: " in caught.value.message and fragment in caught.value.message


def test_a_bad_engines_block_is_one_clean_error_on_the_command_line(run, docker, oubliette_home):
    write_config(oubliette_home, {"engines": {"box": {"runtime": "docker", "host": "box:2376"}}})
    assert_clean_error(run("project", "create", "web", "--engine", "box"), 1, "engines.box.host")


def test_an_engine_the_config_does_not_name_is_refused_at_create(run, box):
    assert_clean_error(run("project", "create", "web", "--engine", "nope"), 1, "no engine named 'nope'", "box")


# --- create and the workspace kind ------------------------------------------------------------


@pytest.mark.parametrize(("entry", "kind"), [
    ({"host": BOX}, "volume"),
    ({"host": "ssh://me@buildbox"}, "volume"),
    ({"host": "unix:///run/other.sock"}, "oubliette"),
    ({"host": BOX, "workspace": "bind"}, "oubliette"),
    ({"context": "team-host"}, "volume"),  # its endpoint is ssh://
    ({"context": "default"}, "oubliette"),  # a local socket
    ({}, "oubliette"),
])
def test_create_pins_the_engine_and_picks_the_workspace_by_where_it_is(run, docker, oubliette_home, entry, kind):
    write_config(oubliette_home, {"containers": {"dev": DEV}, "engines": {"box": {"runtime": "docker", **entry}}})
    record = json.loads(run("project", "create", "web", "--engine", "box", "--json").stdout)
    assert record["engine"] == "box" and record["workspace_kind"] == kind
    volume = f"oubliette-{record['id']}-workspace"
    assert record["volume"] == (volume if kind == "volume" else None)
    assert (record["workspace"] is None) == (kind == "volume")
    assert not (oubliette_home / "data/projects" / record["id"] / "workspace").exists() or kind != "volume"
    assert all(call[1] == "context" for call in docker.log)  # creating contacts no engine
    shown = json.loads(run("project", "show", record["id"], "--json").stdout)
    assert shown["engine"] == "box"
    assert json.loads(run("project", "list", "--json").stdout)[0]["engine"] == "box"


def test_an_unknown_context_without_a_workspace_setting_is_a_clean_error(run, docker, oubliette_home):
    write_config(oubliette_home, {"engines": {"box": {"runtime": "docker", "context": "gone"}}})
    result = run("project", "create", "web", "--engine", "box")
    assert_clean_error(result, 1, "cannot tell where the engine 'box'")
    assert '"workspace": "bind" or "volume" in engines.box' in result.stderr


def test_a_directory_workspace_is_refused_on_a_volume_engine(run, box, tmp_path):
    result = run("project", "create", "web", "--engine", "box", "--workspace", str(tmp_path))
    assert_clean_error(result, 1, "keeps workspaces in volumes")
    assert "workspace push" in result.stderr


def test_projects_without_an_engine_say_default(run, docker):
    project_id = create(run, "web")
    assert json.loads(run("project", "show", project_id, "--json").stdout)["engine"] == "default"


# --- a pinned project lives on its engine only ------------------------------------------------


def test_a_pinned_project_starts_refreshes_and_stops_on_its_engine_whatever_the_shell_says(
        run, docker, box, oubliette_home, monkeypatch):
    project_id = create(run, "web", "--engine", "box")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")  # the shell points elsewhere
    assert run("container", "start", project_id).exit_code == 0
    name, volume = f"oubliette-{project_id}", f"oubliette-{project_id}-workspace"
    assert name in box.containers and name not in docker.containers
    home_id = (oubliette_home / "data/home.id").read_text().strip()
    assert box.volumes == {volume: {"oubliette.project": project_id, "oubliette.home": home_id}}
    assert f"type=volume,source={volume},target=/workspace" in box.calls("run")[0]
    assert all(env["DOCKER_HOST"] == BOX and "DOCKER_CONTEXT" not in env for env in box.envs)
    old = box.containers[name].id
    box.push(DEV, seed="dev-2")
    refreshed = run("container", "refresh", project_id, "--json")
    assert refreshed.exit_code == 0, refreshed.output
    assert box.containers[name].id != old and box.containers[name].volumes == [volume] and volume in box.volumes
    assert not docker.calls("run") and not docker.calls("pull")
    assert run("container", "stop", project_id).exit_code == 0
    assert name not in box.containers and volume in box.volumes  # stop keeps the workspace


def test_an_unpinned_project_follows_the_shells_docker_host(run, docker, box, monkeypatch):
    project_id = create(run, "web")
    monkeypatch.setenv("DOCKER_HOST", BOX)
    assert run("container", "start", project_id).exit_code == 0
    assert f"oubliette-{project_id}" in box.containers


def test_delete_keeps_the_volume_and_purge_removes_it(run, box):
    kept, purged = create(run, "kept", "--engine", "box"), create(run, "purged", "--engine", "box")
    for project_id in (kept, purged):
        assert run("container", "start", project_id).exit_code == 0
    record = json.loads(run("project", "delete", kept, "--json").stdout)
    assert record["volume"] == f"oubliette-{kept}-workspace" and record["workspace"] is None
    assert f"oubliette-{kept}-workspace" in box.volumes
    record = json.loads(run("project", "delete", purged, "--purge", "--yes", "--json").stdout)
    assert record["volume"] is None and f"oubliette-{purged}-workspace" not in box.volumes
    assert not box.containers or all(purged not in name and kept not in name for name in box.containers)


def test_a_project_on_an_unreachable_engine_exits_3_naming_it(run, docker, box):
    project_id = create(run, "web", "--engine", "box")
    docker.remotes.clear()  # nothing answers at BOX any more
    for args in (("container", "start", project_id), ("container", "stop", project_id),
                 ("container", "refresh", project_id), ("project", "delete", project_id)):
        result = run(*args)
        assert_clean_error(result, 3, "the engine 'box'", BOX, "cannot be reached")
    assert run("project", "show", project_id).exit_code == 0  # nothing was deleted


def test_a_project_whose_engine_left_the_config_is_a_clean_error(run, docker, box, oubliette_home):
    project_id = create(run, "web", "--engine", "box")
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": DEV}})
    assert_clean_error(run("container", "start", project_id), 1, "engine 'box' is not in the config")


def test_a_damaged_engine_field_is_reported_as_damage(run, docker, oubliette_home):
    project_id = create(run, "web")
    path = oubliette_home / "data/projects" / project_id / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "engine": ["box"]}))
    assert_clean_error(run("project", "show", project_id), 1, "engine: expected the name of an engine")


# --- one list over every engine ------------------------------------------------------------


def test_list_shows_every_engines_containers_with_their_engine(run, docker, box):
    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    for project_id in (here, there):
        assert run("container", "start", project_id).exit_code == 0
    before = len(docker.log) + len(box.log)
    rows = json.loads(run("container", "list", "--json").stdout)
    assert len(docker.log) + len(box.log) == before + 2  # one call per engine
    assert {(r["project_id"], r["engine"]) for r in rows} == {(here, "default"), (there, "box")}
    table = run("container", "list").stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ID", "NAME", "IMAGE", "STATUS", "ENGINE"]
    assert any(line.startswith(there) and line.split()[-1] == "box" for line in table[1:])
    statuses = {p["id"]: p["status"] for p in json.loads(run("project", "list", "--json").stdout)}
    assert statuses == {here: "running", there: "running"}


def test_one_engine_in_use_has_no_engine_column(run, docker, box):
    create(run, "there", "--engine", "box")  # pinned, never started: box is the one engine in use
    assert run("container", "list").stdout.split() == ["PROJECT", "ID", "NAME", "IMAGE", "STATUS"]


def test_an_unreachable_engine_is_a_warning_and_the_others_are_still_listed(run, docker, box):
    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    for project_id in (here, there):
        assert run("container", "start", project_id).exit_code == 0
    docker.remotes.clear()
    result = run("container", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [r["project_id"] for r in json.loads(result.stdout)] == [here]
    assert "Warning: the engine 'box'" in result.stderr and BOX in result.stderr
    listed = run("project", "list", "--json")
    assert {p["id"]: p["status"] for p in json.loads(listed.stdout)} == {here: "running", there: "unknown"}
    refreshed = run("container", "refresh", "--json")
    assert [r["project_id"] for r in json.loads(refreshed.stdout)] == [here]
    assert_clean_error(refreshed, 3, "the engine 'box'", "its containers were not refreshed (the others were)")
    stopped = run("container", "stop", "--all", "--json")
    assert [r["project_id"] for r in json.loads(stopped.stdout)] == [here]
    assert_clean_error(stopped, 3, "the engine 'box'", "its containers were not stopped (the others were)")
    assert "Warning:" not in stopped.stderr


def test_every_engine_unreachable_is_exit_3(run, docker, box):
    create(run, "there", "--engine", "box")
    docker.remotes.clear()
    assert_clean_error(run("container", "list"), 3, "the engine 'box'")


def test_refresh_of_all_goes_on_past_an_unreachable_engine(run, docker, box):
    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    for project_id in (here, there):
        assert run("container", "start", project_id).exit_code == 0
    docker.push(DEV, seed="dev-2")
    result = run("container", "refresh", here, there, "--json")
    assert result.exit_code == 0, result.output
    docker.remotes.clear()
    result = run("container", "refresh", here, there, "--json")
    assert result.exit_code == 1
    outcome = {r["project_id"]: r for r in json.loads(result.stdout)}
    assert outcome[here]["status"] == "refreshed" and outcome[there]["status"] == "failed"
    assert "the engine 'box'" in outcome[there]["error"]


# --- the tar pipe ---------------------------------------------------------------------------


def test_the_pipe_carries_every_byte_and_reports_both_sides(tmp_path):
    counts = []
    made, taken = transfer.pipe(["sh", "-c", "head -c 300000 /dev/zero"], ["sh", "-c", f"cat > {tmp_path}/out"],
                             on_bytes=counts.append)
    assert made.ok and taken.ok and counts[-1] == 300000 == (tmp_path / "out").stat().st_size
    made, taken = transfer.pipe(["sh", "-c", "head -c 300000 /dev/zero"], ["sh", "-c", "echo no >&2; exit 4"])
    assert taken.returncode == 4 and taken.stderr.strip() == "no"


def test_workspace_commands_refuse_a_source_that_is_not_a_directory(run, docker, tmp_path):
    project_id = create(run, "web")
    assert_clean_error(run("workspace", "push", project_id, str(tmp_path / "missing")), 1, "is not a directory")


def test_doctor_checks_each_named_engine(run, docker, box):
    create(run, "there", "--engine", "box")
    report = json.loads(run("doctor", "--json").stdout)
    assert {c["name"]: c["status"] for c in report["checks"]}["engine box"] == "ok"
    docker.remotes.clear()
    result = run("doctor", "--json")
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "engine box")
    assert check["status"] == "fail" and BOX in check["detail"] and result.exit_code == 1


def test_the_mcp_project_tool_creates_on_a_named_engine(box, oubliette_home):
    from oubliette.app import App
    from oubliette.mcp.server import _create

    record = _create(App(home=oubliette_home), "agent-made", None, engine="box")
    assert record["engine"] == "box" and record["workspace_kind"] == "volume"


# --- sessions, exec and freshness follow the project's engine ---------------------------------


def test_sessions_and_the_exec_tool_run_on_the_projects_engine(run, docker, box, oubliette_home, fp):
    import subprocess
    import sys

    from oubliette.app import App
    from oubliette.ops.sessions import exec_captured
    from oubliette.report import Reporter
    from oubliette.store.sessions import SessionRegistry

    fp.allow_unregistered(True)
    project_id = create(run, "web", "--engine", "box")
    assert run("session", "start", project_id, "--", "true").exit_code == 0
    assert box.calls("exec") and not docker.calls("exec")
    result = exec_captured(App(home=oubliette_home, runtime_choice="docker"), project_id, ["true"],
                           Reporter(to_stderr=True))
    assert result.exit_code == 0 and len(box.calls("exec")) == 3  # the first one refused: not started yet
    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        session = SessionRegistry(oubliette_home).register(project_id, ["sleep", "30"], pid=client.pid)
        assert run("session", "end", session.id).exit_code == 0
        assert box.calls("exec")[-1][-1] == session.id and not docker.calls("exec")
    finally:
        client.kill()


def test_list_outdated_asks_each_engine_about_its_own_containers(run, docker, box):
    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    for project_id in (here, there):
        assert run("container", "start", project_id).exit_code == 0
    box.local(DEV, seed="dev-newer-on-box")  # only box's copy of the reference moved
    rows = json.loads(run("container", "list", "--outdated", "--json").stdout)
    assert [(r["project_id"], r["engine"]) for r in rows] == [(there, "box")]


def test_an_engine_gone_from_the_config_is_a_warning_in_listings(run, docker, box, oubliette_home):
    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    assert run("container", "start", here).exit_code == 0
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": DEV}, "engines": {
        "other": {"runtime": "docker", "host": "tcp://127.0.0.1:2400"}}})
    result = run("container", "list", "--json")
    assert result.exit_code == 0 and [r["project_id"] for r in json.loads(result.stdout)] == [here]
    assert "Warning: the engine 'box' is not in the config" in result.stderr and there



def test_an_engine_lost_mid_refresh_fails_only_what_was_not_done(run, docker, box, monkeypatch):
    from oubliette.ops import refresh as refresh_module

    here, there = create(run, "here"), create(run, "there", "--engine", "box")
    for project_id in (here, there):
        assert run("container", "start", project_id).exit_code == 0
    replace_one = refresh_module._replace_one

    def then_lose_box(engine, target, run_, report, if_changed):
        replace_one(engine, target, run_, report, if_changed)
        if engine.name == "box":
            docker.remotes.clear()  # box goes away once its first container is replaced

    monkeypatch.setattr(refresh_module, "_replace_one", then_lose_box)
    third = create(run, "third", "--engine", "box")
    assert run("container", "start", third).exit_code == 0
    result = run("container", "refresh", here, there, third, "--json", "--jobs", "1")
    outcome = {r["project_id"]: r["status"] for r in json.loads(result.stdout)}
    assert outcome[here] == "refreshed" and sorted(outcome[p] for p in (there, third)) == ["failed", "refreshed"]


def test_a_podman_connection_is_set_by_name_and_its_uri_decides_the_workspace(fp):
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.engines.podman import PodmanRuntime

    entry = EngineEntry("lab", "podman", context="lab")
    env = entry.environment({"CONTAINER_HOST": "unix:///shell.sock", "PATH": "/bin"})
    assert env == {"CONTAINER_CONNECTION": "lab", "PATH": "/bin"}  # the shell's endpoint is cleared
    listing = json.dumps([{"Name": "lab", "URI": "ssh://me@lab:22/run/podman/podman.sock", "Default": True},
                          {"Name": "here", "URI": "unix:///run/podman/podman.sock", "Default": False}])
    fp.register(["podman", "system", "connection", "list", "--format", "json"], stdout=listing, occurrences=3)
    runtime = PodmanRuntime()
    assert entry.workspace_kind(runtime.context_endpoint) == "volume"
    assert EngineEntry("here", "podman", context="here").workspace_kind(runtime.context_endpoint) == "bind"
    assert runtime.context_endpoint("gone") is None
