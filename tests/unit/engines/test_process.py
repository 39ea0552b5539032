"""The process helper with real child processes (no engine): streams and the pty path."""

from __future__ import annotations

import io
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

from oubliette.engines import attached, process

PY = sys.executable


def test_capture_runs_argv_without_a_shell(tmp_path):
    script = "import sys; print(sys.argv[1:]); print('e', file=sys.stderr)"
    result = process.capture([PY, "-c", script, "$HOME;", "a b"])
    assert result.ok and result.stdout.strip() == "['$HOME;', 'a b']" and result.stderr == "e\n"


def test_capture_missing_binary_is_the_process_layers_own_error(tmp_path):
    with pytest.raises(process.BinaryMissing) as caught:
        process.capture([str(tmp_path / "nope")])
    assert caught.value.binary == str(tmp_path / "nope") and caught.value.argv == [str(tmp_path / "nope")]


def test_capture_past_its_bound_is_timed_out_and_killed():
    with pytest.raises(process.TimedOut) as caught:
        process.capture(["sleep", "30"], timeout=0.2)
    assert caught.value.timeout == 0.2 and caught.value.argv == ["sleep", "30"]


def test_a_journalled_call_outlives_a_killed_oubliette_and_finishes(tmp_path):
    # After a SIGKILL the next command waits for the swap's engine calls; a call whose
    # output went to a pipe would die of SIGPIPE at its next write, half done.
    mark = tmp_path / "finished"
    child = ["sh", "-c", f"sleep 0.5; echo out; echo err >&2; touch {mark}"]
    parent = ("import sys; from oubliette.engines import process; "
              f"process.capture({child!r}, on_spawn=lambda pid: print(pid, flush=True))")
    proc = subprocess.Popen([PY, "-c", parent], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists()


def test_a_journalled_calls_output_is_read_back_within_its_limits():
    seen = []
    result = process.capture([PY, "-c", "print('x' * 5000); import sys; print('e' * 300, file=sys.stderr)"],
                             limit=100, err_limit=10, on_spawn=seen.append)
    assert result.ok and seen and result.stdout == "x" * 100 and result.stderr == "e" * 10 and result.overflow


def test_a_journalled_call_past_its_bound_is_timed_out_and_its_exit_code_kept_otherwise():
    with pytest.raises(process.TimedOut):
        process.capture(["sleep", "30"], timeout=0.2, on_spawn=lambda _pid: None)
    assert process.capture(["sh", "-c", "exit 7"], timeout=5, on_spawn=lambda _pid: None).returncode == 7


def test_capture_reads_on_after_the_child_exits_while_its_output_is_still_open():
    """The child's exit (a pidfd, on Linux) ends nothing by itself: what a process it left
    behind still writes to the pipe is read until the pipe closes."""
    result = process.capture(["sh", "-c", "(sleep 0.3; echo late) & echo early; exit 3"], timeout=10)
    assert result.returncode == 3 and result.stdout == "early\nlate\n"


def test_stream_to_python_streams_keeps_stderr():
    out, err = io.StringIO(), io.StringIO()
    code = "import sys; print('progress'); print('layer 1/2', file=sys.stderr); sys.exit(3)"
    result = process.stream([PY, "-c", code], out=out, err=err)
    assert result.returncode == 3
    assert out.getvalue() == "progress\n"
    assert err.getvalue() == "layer 1/2\n" and result.stderr == "layer 1/2\n"


def test_stream_holds_back_the_engines_error_lines_only():
    err = io.StringIO()
    code = ("import sys; w = sys.stderr.write; w('Fetching 10%\\n'); w('Error response from daemon: boom\\n');"
            " w('warning: x\\n'); w('Error: tail without newline'); sys.exit(1)")
    result = process.stream([PY, "-c", code], out=io.StringIO(), err=err)
    assert err.getvalue() == "Fetching 10%\nwarning: x\n"
    assert "Error response from daemon: boom" in result.stderr and "Error: tail" in result.stderr


def test_stream_hands_a_real_fd_to_the_child(tmp_path):
    target = open(tmp_path / "out.txt", "w")
    result = process.stream([PY, "-c", "print('direct')"], out=target, err=io.StringIO())
    target.close()
    assert result.ok and (tmp_path / "out.txt").read_text() == "direct\n"


def test_stderr_progress_gets_a_terminal_when_ours_is_one():
    master, slave = pty.openpty()
    err = os.fdopen(slave, "w")
    code = "import os, sys; sys.stderr.write('tty=%s\\n' % os.isatty(2)); sys.exit(1)"
    try:
        result = process.stream([PY, "-c", code], out=io.StringIO(), err=err, progress_on_stderr=True)
        seen = os.read(master, 1024).decode()
    finally:
        err.close()
        os.close(master)
    assert "tty=True" in seen
    assert "tty=True" in result.stderr and result.returncode == 1


def test_stderr_without_terminal_is_piped():
    err = io.StringIO()
    code = "import os, sys; sys.stderr.write('tty=%s\\n' % os.isatty(2))"
    result = process.stream([PY, "-c", code], out=io.StringIO(), err=err, progress_on_stderr=True)
    assert err.getvalue() == "tty=False\n" == result.stderr


def test_interactive_returns_exit_code():
    assert attached.interactive([PY, "-c", "import sys; sys.exit(7)"]) == 7


def refused(text: str) -> bool:
    return "no such container" in text.lower()


def test_an_engines_refusal_is_held_back_and_told_to_the_caller(capfd):
    code, refusal = attached.interactive_unless_refused(
        [PY, "-c", "import sys; sys.stderr.write('Error response from daemon: No such container: x\\n'); sys.exit(1)"],
        refused)
    assert (code, refusal) == (1, "Error response from daemon: No such container: x\n")
    assert capfd.readouterr().err == ""


def test_a_commands_own_stderr_passes_at_once_and_a_refusal_like_line_with_success_is_shown(capfd):
    script = ("import sys, time; sys.stderr.write('warming up\\n'); sys.stderr.flush(); time.sleep(0.3); "
              "sys.stderr.write('Error response from daemon: No such container: x\\n')")
    child = f"import subprocess, sys; subprocess.run([{PY!r}, '-c', {script!r}])"
    assert attached.interactive_unless_refused([PY, "-c", child], refused) == (0, None)
    assert capfd.readouterr().err == "warming up\nError response from daemon: No such container: x\n"
    assert attached.interactive_unless_refused(
        [PY, "-c", "import sys; sys.stderr.write('Error: No such container here, but it ran'); sys.exit(0)"],
        refused) == (0, None)
    assert capfd.readouterr().err == "Error: No such container here, but it ran"


def test_an_unreachable_engine_reads_as_a_refusal_and_a_partial_line_is_not_held(capfd):
    def unreachable(text: str) -> bool:
        return "cannot connect to the docker daemon" in text.lower()

    script = "import sys; sys.stderr.write('Cannot connect to the Docker daemon at unix:///x.\\n'); sys.exit(1)"
    assert attached.interactive_unless_refused([PY, "-c", script], unreachable)[1] is not None
    assert capfd.readouterr().err == ""
    assert_a_prompt_is_shown_while_it_waits("lambda text: True")


def assert_a_prompt_is_shown_while_it_waits(refusal: str, trailer: str | None = None) -> None:
    prompt = "import sys, time; sys.stderr.write('Password: '); sys.stderr.flush(); time.sleep(5)"
    relayed = (f"import sys; from oubliette.engines import attached; attached.interactive_unless_refused("
               f"[{PY!r}, '-c', {prompt!r}], {refusal}, trailer={trailer!r})")
    child = subprocess.Popen([PY, "-c", relayed], stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert child.stderr is not None
        assert child.stderr.read(10) == b"Password: " and child.poll() is None  # shown while it waits
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the relay and the command under it
        child.wait()


def test_an_endless_error_line_is_not_held_in_memory(capfd):
    """A container printing 'Error' and then megabytes without a newline: relayed, not kept."""
    code, refusal = attached.interactive_unless_refused(
        [PY, "-c", "import sys; sys.stderr.write('Error' + 'x' * 8_000_000); sys.exit(1)"], refused)
    assert (code, refusal) == (1, None)
    assert len(capfd.readouterr().err) == 8_000_005


TRAILER = "command terminated with exit code "


def test_the_clis_own_last_line_after_a_failing_command_is_dropped_and_nothing_else(capfd):
    """kubectl's `command terminated with exit code N`: dropped when last; the command's own
    lines (one that looks like it, followed by more) pass, a prompt without a newline at once."""
    script = ("import sys, time; sys.stderr.write('oops\\n'); sys.stderr.flush(); time.sleep(0.2); "
              "sys.stderr.write('command terminated'); sys.stderr.flush(); time.sleep(0.2); "
              "sys.stderr.write(' with exit code 12\\n'); sys.exit(3)")
    assert attached.interactive_unless_refused([PY, "-c", script], refused, trailer=TRAILER) == (3, None)
    assert capfd.readouterr().err == "oops\n"
    mine = "import sys; sys.stderr.write('command terminated with exit code 2\\nbut more\\n'); sys.exit(1)"
    assert attached.interactive_unless_refused([PY, "-c", mine], refused, trailer=TRAILER) == (1, None)
    assert capfd.readouterr().err == "command terminated with exit code 2\nbut more\n"
    near = "import sys; sys.stderr.write('command terminated with exit code two'); sys.exit(1)"
    assert attached.interactive_unless_refused([PY, "-c", near], refused, trailer=TRAILER) == (1, None)
    assert capfd.readouterr().err == "command terminated with exit code two"
    assert_a_prompt_is_shown_while_it_waits("lambda text: False", TRAILER)
