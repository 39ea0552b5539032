"""Where the core's progress goes: one object the CLI and the MCP server configure.

The core never prints on its own: it tells a Reporter, which writes lines for people
and hands its streams to engine commands so their native progress lands in the
same place (stdout normally; stderr under --json and MCP, where stdout is data).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class Reporter:
    def __init__(self, to_stderr: bool = False, quiet: bool = False, indent: str = "") -> None:
        self.to_stderr = to_stderr
        self.quiet = quiet
        self.indent = indent

    def nested(self) -> Reporter:
        """The same destination, with info lines indented one step (per-project steps)."""
        return Reporter(self.to_stderr, self.quiet, self.indent + "  ")

    @property
    def out(self) -> TextIO:
        """The stream for progress lines and engine output (resolved late for test runners)."""
        return sys.stderr if self.to_stderr else sys.stdout

    @property
    def err(self) -> TextIO:
        return sys.stderr

    def info(self, message: str) -> None:
        if not self.quiet:
            print(f"{self.indent}{message}", file=self.out, flush=True)

    def warn(self, message: str) -> None:
        print(f"Warning: {message}", file=self.err, flush=True)

    def note(self, message: str) -> None:
        """Side remarks (waiting for a lock, runtime chosen): always on stderr."""
        print(message, file=self.err, flush=True)

    def buffered(self) -> BufferedReporter:
        """A reporter that holds its lines until `flush()`: one project's lines stay together
        while several projects are worked on at once."""
        return BufferedReporter(self.to_stderr, self.quiet, self.indent)


class BufferedReporter(Reporter):
    def __init__(self, to_stderr: bool = False, quiet: bool = False, indent: str = "") -> None:
        super().__init__(to_stderr, quiet, indent)
        self.lines: list[tuple[bool, str]] = []  # (to stderr, text)

    def nested(self) -> Reporter:
        child = BufferedReporter(self.to_stderr, self.quiet, self.indent + "  ")
        child.lines = self.lines  # one shared buffer, so the order of lines is kept
        return child

    def info(self, message: str) -> None:
        if not self.quiet:
            self.lines.append((self.to_stderr, f"{self.indent}{message}"))

    def warn(self, message: str) -> None:
        self.lines.append((True, f"Warning: {message}"))

    def note(self, message: str) -> None:
        self.lines.append((True, message))

    def flush(self) -> None:
        with _FLUSHING:  # one group at a time, even when several finish together
            for to_stderr, text in self.lines:
                print(text, file=sys.stderr if to_stderr else sys.stdout, flush=True)
            self.lines.clear()


_FLUSHING = threading.Lock()
