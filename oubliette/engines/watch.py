"""Following what a CLI prints while it watches (`kubectl get pod NAME --watch -o json`): each
JSON object as it comes, so a wait ends the moment the state it waits for is reported, not
at the next poll. What the CLI prints is bounded (one object, and its stderr), and nothing
here waits past the deadline its caller gives."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from oubliette.engines import process

OBJECT_LIMIT = 1 << 20  # a pod prints a few KB; more than this is not a pod
STDERR_LIMIT = 64 * 1024
QUIET = object()  # nothing new within the time given
ENDED = object()  # the CLI ended (its result says how)


class Watch:
    """One watching CLI: `next(timeout)` is its next object, QUIET, or ENDED."""

    limit = OBJECT_LIMIT

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None) -> None:
        import time

        self.argv, self.started = list(argv), time.monotonic()
        self.proc = process.spawn(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        self.events: queue.Queue[Any] = queue.Queue()
        self.stderr = bytearray()
        self.overflow = False  # it printed what is not an object, or one over OBJECT_LIMIT
        self.readers = [threading.Thread(target=self._objects, args=(self.proc.stdout,), daemon=True),
                        threading.Thread(target=self._errors, args=(self.proc.stderr,), daemon=True)]
        for reader in self.readers:
            reader.start()

    def _objects(self, stream: IO[bytes]) -> None:
        """Pretty-printed objects, one after another: each ends with a `}` line of its own."""
        held = bytearray()
        try:
            while line := stream.readline(OBJECT_LIMIT):
                held += line
                if len(held) > OBJECT_LIMIT:
                    self.overflow = True
                    break
                if line.rstrip() == b"}":
                    try:
                        found = json.loads(held)
                    except ValueError:
                        found = None
                    if not isinstance(found, dict):
                        self.overflow = True  # not what kubectl prints: stop reading it
                        break
                    self.events.put(found)
                    held.clear()
        finally:
            self.events.put(ENDED)

    def _errors(self, stream: IO[bytes]) -> None:
        while chunk := stream.read(4096):
            self.stderr += chunk[:max(0, STDERR_LIMIT - len(self.stderr))]

    def next(self, timeout: float) -> Any:
        try:
            return self.events.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return QUIET

    def result(self) -> process.Result:
        """How the CLI ended (after ENDED); its stdout is not kept."""
        self.close()
        return process.Result(self.argv, self.proc.returncode if self.proc.returncode is not None else -1, "",
                              self.stderr.decode(errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        process.debug(self.argv, self.started, self.proc.returncode)


@contextmanager
def follow(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Iterator[Watch]:
    """A Watch that is stopped however the block ends."""
    watching = Watch(argv, env)
    try:
        yield watching
    finally:
        watching.close()
