"""The console entry point: how a command ends (cli/main.py `main` and `leave`)."""

from __future__ import annotations

import atexit
import io
import os
import subprocess
import sys
import threading

import pytest

from oubliette.cli import main as cli_main


class Left(Exception):
    """os._exit, caught: the test process goes on."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@pytest.fixture
def exits(monkeypatch):
    """os._exit raises Left; atexit reports no handlers and only the main thread runs,
    as in a command's process (pytest's own handlers and threads are not the command's)."""
    def fake_exit(status: int) -> None:
        raise Left(status)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(atexit, "_ncallbacks", lambda: 0)
    monkeypatch.setattr(threading, "active_count", lambda: 1)


class Stream(io.StringIO):
    """sys.stdout or sys.stderr, counting flushes or failing them as asked."""

    def __init__(self, failure: OSError | None = None) -> None:
        super().__init__()
        self.failure, self.flushes = failure, 0

    def flush(self) -> None:
        if self.failure is not None:
            raise self.failure
        self.flushes += 1


@pytest.fixture
def streams(monkeypatch):
    def use(out_failure: OSError | None = None) -> tuple[Stream, Stream]:
        out, err = Stream(out_failure), Stream()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        return out, err
    return use


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (130, 130)])
def test_a_finished_command_ends_at_once_with_its_status_and_its_output_flushed(exits, streams, code, status):
    out, err = streams()
    with pytest.raises(Left) as left:
        cli_main.leave(code)
    assert left.value.status == status
    assert (out.flushes, err.flushes) == (1, 1)


def test_an_exit_handler_leaves_the_ending_to_python(exits, monkeypatch):
    monkeypatch.setattr(atexit, "_ncallbacks", lambda: 1)  # logging's, after a refresh's thread pool
    with pytest.raises(SystemExit) as done:
        cli_main.leave(4)
    assert done.value.code == 4


def test_another_thread_still_running_is_waited_for_by_python(exits, monkeypatch):
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    with pytest.raises(SystemExit) as done:
        cli_main.leave(0)
    assert done.value.code == 0


def test_an_interpreter_without_the_handler_count_ends_the_usual_way(exits, monkeypatch):
    monkeypatch.delattr(atexit, "_ncallbacks")
    with pytest.raises(SystemExit):
        cli_main.leave(0)


def test_a_message_status_is_printed_by_python_as_sys_exit_does(exits):
    with pytest.raises(SystemExit) as done:
        cli_main.leave("went wrong")
    assert done.value.code == "went wrong"


def test_a_reader_gone_at_the_last_flush_ends_it_quietly_with_the_commands_status(exits, streams):
    _, err = streams(BrokenPipeError())
    with pytest.raises(Left) as left:
        cli_main.leave(3)
    assert left.value.status == 3 and err.getvalue() == ""


def test_output_that_cannot_be_written_at_the_last_flush_is_one_error_line(exits, streams):
    _, err = streams(OSError(28, "No space left on device"))
    with pytest.raises(Left) as left:
        cli_main.leave(0)
    assert left.value.status == 1
    assert err.getvalue().splitlines() == [
        "Error: cannot write the output: No space left on device",
        "Hint: free some disk space and try again; nothing was half-written"]


@pytest.mark.parametrize(("failure", "status", "said"), [
    (BrokenPipeError(), 0, ""),
    (OSError(28, "No space left on device"), 1, "Error: cannot write the output: No space left on device\n")])
def test_output_failing_outside_any_command_ends_with_one_line_at_most(exits, streams, monkeypatch,
                                                                       failure, status, said):
    def fails(**_options: object) -> None:
        raise failure

    _, err = streams()
    monkeypatch.setattr(cli_main.cli, "main", fails)
    with pytest.raises(Left) as left:
        cli_main.main([])
    assert left.value.status == status
    assert err.getvalue().startswith(said) and "Traceback" not in err.getvalue()
    assert (err.getvalue() == "") == (said == "")


def oubliette(*args: str, home, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oubliette", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env={"OUBLIETTE_HOME": str(home), "PATH": os.environ["PATH"]})


def test_the_whole_output_reaches_a_pipe_and_statuses_pass_through(oubliette_home):
    helped = oubliette("container", "--help", home=oubliette_home)
    assert helped.returncode == 0 and helped.stderr == ""
    assert "Commands:" in helped.stdout and helped.stdout.splitlines()[-1].split()[0] == "stop"  # all of it
    assert oubliette("--version", home=oubliette_home).stdout == f"oubliette {cli_main.__version__}\n"
    missing = oubliette("no-such-command", home=oubliette_home)
    assert missing.returncode == 2 and "No such command" in missing.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_output_into_a_full_disk_outside_a_command_is_an_error_line_not_a_traceback(oubliette_home, args):
    with open("/dev/full", "w") as full:
        result = oubliette(*args, home=oubliette_home, stdout=full)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "Error: cannot write the output: No space left on device"
    assert result.stderr.splitlines()[1].startswith("Hint: ")
    assert "Traceback" not in result.stderr
