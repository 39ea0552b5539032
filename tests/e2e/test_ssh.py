"""An engine over SSH that cannot be used: one `Error:` each, exit 3, within a bound, and
never a prompt, not even with a terminal (tests/e2e/sshd.py makes each case real)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time

import pytest

from tests.e2e.conftest import oubliette, write_config

CASES = {  # ssh alias -> (what the Error says, what the Hint says, seconds it may take)
    "unknown-host": ("Host key verification failed", "host key is not known", 20),
    "refused-key": ("Permission denied (publickey)", "SSH key was refused", 20),
    "no-docker": ("docker: command not found", "not installed on that host", 20),
    "closed": ("Connection refused", "ssh closed docker version", 20),
    "silent": ("did not answer within", "ssh silent docker version", 75),  # docker waits 30 s twice
}


@pytest.mark.parametrize("alias", list(CASES))
def test_an_ssh_engine_that_cannot_be_used_is_one_error_exit_3_within_a_bound(ssh_engine, home, images, alias):
    said, hint, bound = CASES[alias]
    write_config(home, {"dev": images.repo("ssh") + ":latest"},
                 engines={"box": {"runtime": "docker", "host": f"ssh://{alias}"}})
    project_id = oubliette("project", "create", "web", "--engine", "box", home=home).stdout.strip()
    started = time.monotonic()
    result = oubliette("container", "start", project_id, home=home, timeout=bound + 30)
    took = time.monotonic() - started
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 3, result.stderr
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith(f"Error: the engine 'box' (ssh://{alias}) cannot be reached") and said in errors[0]
    assert hint in result.stderr and "systemctl" not in result.stderr, result.stderr
    assert took < bound, took


def test_an_unknown_host_key_is_never_a_prompt_even_in_a_terminal(ssh_engine, home, images):
    """ssh asks on the terminal, not on stdin: oubliette's engine calls have none."""
    write_config(home, {"dev": images.repo("ssh") + ":latest"},
                 engines={"box": {"runtime": "docker", "host": "ssh://unknown-host"}})
    project_id = oubliette("project", "create", "tty", "--engine", "box", home=home).stdout.strip()
    leader, follower = pty.openpty()
    env = {**os.environ, "OUBLIETTE_HOME": str(home)}

    def in_the_terminal() -> None:  # a session of its own whose controlling terminal is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen([sys.executable, "-m", "oubliette", "container", "start", project_id],
                             stdin=follower, stdout=follower, stderr=follower, env=env,
                             preexec_fn=in_the_terminal)  # noqa: PLW1509 - the test's own child
    os.close(follower)
    output, deadline = b"", time.monotonic() + 30
    while child.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                output += os.read(leader, 65536)
            except OSError:
                break
    try:  # the terminal closes as the child exits: give it the rest of the bound to be reaped
        child.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail(f"oubliette waited on the terminal: {output.decode(errors='replace')[-500:]}")
    os.close(leader)
    text = output.decode(errors="replace")
    assert child.returncode == 3 and "(yes/no" not in text, text
    assert "Host key verification failed" in text
