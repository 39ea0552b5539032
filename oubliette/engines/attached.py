"""Engine calls with the terminal attached: sessions and `logs --follow`. The child owns
the terminal (stdin included); we wait for it and return its exit code."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from oubliette.engines import pumps
from oubliette.engines.process import debug, spawn


def interactive(argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run with the terminal inherited (stdin included); return the exit code."""
    for stream_ in (sys.stdout, sys.stderr):
        stream_.flush()
    started = time.monotonic()
    proc = spawn(argv, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        # The child saw the same Ctrl-C (same process group); let it finish.
        proc.wait()
        raise
    debug(argv, started, code)
    return code


def interactive_unless_refused(argv: Sequence[str], refusal: Callable[[str], bool],
                               env: Mapping[str, str] | None = None,
                               trailer: str | None = None) -> tuple[int, str | None]:
    """As `interactive`, with the child's stderr relayed; (exit code, refusal). The refusal
    is the error line, not shown, when the child failed with nothing but a line `refusal`
    recognises: the engine refusing the call before the command ran, most likely, so the
    caller may look and try again (or show it, when the line was the command's own).
    `trailer`: the CLI's own last line after a failing command, not shown (see RefusalRelay)."""
    for stream_ in (sys.stdout, sys.stderr):
        stream_.flush()
    started = time.monotonic()
    proc = spawn(argv, env=env, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    relay = pumps.RefusalRelay(proc.stderr, 2, refusal, trailer)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.wait()  # as in `interactive`
        relay.held()
        relay.release()
        relay.end()
        raise
    held = relay.held()
    debug(argv, started, code)
    if code != 0 and held is not None and refusal(held):
        return code, held
    relay.release()
    relay.end()
    return code, None
