"""Copying a child's output as it arrives: to a Python stream (line by line when engine
error lines are held back), or byte for byte from a pseudo-terminal. Used by `process`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
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
            if target_fd is not None:
                write_all(target_fd, chunk)

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


# How an engine's own refusal of a call begins ("Error response from daemon: ...", "Error:
# ...", "error during connect: ...", "Cannot connect to the Docker daemon ..."): a first
# line that begins so is held until it is whole, then kept back if it is a refusal.
REFUSAL_STARTS = (b"Error", b"error", b"Cannot connect")


class RefusalRelay(threading.Thread):
    """Copies an engine's stderr to ours as it comes, except a first line that `refusal`
    recognises as the engine refusing the call ("Error response from daemon: Container X
    is not running"): that is held, so a caller can try another way without the user
    seeing it. Anything else (a command's own stderr) passes at once, a line that begins
    like a refusal once it is whole; a held line that turns out not to be a refusal is
    released at the end. Holds at most KEEP bytes.

    `trailer`: the words before N of a last line `WORDS N` that the CLI adds of its own
    after a failing command (kubectl's `command terminated with exit code N`): a line that
    may be it is held until another follows, and dropped when it is the last (`end`)."""

    def __init__(self, source: IO[bytes], target_fd: int, refusal: Callable[[str], bool],
                 trailer: str | None = None) -> None:
        super().__init__(daemon=True)
        self.source, self.target_fd, self.refusal, self.trailer = source, target_fd, refusal, trailer
        self.head = bytearray()
        self.tail = b""  # the last line, while it may be the trailer
        self.sniffing = True
        self.start()

    def run(self) -> None:
        reader = getattr(self.source, "read1", self.source.read)
        while chunk := reader(65536):
            if not self.sniffing:
                self._write(chunk)
                continue
            self.head += chunk
            if len(self.head) > KEEP or not any(bytes(self.head[:len(s)]) == s[:len(self.head)]
                                                for s in REFUSAL_STARTS):
                self.release()  # not an engine's refusal (or too long to be one): pass it on
            elif b"\n" in self.head and not self.refusal(text(bytes(self.head).split(b"\n", 1)[0])):
                self.release()

    def held(self) -> str | None:
        """After the child exited and the relay ended: the held text, if any."""
        self.join()
        return text(bytes(self.head)) if self.sniffing and self.head else None

    def release(self) -> None:
        self.sniffing = False
        data, self.head = bytes(self.head), bytearray()
        self._write(data)

    def end(self) -> None:
        """After the relay ended: the held last line, unless it is the trailer."""
        line = text(self.tail).rstrip("\r\n")
        if self.tail and not (self.trailer and line.startswith(self.trailer) and line[len(self.trailer):].isdigit()):
            write_all(self.target_fd, self.tail)
        self.tail = b""

    def _write(self, data: bytes) -> None:
        if self.trailer is None:
            write_all(self.target_fd, data)
            return
        data = self.tail + data
        start = data.rfind(b"\n", 0, len(data) - 1) + 1  # where the last (maybe unfinished) line begins
        last = data[start:]
        line = text(last).rstrip("\r\n")
        words, digits = line[:len(self.trailer)], line[len(self.trailer):]
        may_be = len(line) <= 128 and self.trailer.startswith(words) and (not digits or digits.isdigit())
        self.tail = last if may_be else b""
        write_all(self.target_fd, data[:len(data) - len(self.tail)])
def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (a terminal may take part of a write); a closed one takes nothing."""
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:  # it is gone: nothing to show it on
            return
