"""Which process a pid is: its start stamp and program, so a journalled engine call or a
session's process is told apart from another that reused its pid."""

from __future__ import annotations

import os

PID_MAX = 2**22  # Linux's largest pid_max; macOS stays below 100000


def start_stamp(pid: int) -> str | None:
    """An opaque start time of process `pid`, telling a reused pid apart; None when there is
    no such process. /proc's starttime on Linux, `ps -o lstart=` elsewhere (macOS)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return None
    except PermissionError:
        pass  # alive, but someone else's
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            return handle.read(4096).rsplit(")", 1)[1].split()[19]  # field 22 follows the (command name)
    except IndexError:
        return None
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # it ended meanwhile
    except OSError:
        return None
    from oubliette.engines.process import ProcessError, capture

    try:
        result = capture(["ps", "-o", "lstart=", "-p", str(pid)], timeout=10)
    except ProcessError:
        return None
    return result.stdout.strip() or None


def program_of(pid: int) -> str | None:
    """The program a process runs (argv[0]'s last part) where /proc tells (Linux); else None.
    None too while /proc's cmdline is empty: a child just spawned can still be inside
    `exec` when Popen returns (seen under load: 7 of 20), and a zombie has none."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            name = os.path.basename(handle.read(4096).split(b"\0", 1)[0].decode("utf-8", "replace"))
    except OSError:
        return None
    return name or None
