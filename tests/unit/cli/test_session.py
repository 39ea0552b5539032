"""Sessions: the registry (pid + start time), `session start|list|end` with a fake engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from oubliette.interrupts import defer_interrupts
from oubliette.store.files import FileLock
from oubliette.store.sessions import (
    DEFAULT_SHELL,
    NOT_THIS_HOME,
    SessionRegistry,
    end_command,
    process_start_time,
    wrap_command,
)
from tests.unit.helpers import assert_clean_error, started


def create(run, *args):
    result = run("project", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_registry_tells_live_from_stale_and_reused_pids(oubliette_home):
    registry = SessionRegistry(oubliette_home)
    live = registry.register("proj_000000000001", ["x"], pid=os.getpid())
    dead_process = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_process.wait()
    stale = registry.register("proj_000000000001", ["y"], pid=dead_process.pid)
    reused = registry.register("proj_000000000002", ["z"], pid=os.getpid())
    record = oubliette_home / "data/projects/proj_000000000002/sessions" / f"{reused.id}.json"
    record.write_text(json.dumps({**reused.to_dict(), "pid_started": "1"}))  # same pid, other process
    assert [s.id for s in registry.active()] == [live.id]
    assert not record.exists()  # stale records are cleaned on sight
    assert registry.get(live.id[:7]).id == live.id
    with pytest.raises(Exception, match="no session matches"):
        registry.get(stale.id)


def test_process_start_time_is_stable_and_none_for_dead():
    assert process_start_time(os.getpid()) == process_start_time(os.getpid()) is not None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_start_time(child.pid) is None


def test_wrapped_command_records_pid_and_execs():
    argv = wrap_command(["ls", "-la"])
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["oubliette-session", "-", "ls", "-la"]
    assert 'exec "$@"' in argv[2] and "$OUBLIETTE_SESSION_ID.pid" in argv[2]
    assert wrap_command([])[5:] == DEFAULT_SHELL
    assert wrap_command(["id"], "0123456789abcdef")[3:] == ["oubliette-session", "0123456789abcdef", "id"]
    assert end_command("sess_0000abcd")[-1] == "sess_0000abcd"


def test_wrapper_really_runs_the_command_in_a_shell(tmp_path):
    """The wrapper is shell code: run it with the local sh to prove it works."""
    argv = wrap_command([sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(4)", "a b", "$X"])
    script = argv[2].replace("/tmp/.oubliette-sessions", str(tmp_path / "pids"))
    result = subprocess.run([argv[0], argv[1], script, *argv[3:]], capture_output=True, text=True,
                            env={**os.environ, "OUBLIETTE_SESSION_ID": "sess_12345678"})
    assert result.returncode == 4 and result.stdout.strip() == "['a b', '$X']"
    assert (tmp_path / "pids" / "sess_12345678.pid").read_text().strip().isdigit()


def test_the_wrapper_runs_programs_only_when_needed(tmp_path):
    """Every session runs the wrapper, and in an image whose sh does not build them in each
    program is a fork and exec (~4 ms of a session on dash and coreutils): `mkdir` and
    `chmod` run on the container's first session only, and `id` never without a session user."""
    shims, log = tmp_path / "bin", tmp_path / "programs.log"
    shims.mkdir()
    for program in ("mkdir", "chmod", "id", "cat"):
        real = subprocess.run(["sh", "-c", f"command -v {program}"], capture_output=True, text=True).stdout.strip()
        (shims / program).write_text(f'#!/bin/sh\necho {program} >> "{log}"\nexec {real} "$@"\n')
        (shims / program).chmod(0o755)
    argv = wrap_command(["true"])
    script = argv[2].replace("/tmp/.oubliette-sessions", str(tmp_path / "pids"))
    env = {**os.environ, "OUBLIETTE_SESSION_ID": "sess_12345678", "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    env.pop("OUBLIETTE_SESSION_ROOT", None)
    runs = []
    for _ in range(2):
        log.write_text("")
        result = subprocess.run([argv[0], argv[1], script, *argv[3:]], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        runs.append(log.read_text().split())
    assert runs == [["mkdir", "chmod"], []]  # this host has no /etc/oubliette/session-user: no `id`
    assert oct((tmp_path / "pids").stat().st_mode & 0o7777) == "0o1777"


def test_the_wrapper_runs_nothing_in_a_container_another_home_made(tmp_path):
    """An exec that did not look at the container first names the home it expects: the
    wrapper runs the command only where OUBLIETTE_HOME_ID says that home made it."""
    marker = tmp_path / "ran"
    for container_home, code in (("0123456789abcdef", 0), ("fedcba9876543210", NOT_THIS_HOME), (None, NOT_THIS_HOME)):
        argv = wrap_command(["touch", str(marker)], "0123456789abcdef")
        script = argv[2].replace("/tmp/.oubliette-sessions", str(tmp_path / "pids"))
        env = {k: v for k, v in os.environ.items() if k != "OUBLIETTE_HOME_ID"}
        result = subprocess.run([argv[0], argv[1], script, *argv[3:]], capture_output=True, text=True,
                                env={**env, "OUBLIETTE_SESSION_ID": "sess_12345678",
                                     **({"OUBLIETTE_HOME_ID": container_home} if container_home else {})})
        assert (result.returncode, marker.exists()) == (code, code == 0), result
        marker.unlink(missing_ok=True)


def test_session_start_execs_with_the_command_exit_code(run, docker, oubliette_home):
    project_id = create(run, "web")
    docker.exec_codes.append(5)
    result = run("session", "start", project_id, "--", "make", "-j2", "test")
    assert result.exit_code == 5, result.output
    exec_call = docker.calls("exec")[-1]
    assert exec_call[:3] == ["docker", "exec", "--interactive"] and "--tty" not in exec_call  # stdin is no tty
    assert exec_call[exec_call.index("--workdir") + 1] == "/workspace"
    assert any(a.startswith("OUBLIETTE_SESSION_ID=sess_") for a in exec_call)
    assert exec_call[-5:] == ["oubliette-session", "-", "make", "-j2", "test"]  # checked by looking, here
    assert docker.containers[f"oubliette-{project_id}"].state == "running"  # started on the way
    assert SessionRegistry(oubliette_home).active() == []  # record gone once it ended
    assert "Session sess_" in result.stderr and result.stdout == ""


def test_a_session_in_a_running_container_is_one_engine_call(run, docker, oubliette_home):
    project_id = started(run, "web")
    home_id = (oubliette_home / "data" / "home.id").read_text().strip()
    before = len(docker.calls())
    docker.exec_codes.append(3)
    result = run("session", "start", project_id, "--", "make")
    assert result.exit_code == 3, result.output
    calls = docker.calls()[before:]
    assert [c[1] for c in calls] == ["exec"]  # no listing first
    assert calls[0][-3:] == ["oubliette-session", home_id, "make"]  # the wrapper checks whose container it is


def test_a_stopped_container_is_started_and_the_command_runs_once(run, docker):
    project_id = started(run, "web")
    docker.containers[f"oubliette-{project_id}"].state = "exited"
    result = run("session", "start", project_id, "--", "make")
    assert result.exit_code == 0, result.output
    assert "is not running" not in result.stderr  # the engine's refusal is not shown
    assert [c[-1] for c in docker.calls("exec")][-2:] == ["make", "make"]  # refused, then run once
    assert docker.containers[f"oubliette-{project_id}"].state == "running"


def test_a_command_printing_an_engine_like_refusal_runs_once_and_its_line_is_shown(run, docker, monkeypatch):
    project_id = started(run, "web")
    refusal = f"Error response from daemon: Container oubliette-{project_id} is not running\n"
    real_exec = docker._exec

    def command_prints_refusal(args):
        code, out, err = real_exec(args)
        return (1, out, refusal) if args[-1] == "make" else (code, out, err)

    monkeypatch.setattr(docker, "_exec", command_prints_refusal)
    result = run("session", "start", project_id, "--", "make")
    assert result.exit_code == 1
    assert [c[-1] for c in docker.calls("exec")].count("make") == 1  # never run a second time
    assert refusal.strip() in result.stderr


def test_a_container_another_home_made_under_the_name_runs_nothing(run, docker):
    project_id = started(run, "web")
    container = docker.containers[f"oubliette-{project_id}"]
    container.env["OUBLIETTE_HOME_ID"] = "fedcba9876543210"
    container.labels["oubliette.home"] = "fedcba9876543210"
    docker.exec_codes.append(0)
    result = run("session", "start", project_id, "--", "make")
    assert_clean_error(result, 1, "oubliette-" + project_id)
    assert [c[-1] for c in docker.calls("exec")].count("make") == 1  # the wrapper refused it


def test_a_command_exiting_with_the_wrappers_own_code_is_not_run_again(run, docker):
    project_id = started(run, "web")
    docker.exec_codes.append(NOT_THIS_HOME)
    result = run("session", "start", project_id, "--", "make")
    assert result.exit_code == NOT_THIS_HOME
    assert [c[-1] for c in docker.calls("exec")].count("make") == 1


def test_session_start_without_command_opens_a_shell(run, docker):
    project_id = create(run, "web")
    assert run("session", "start", project_id).exit_code == 0
    assert docker.calls("exec")[-1][-len(DEFAULT_SHELL):] == DEFAULT_SHELL


def test_session_start_for_unknown_project(run, docker):
    assert_clean_error(run("session", "start", "proj_999999999999"), 1, "no project matches")


def test_session_list_and_end(run, docker, oubliette_home, fp):
    fp.allow_unregistered(True)
    project_id = create(run, "web")
    run("container", "start", project_id)
    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        session = SessionRegistry(oubliette_home).register(project_id, ["sleep", "30"], pid=client.pid)
        listed = json.loads(run("session", "list", "--json").stdout)
        assert [s["id"] for s in listed] == [session.id] and listed[0]["pid"] == client.pid
        table = run("session", "list").stdout.splitlines()
        assert table[0].split()[:4] == ["SESSION", "ID", "PROJECT", "ID"] and session.id in table[1]
        result = run("session", "end", session.id)
        assert result.exit_code == 0 and f"Ended session {session.id}." in result.stdout
        end_call = docker.calls("exec")[-1]
        assert end_call[-1] == session.id and "--interactive" not in end_call
        assert client.wait(timeout=5) == -signal.SIGTERM  # the local client was stopped too
        assert run("session", "list", "-q").stdout == ""
    finally:
        client.kill()


def test_ending_an_already_ended_session_says_so(run, docker, oubliette_home, fp):
    fp.allow_unregistered(True)
    project_id = create(run, "web")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    session = SessionRegistry(oubliette_home).register(project_id, ["x"], pid=dead.pid)
    result = run("session", "end", session.id[:9])
    assert result.exit_code == 0 and "had already ended" in result.stdout
    assert_clean_error(run("session", "end", session.id), 1, "no session matches")
    assert_clean_error(run("session", "end", "--", "--all"), 1, "invalid session id")


def test_file_lock_makes_the_second_holder_wait_and_name_the_first(tmp_path, monkeypatch):
    monkeypatch.setattr(FileLock, "NAME_AFTER", 0.1)
    path = tmp_path / ".lock"
    waited, order = [], []
    with FileLock(path):
        def second():
            with FileLock(path, on_wait=waited.append):
                order.append("second")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.4)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]
    assert len(waited) == 1 and f"(pid {os.getpid()}, since " in waited[0] and "`oubliette" in waited[0]


def test_a_bounded_wait_for_a_lock_gives_up_naming_the_holder(tmp_path):
    from oubliette.store.files import LockBusyError

    project = tmp_path / "proj_0123456789ab"
    project.mkdir()
    with FileLock(project / ".lock"):
        started = time.monotonic()
        with pytest.raises(LockBusyError, match=rf"proj_0123456789ab is busy: `oubliette.*` \(pid {os.getpid()}"):
            with FileLock(project / ".lock", timeout=0.3):
                pass
        assert time.monotonic() - started < 3


def test_ctrl_c_is_held_until_the_swap_is_complete():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with defer_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            steps.append("finished the swap")
    assert steps == ["finished the swap"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
