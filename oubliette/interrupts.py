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


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
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
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if signal.SIGTERM in received:
            raise Terminated
        if received:
            raise KeyboardInterrupt
