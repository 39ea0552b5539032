"""Ctrl-C and SIGTERM: both interrupt a command, neither may cut a container swap in half.

SIGTERM (systemd, a CI timeout, an MCP client closing) raises `Terminated`, a kind of
KeyboardInterrupt, so every place that already finishes or undoes its work on Ctrl-C
does the same on SIGTERM; the CLI exits 130 for one and 143 for the other.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived."""


class ForcedInterrupt(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM during a container swap: the swap was cut short.
    `terminated` tells which signal; the CLI says what state the project is left in."""

    def __init__(self, terminated: bool) -> None:
        super().__init__()
        self.terminated = terminated


CUT_SHORT = ("a container swap was cut short by a second interrupt; the next oubliette command on the project "
             "finishes or undoes it (`oubliette container start ID` does that now)")


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


def handle_sigterm() -> None:
    """Turn SIGTERM into `Terminated` in this process (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@contextmanager
def defer_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until a container swap is complete, then raise them.

    Engine calls run in their own session, so the terminal's SIGINT does not reach
    them either; the swap finishes (or is undone) and the project keeps a container.
    Every engine call has a bound, so the hold ends; a second signal ends it at once
    (ForcedInterrupt), leaving what an interrupted swap leaves: the next command on the
    project recovers it, as after a SIGKILL.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            raise ForcedInterrupt(terminated=signal.SIGTERM in received)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    forced = False
    try:
        yield
    except ForcedInterrupt:
        forced = True
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not forced and signal.SIGTERM in received:
            raise Terminated
        if not forced and received:
            raise KeyboardInterrupt
