"""Copying a child's output as it arrives: to a Python stream (line by line when engine
error lines are held back), or byte for byte from a pseudo-terminal. Used by `process`."""

from __future__ import annotations

import os
import threading
from typing import IO, TextIO

KEEP = 64 * 1024  # bytes of stderr kept for classification


def text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def keep(kept: bytearray | None, chunk: bytes) -> None:
    if kept is None:
        return
    kept.extend(chunk)
    if len(kept) > KEEP:
        del kept[: len(kept) - KEEP]


def pump(source: IO[bytes], target: TextIO, kept: bytearray | None,
          hold: tuple[bytes, ...] = ()) -> threading.Thread:
    """Copy a child's pipe to a Python stream as it arrives, line by line when holding back."""

    def write(data: bytes) -> None:
        try:
            target.write(text(data))
            target.flush()
        except (OSError, ValueError):
            pass

    def run() -> None:
        reader = getattr(source, "read1", source.read)
        pending = b""
        while True:
            chunk = reader(65536)
            if not chunk:
                break
            keep(kept, chunk)
            if not hold:
                write(chunk)
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            shown = b"".join(line + b"\n" for line in lines if not line.lstrip().startswith(hold))
            if shown:
                write(shown)
        if pending and not pending.lstrip().startswith(hold):
            write(pending)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pump_fd(master: int, target_fd: int | None, kept: bytearray) -> threading.Thread:
    """Copy a pseudo-terminal's output to our terminal byte for byte (`target_fd` None: keep only)."""

    def run() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            keep(kept, chunk)
            if target_fd is None:
                continue
            try:
                os.write(target_fd, chunk)
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def open_pty_like(tty_fd: int) -> tuple[int, int]:
    """A pseudo-terminal sized like `tty_fd`, so the child's bars fit the window."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        size = fcntl.ioctl(tty_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    except OSError:
        pass
    return master, slave


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", text) if "\x1b" in text or "\r" in text else text
