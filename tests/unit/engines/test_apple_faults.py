"""What an audit of Apple's `container` sources (0.1.0 to 1.2.2) found, held by the fake
`container` behaving as the real one does, so these tests can catch each point (issue 21):
old CLIs whose `exec` cannot carry a stream, `stopping` containers 1.x will not delete,
`--prune`, `logs -n`, and the fake's own faithfulness (carrying on past missing names,
exec's --user/--workdir/--tty, start checking mounts, error texts by version)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from oubliette.cli.main import cli
from oubliette.engines import apple
from oubliette.ops import swap
from tests.unit.fakes.apple import BASE, DEV, DIGEST, AppleEngine, install_fake
from tests.unit.helpers import assert_clean_error, write_config


def at_version(version: str, tmp_path, monkeypatch, home) -> AppleEngine:
    monkeypatch.setattr(swap, "START_WINDOWS", False)
    monkeypatch.setenv("APPLE_CONTAINER_BINARY", str(install_fake(tmp_path / "fake-bin")))
    monkeypatch.setenv("FAKE_CONTAINER_STATE", str(tmp_path / "apple-state.json"))
    monkeypatch.setenv("FAKE_CONTAINER_VERSION", version)
    engine = AppleEngine(tmp_path / "apple-state.json")
    engine.update(registry={DEV: DIGEST["1"], BASE: DIGEST["2"]})
    write_config(home, {"containers": {"base": BASE, "dev": DEV}})
    return engine


def run(*args: str):
    return CliRunner().invoke(cli, ["--runtime", "apple", *args])


def started(*create_args: str) -> str:
    project_id = run("project", "create", *create_args).stdout.strip()
    result = run("container", "start", project_id)
    assert result.exit_code == 0, result.output
    return project_id


def fake(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([os.environ["APPLE_CONTAINER_BINARY"], *args], capture_output=True, input=input,
                          timeout=60)


# --- oubliette on the faults -------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_clis_before_0_3_are_refused_for_sessions_push_and_pull(version, tmp_path, monkeypatch, oubliette_home):
    engine = at_version(version, tmp_path, monkeypatch, oubliette_home)
    project_id = started("web")
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    for args in (("session", "start", project_id, "--", "true"),
                 ("workspace", "push", project_id, str(source)),
                 ("workspace", "pull", project_id, str(tmp_path / "dest"))):
        result = run(*args)
        assert_clean_error(result, 1, f"Apple's container CLI {version} cannot run commands in a container safely")
        assert "oubliette needs 0.3.0 or later" in result.stderr
    assert engine.calls("exec") == []  # refused before a stream could hang or be cut


@pytest.mark.parametrize("version", ["0.3.0", "1.2.2"])
def test_push_and_pull_round_trip_from_0_3(version, tmp_path, monkeypatch, oubliette_home):
    at_version(version, tmp_path, monkeypatch, oubliette_home)
    project_id = started("web")
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    assert run("workspace", "push", project_id, str(source)).exit_code == 0
    result = run("workspace", "pull", project_id, str(tmp_path / "dest"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dest" / "sub" / "b.bin").read_bytes() == (source / "sub" / "b.bin").read_bytes()


def test_a_container_still_stopping_is_waited_for_before_delete(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    project_id = started("web")
    engine.update(stopping_rounds=3)
    result = run("container", "stop", project_id)
    assert result.exit_code == 0, result.output
    assert engine.containers() == {}
    calls = engine.state["calls"]
    stop_at = max(i for i, c in enumerate(calls) if c[0] == "stop")
    assert [c[0] for c in calls[stop_at + 1:]].count("list") >= 3 and calls[-1][0] == "delete"


def test_a_container_that_never_stops_is_a_clean_error_and_is_kept(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    monkeypatch.setattr(apple, "STOPPING_SECONDS", 0.3)
    project_id = started("web")
    engine.update(stopping_rounds=10**6)
    result = run("container", "stop", project_id)
    assert_clean_error(result, 1, "still stopping after")
    assert f"oubliette-{project_id}" in engine.containers() and engine.calls("delete") == []


@pytest.mark.parametrize("version", ["0.9.0", "1.2.2"])
def test_prune_removes_the_superseded_image_by_its_names(version, tmp_path, monkeypatch, oubliette_home):
    engine = at_version(version, tmp_path, monkeypatch, oubliette_home)
    project_id = started("web")
    engine.update(registry={DEV: DIGEST["3"]})
    result = run("container", "refresh", project_id, "--prune")
    assert result.exit_code == 0, result.output
    assert f"Removed the superseded image {DIGEST['1']}." in result.stderr + result.stdout
    assert DIGEST["1"] not in engine.state["images"].values()


def test_prune_keeps_an_image_a_container_still_runs(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    first, second = started("one"), started("two")
    engine.update(registry={DEV: DIGEST["3"]})
    result = run("container", "refresh", first, "--prune")
    assert result.exit_code == 0, result.output
    assert "Kept the superseded image" in result.stderr + result.stdout  # `two` still runs it
    assert engine.containers()[f"oubliette-{second}"]["digest"] == DIGEST["1"]


def test_logs_are_read_with_n_not_whole(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    engine.update(broken=[DIGEST["1"]])
    project_id = run("project", "create", "web").stdout.strip()
    result = run("container", "start", project_id)
    assert result.exit_code != 0 and "sleep: executable file not found" in result.stderr
    assert all(call[1:3] == ["-n", "5"] for call in engine.calls("logs")) and engine.calls("logs")


def test_start_of_a_container_whose_workspace_is_gone_is_one_clean_error(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    mine = tmp_path / "mine"
    mine.mkdir()
    project_id = started("web", "--workspace", str(mine))
    state = engine.state
    state["containers"][f"oubliette-{project_id}"]["state"] = "stopped"
    engine.path.write_text(json.dumps(state))
    mine.rmdir()
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, str(mine))


# --- the fake is as unkind as the real CLI --------------------------------------------------


@pytest.mark.parametrize("version, code", [("0.10.0", 0), ("0.11.0", 1), ("1.2.2", 1)])
def test_fake_stop_and_delete_carry_on_past_a_missing_name(version, code, tmp_path, monkeypatch, oubliette_home):
    engine = at_version(version, tmp_path, monkeypatch, oubliette_home)
    a, b = started("a"), started("b")
    stopped = fake("stop", f"oubliette-{a}", "missing", f"oubliette-{b}")
    assert stopped.returncode == code
    assert {c["state"] for c in engine.containers().values()} == {"stopped"}
    deleted = fake("delete", f"oubliette-{a}", "missing", f"oubliette-{b}")
    assert deleted.returncode == 1 and b"missing not found" in deleted.stderr and engine.containers() == {}


def test_fake_error_texts_keep_the_code_prefix_only_before_0_10(tmp_path, monkeypatch, oubliette_home):
    at_version("0.9.0", tmp_path, monkeypatch, oubliette_home)
    assert fake("start", "nope").stderr == b'Error: notFound: "container nope not found"\n'
    monkeypatch.setenv("FAKE_CONTAINER_VERSION", "0.10.0")
    assert fake("start", "nope").stderr == b"Error: container nope not found\n"


def test_fake_exec_honours_user_workdir_and_tty_and_0_1_cuts_output(tmp_path, monkeypatch, oubliette_home):
    at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    name = f"oubliette-{started('web', '--workspace', str(mine))}"
    assert fake("exec", "--workdir", "/workspace/sub", name, "pwd").stdout == f"{mine / 'sub'}\n".encode()
    assert fake("exec", "--tty", name, "sh", "-c", "echo a; echo b >&2").stdout == b"a\r\nb\r\n"
    as_user = fake("exec", "--user", "1000", name, "id", "-u").stdout.strip()
    assert as_user == (b"1000" if os.geteuid() == 0 else str(os.geteuid()).encode())
    assert b"unable to find user" in fake("exec", "--user", "nobody-here", name, "true").stderr
    big = ["sh", "-c", "head -c 10000 /dev/zero"]
    assert len(fake("exec", name, *big).stdout) == 10000
    monkeypatch.setenv("FAKE_CONTAINER_VERSION", "0.1.0")
    assert len(fake("exec", name, *big).stdout) == 4096


# --- a type object on Apple's CLI --------------------------------------------------------


def test_a_type_objects_keys_become_apples_own_flags_and_setup_runs_as_root(tmp_path, monkeypatch, oubliette_home):
    engine = at_version("1.2.2", tmp_path, monkeypatch, oubliette_home)
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("SSH_AUTH_SOCK", str(shared))  # exists: the agent's socket, as far as the check goes
    write_config(oubliette_home, {"containers": {"web": {
        "image": DEV, "env": {"A": "1"}, "ports": ["8080:80", "5173"], "mounts": [f"{shared}:/shared:ro"],
        "setup": ["echo ready > setup-ran"], "cpus": 1.6, "memory": "2g", "ssh_agent": True}}})
    project_id = started("web", "--type", "web")
    (call,) = engine.calls("run")
    pairs = list(zip(call, call[1:], strict=False))
    assert ("--env", "A=1") in pairs and ("--publish", "127.0.0.1:8080:80") in pairs
    assert ("--publish", "127.0.0.1:5173:5173") in pairs and ("--cpus", "2") in pairs
    assert ("--memory", "2g") in pairs
    assert ("--mount", f"type=bind,source={shared},target=/shared,readonly") in pairs and "--ssh" in call
    assert "--hostname" not in call  # Apple names the host after the container
    (setup,) = [c for c in engine.calls("exec") if "echo ready > setup-ran" in c]
    assert setup[setup.index("--user") + 1] == "0"
    workspace = oubliette_home / "data" / "projects" / project_id / "workspace"
    assert (workspace / "setup-ran").read_text() == "ready\n"
    logs = run("container", "logs", project_id)
    assert logs.exit_code == 0 and "setup 1/1: echo ready > setup-ran" in logs.stdout
