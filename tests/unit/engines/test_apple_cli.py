"""The whole CLI with --runtime apple, against tests/unit/fakes/container replaying both
JSON generations of Apple's CLI (0.9 and 1.2 shapes)."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from oubliette.cli.main import cli
from oubliette.ops import swap
from tests.unit.fakes.apple import BASE, DEV, DIGEST, AppleEngine, install_fake
from tests.unit.helpers import assert_clean_error, write_config


@pytest.fixture(params=["0.9.0", "1.2.2"], ids=["apple-0.9", "apple-1.2"])
def apple(request, tmp_path, monkeypatch, oubliette_home):
    monkeypatch.setattr(swap, "START_WINDOWS", False)
    monkeypatch.setenv("APPLE_CONTAINER_BINARY", str(install_fake(tmp_path / "fake-bin")))
    monkeypatch.setenv("FAKE_CONTAINER_STATE", str(tmp_path / "apple-state.json"))
    monkeypatch.setenv("FAKE_CONTAINER_VERSION", request.param)
    engine = AppleEngine(tmp_path / "apple-state.json")
    engine.update(registry={DEV: DIGEST["1"], BASE: DIGEST["2"]})
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": DEV}})
    engine.version = tuple(int(x) for x in request.param.split("."))
    yield engine
    from oubliette.engines.apple import host_platform

    for call in engine.calls("image pull"):  # every pull of every test: only the host's platform
        assert call[2:4] == ["--platform", host_platform()], call


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["--runtime", "apple", *args])


def started(run, *create_args):
    project_id = run("project", "create", *create_args).stdout.strip()
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    return project_id


def test_init_pulls_with_the_engines_progress(run, apple):
    result = run("init")
    assert result.exit_code == 0, result.output
    # Apple draws progress on stderr; up to 0.11 only on a terminal, and this is none
    assert ("Fetching image" in result.stderr) is (apple.version >= (0, 12, 0))
    assert [c[-1] for c in apple.calls("image pull")] == [BASE, DEV]
    assert set(apple.state["images"]) == {BASE, DEV}


def test_start_gates_init_by_version_and_labels_the_container(run, apple, oubliette_home):
    project_id = started(run, "web")
    (call,) = apple.calls("run")
    assert ("--init" in call) is (apple.version >= (0, 10, 0))
    assert len(apple.calls("--version")) == 1
    container = apple.containers()[f"oubliette-{project_id}"]
    assert container["labels"] == {"oubliette.project": project_id, "oubliette.type": "dev", "oubliette.image": DEV,
                                  "oubliette.home": (oubliette_home / "data/home.id").read_text().strip()}
    assert container["mounts"] == [[str(oubliette_home / "data/projects" / project_id / "workspace"), "/workspace"]]
    assert container["command"] == ["sleep", "infinity"] and container["workdir"] == "/workspace"
    assert "already running" in run("container", "start", project_id).stdout


def test_list_selects_by_label_on_the_client(run, apple):
    running = started(run, "a")
    stopped = started(run, "b", "--type", "base")
    state = apple.state
    state["containers"][f"oubliette-{stopped}"]["state"] = "stopped"
    state["containers"]["buildkit"] = {**state["containers"][f"oubliette-{running}"], "id": "buildkit", "labels": {}}
    apple.path.write_text(json.dumps(state))
    before = len(apple.state["calls"])
    rows = json.loads(run("container", "list", "--json").stdout)
    assert len(apple.state["calls"]) == before + 1
    assert rows == [{"project_id": running, "name": f"oubliette-{running}", "image": DEV, "type": "dev",
                     "status": "running", "orphan": False, "engine": "default", "project_name": "a", "ports": []}]
    everything = json.loads(run("container", "list", "--all", "--json").stdout)
    assert {r["project_id"]: r["status"] for r in everything} == {running: "running", stopped: "stopped"}


def test_refresh_replaces_in_place_onto_the_new_digest(run, apple):
    project_id = started(run, "web")
    apple.update(registry={DEV: DIGEST["3"]})
    result = run("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    assert f"Image updated: {DIGEST['1']} -> {DIGEST['3']}" in result.stdout
    assert apple.calls("rename") == []
    assert list(apple.containers()) == [f"oubliette-{project_id}"]
    assert apple.containers()[f"oubliette-{project_id}"]["digest"] == DIGEST["3"]


def test_refresh_onto_a_broken_image_runs_the_previous_image_again_without_the_registry(run, apple):
    """The fake, like the real CLI, finds local images by name only: a rollback by digest
    would go to the registry, which holds only the new (broken) image under the tag."""
    project_id = started(run, "web")
    apple.update(registry={DEV: DIGEST["4"]}, broken=[DIGEST["4"]])
    result = run("container", "refresh", project_id)
    kept = f"registry.example/oubliette-dev:oubliette-kept-{'1' * 12}"
    assert_clean_error(result, 1, "the new container did not start", f"started the previous image again ({kept})")
    container = apple.containers()[f"oubliette-{project_id}"]
    assert container["state"] == "running" and container["digest"] == DIGEST["1"]
    assert container["labels"]["oubliette.image"] == DEV  # still the configured reference
    assert apple.state["images"][kept] == DIGEST["1"]  # kept: the running container uses it
    assert not any("@" in call[-1] for call in apple.calls("image pull"))

    apple.update(registry={DEV: DIGEST["5"]})  # a fixed image: the next refresh lets the kept name go
    again = run("container", "refresh", project_id)
    assert again.exit_code == 0, again.output
    assert apple.containers()[f"oubliette-{project_id}"]["digest"] == DIGEST["5"]
    assert kept not in apple.state["images"]


def test_a_successful_refresh_removes_the_name_it_kept(run, apple):
    first, second = started(run, "a"), started(run, "b")
    apple.update(registry={DEV: DIGEST["3"]})
    pulls_before = len(apple.calls("image pull"))
    result = run("container", "refresh")
    assert result.exit_code == 0, result.output
    assert len(apple.calls("image tag")) == 1  # one kept name for the image both containers ran
    assert len(apple.calls("image pull")) == pulls_before + 1
    assert not any(":oubliette-kept-" in ref for ref in apple.state["images"])
    assert {apple.containers()[f"oubliette-{p}"]["digest"] for p in (first, second)} == {DIGEST["3"]}


def test_every_pull_asks_for_the_hosts_platform(run, apple):
    from oubliette.engines.apple import host_platform

    run("init")
    started(run, "web")
    apple.update(registry={DEV: DIGEST["3"]})
    run("container", "refresh")
    pulls = apple.calls("image pull")
    assert pulls and all(call[2:4] == ["--platform", host_platform()] for call in pulls)



def test_other_homes_containers_are_invisible_on_apple_too(run, apple):
    mine = started(run, "mine")
    state = apple.state
    theirs = {**state["containers"][f"oubliette-{mine}"], "id": "oubliette-proj_00000000aaaa",
              "labels": {"oubliette.project": "proj_00000000aaaa", "oubliette.type": "dev", "oubliette.image": DEV,
                         "oubliette.home": "feedfacefeedface"}}
    state["containers"][theirs["id"]] = theirs
    apple.path.write_text(json.dumps(state))
    assert [r["project_id"] for r in json.loads(run("container", "list", "--all", "--json").stdout)] == [mine]
    assert run("container", "stop", "--all").exit_code == 0
    assert list(apple.containers()) == [theirs["id"]]


def test_registry_without_the_image_falls_back_to_the_local_one(run, apple):
    project_id = started(run, "web")
    state = apple.state
    del state["registry"][DEV]
    apple.path.write_text(json.dumps(state))
    result = run("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    assert f"The registry does not have it; using the local image {DEV}." in result.stdout


def test_failed_pull_keeps_the_container(run, apple):
    project_id = started(run, "web")
    state = apple.state
    del state["registry"][DEV]
    del state["images"][DEV]
    apple.path.write_text(json.dumps(state))
    result = run("container", "refresh", project_id)
    assert_clean_error(result, 1, f"image not found: {DEV}")
    assert f"container image pull {DEV}" in result.stderr
    assert apple.containers()[f"oubliette-{project_id}"]["state"] == "running"
    assert apple.calls("stop") == []


def test_stop_one_and_all_spare_foreign_containers(run, apple):
    first, second = started(run, "a"), started(run, "b")
    state = apple.state
    state["containers"]["mine"] = {**state["containers"][f"oubliette-{first}"], "id": "mine", "labels": {}}
    apple.path.write_text(json.dumps(state))
    assert run("container", "stop", first).exit_code == 0
    assert f"oubliette-{first}" not in apple.containers() and f"oubliette-{second}" in apple.containers()
    result = run("container", "stop", "--all")
    assert result.exit_code == 0 and "Stopped 1 container." in result.stdout
    assert list(apple.containers()) == ["mine"]
    assert len(apple.calls("delete")) == 2


def test_session_runs_the_command_in_the_workspace(run, apple, oubliette_home):
    project_id = run("project", "create", "web").stdout.strip()
    code = "import os, sys; open('made-here', 'w').write(os.environ['OUBLIETTE_PROJECT_ID']); sys.exit(6)"
    result = run("session", "start", project_id, "--", sys.executable, "-c", code)
    assert result.exit_code == 6, result.output
    workspace = oubliette_home / "data/projects" / project_id / "workspace"
    assert (workspace / "made-here").read_text() == project_id
    (call,) = apple.calls("exec")
    assert call[call.index("--workdir") + 1] == "/workspace"


@pytest.mark.parametrize("down", ["1", "timeout"], ids=["xpc-connection-error", "xpc-timeout"])
def test_service_down_is_exit_3_with_the_start_hint(run, apple, monkeypatch, down):
    project_id = run("project", "create", "web").stdout.strip()
    monkeypatch.setenv("FAKE_CONTAINER_DOWN", down)
    result = run("container", "start", project_id)
    assert_clean_error(result, 3, "Apple container (the container system service) cannot be reached")
    assert "container system start" in result.stderr


def test_auto_picks_apple_when_only_container_is_installed(apple, monkeypatch, tmp_path):
    bin_dir = install_fake(tmp_path / "only-container").parent
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("APPLE_CONTAINER_BINARY")
    result = CliRunner().invoke(cli, ["container", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert apple.calls("system status") == []  # one engine installed: no probe
    assert apple.calls("list")


def test_a_volume_workspace_flag_on_apple_is_a_clean_error(run, apple, oubliette_home):
    project_id = run("project", "create", "web").stdout.strip()
    path = oubliette_home / "data/projects" / project_id / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "volume": True}))  # only named engines have it
    result = run("container", "start", project_id)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: Apple container keeps no volume workspaces here" in result.stderr
