"""Bytes between a container and here: the workspace's tar streams, through the engines'
CLIs (`pipe` between two engines, `feed` into a consumer). Bounded wherever the other
side decides how much comes: what comes out of a container is untrusted."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from oubliette.engines import pumps
from oubliette.engines.process import Result, debug, spawn

TRAILING_LIMIT = 1024 * 1024  # bytes read after a consumer of `feed` has all it wants


class _Drain(threading.Thread):
    """Reads a pipe to its end, keeping its first `limit` bytes and dropping the rest, so
    the child never blocks on a full pipe and we never hold more than `limit`."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.source, self.limit = source, limit
        self.data = bytearray()
        self.overflow = False
        self.start()

    def run(self) -> None:
        reader = getattr(self.source, "read1", self.source.read)
        while chunk := reader(65536):
            free = self.limit - len(self.data)
            if free > 0:
                self.data += chunk[:free]
            self.overflow = self.overflow or len(chunk) > free


def pipe(source: Sequence[str], sink: Sequence[str], source_env: Mapping[str, str] | None = None,
         sink_env: Mapping[str, str] | None = None,
         on_bytes: Callable[[int], None] | None = None) -> tuple[Result, Result]:
    """`source | sink`, the bytes passing through us so `on_bytes(total)` can show progress;
    both exit codes and stderrs come back. Either program missing: BinaryMissing."""
    import time

    started = time.monotonic()
    producer = spawn(source, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     env=source_env)
    try:
        consumer = spawn(sink, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=sink_env)
    except BaseException:
        producer.kill()
        producer.wait()
        raise
    errors = (bytearray(), bytearray())
    readers = [pumps.pump_fd(proc.stderr.fileno(), None, kept)  # type: ignore[union-attr]
             for proc, kept in ((producer, errors[0]), (consumer, errors[1]))]
    total = 0
    try:
        assert producer.stdout is not None and consumer.stdin is not None
        while chunk := producer.stdout.read1(65536):  # type: ignore[attr-defined]
            try:
                consumer.stdin.write(chunk)
            except BrokenPipeError:  # the sink gave up; its stderr says why
                break
            total += len(chunk)
            if on_bytes is not None:
                on_bytes(total)
        producer.stdout.close()  # a source still writing after the sink gave up gets SIGPIPE
        try:
            consumer.stdin.close()
        except BrokenPipeError:
            pass
        producer.wait()
        consumer.wait()
    except BaseException:
        for proc in (producer, consumer):
            proc.kill()
            proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    debug([*source, "|", *sink], started, consumer.returncode)
    return (Result(list(source), producer.returncode, "", pumps.text(bytes(errors[0]))),
            Result(list(sink), consumer.returncode, "", pumps.text(bytes(errors[1]))))


def feed(argv: Sequence[str], consume: Callable[[IO[bytes]], None],
         env: Mapping[str, str] | None = None) -> tuple[Result, Exception | None]:
    """Run `argv` and hand its stdout, as it comes, to `consume`; keep a bounded stderr.
    When `consume` fails the call is killed (its failure is then an echo) and the error
    comes back beside the call's result, so the caller can say which side failed first.
    Ctrl-C or SIGTERM kill the call and propagate. A missing program: BinaryMissing."""
    import time

    started = time.monotonic()
    proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    errors = _Drain(proc.stderr, pumps.KEEP)
    failure: Exception | None = None
    try:
        try:
            consume(proc.stdout)
            trailing = 0  # what follows the end of the data (tar pads to its record size): dropped
            while trailing <= TRAILING_LIMIT and (chunk := proc.stdout.read(65536)):
                trailing += len(chunk)
            if trailing > TRAILING_LIMIT:  # a producer that will not stop
                proc.kill()
        except Exception as exc:  # noqa: BLE001 - handed back to the caller beside the call's result
            failure = exc
            proc.kill()
        proc.stdout.close()
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        errors.join(5)
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, "", pumps.text(bytes(errors.data)), errors.overflow), failure
