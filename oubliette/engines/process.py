"""The one place that starts processes. Argv lists only, never a shell.

Three shapes of call:
- `capture`: stdin closed, output captured. The child gets its own session so a
  Ctrl-C at the terminal cannot cut an engine call in half; we decide what happens.
- `stream`: the engine's own progress reaches the user (stdout as a real file
  descriptor when there is one, so the engine sees a terminal), while stderr is
  copied through and kept for error classification.
- `interactive`: the child owns the terminal (sessions); we return its exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, NamedTuple, TextIO

_KEEP = 64 * 1024  # bytes of stderr kept for classification
# Bytes of stdout kept from a captured call: a listing of thousands of containers is a few
# MB; an engine (or a container, through exec) printing without end must not fill memory.
# What comes past it is read and thrown away, so the child never blocks on a full pipe.
OUTPUT_LIMIT = 32 * 1024 * 1024
TRAILING_LIMIT = 1024 * 1024  # bytes read after a consumer of `feed` has all it wants
# An engine's own error lines are kept but not shown: the classified error restates them,
# and a user (or a script) should see one `Error:` line, not two.
ENGINE_ERROR_PREFIXES = (b"Error:", b"Error response from daemon:", b"docker: Error", b"error:")


# Per thread: told the pid of every captured engine call while a container swap runs
# (swap.swapping), so a command killed with SIGKILL leaves behind which engine calls
# may still be running. Per thread, because refresh swaps several projects at once.
spawn_hooks = threading.local()


class Result(NamedTuple):
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    overflow: bool = False  # stdout or stderr went past its limit; the rest was discarded

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def debug(argv: Sequence[str], started: float, returncode: int | None) -> None:
    """`OUBLIETTE_DEBUG=1`: every engine call, its duration and exit code, on stderr."""
    if os.environ.get("OUBLIETTE_DEBUG") == "1":
        import shlex
        import time

        print(f"[oubliette] {shlex.join(argv)}  ({time.monotonic() - started:.3f} s, exit {returncode})",
              file=sys.stderr, flush=True)


def capture(argv: Sequence[str], timeout: float | None = None, env: Mapping[str, str] | None = None,
            limit: int = OUTPUT_LIMIT, err_limit: int = _KEEP) -> Result:
    """Run and capture at most `limit` bytes of stdout and `err_limit` of stderr (the rest
    is drained and dropped; `overflow` says so). Raises FileNotFoundError when the binary
    is missing, and subprocess.TimeoutExpired (after killing the call) when `timeout`
    passes. `env`: the child's whole environment (a named engine's endpoint); None: ours."""
    import time

    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    hook: Callable[[int], None] | None = getattr(spawn_hooks, "on_spawn", None)
    if hook is not None:
        hook(proc.pid)
    try:
        (out, err), overflow = _read_bounded(proc, (limit, err_limit), timeout, started)
    except BaseException:
        proc.kill()
        proc.wait()
        debug(argv, started, None)
        raise
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, _text(out), _text(err), overflow)


def _read_bounded(proc: subprocess.Popen[bytes], limits: tuple[int, int], timeout: float | None,
                  started: float) -> tuple[tuple[bytes, bytes], bool]:
    """Read the child's stdout and stderr until both close, keeping `limits` bytes of each,
    and reap it; TimeoutExpired once `timeout` seconds have passed since `started`."""
    import time

    assert proc.stdout is not None and proc.stderr is not None
    deadline = None if timeout is None else started + timeout

    def left() -> float | None:
        return None if deadline is None else max(deadline - time.monotonic(), 0.0)

    if not _is_pipe(proc.stdout):  # in memory (a test's fake process): complete once it has run
        proc.wait(left())
    kept = [_Drain(proc.stdout, limits[0]), _Drain(proc.stderr, limits[1])]
    proc.wait(left())
    for drain in kept:
        drain.join(left())
        if drain.is_alive():  # a child of the call still holds the pipe open
            raise subprocess.TimeoutExpired(proc.args, timeout or 0)
    return (bytes(kept[0].data), bytes(kept[1].data)), kept[0].overflow or kept[1].overflow


def _is_pipe(stream: IO[bytes]) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


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


def stream(
    argv: Sequence[str],
    out: TextIO | None = None,
    err: TextIO | None = None,
    progress_on_stderr: bool = False,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run with the engine's output shown live on `out`/`err`; returns the stderr text.

    `progress_on_stderr` marks engines (Apple's) that draw progress on stderr: when
    `err` is a terminal the child gets a pseudo-terminal there, so it still draws
    its bars while we keep a copy of what it printed.
    """
    import time

    started = time.monotonic()
    out = out or sys.stdout
    err = err or sys.stderr
    out_fd = _real_fd(out)
    err_fd = _real_fd(err)
    use_pty = progress_on_stderr and err_fd is not None and os.isatty(err_fd) and sys.platform != "win32"

    for stream_ in (out, err):
        stream_.flush()
    pty_master: int | None = None
    pty_slave: int | None = None
    if use_pty and err_fd is not None:
        pty_master, pty_slave = _open_pty_like(err_fd)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out_fd if out_fd is not None else subprocess.PIPE,
            stderr=pty_slave if use_pty else subprocess.PIPE,
            env=env,
        )
    except BaseException:
        for fd in (pty_master, pty_slave):
            if fd is not None:
                os.close(fd)
        raise
    kept = bytearray()
    pumps = []
    if out_fd is None:
        assert proc.stdout is not None
        pumps.append(_pump(proc.stdout, out, None))
    if pty_master is not None and pty_slave is not None:
        os.close(pty_slave)
        pumps.append(_pump_fd(pty_master, err_fd, kept))
    else:
        assert proc.stderr is not None
        pumps.append(_pump(proc.stderr, err, kept, hold=ENGINE_ERROR_PREFIXES))
    try:
        proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    finally:
        for pump in pumps:
            pump.join(timeout=5)
        if pty_master is not None:
            os.close(pty_master)
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, "", _strip_ansi(_text(bytes(kept))))


def interactive(argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run with the terminal inherited (stdin included); return the exit code."""
    for stream_ in (sys.stdout, sys.stderr):
        stream_.flush()
    proc = subprocess.Popen(list(argv), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # The child saw the same Ctrl-C (same process group); let it finish.
        proc.wait()
        raise


def pipe(source: Sequence[str], sink: Sequence[str], source_env: Mapping[str, str] | None = None,
         sink_env: Mapping[str, str] | None = None,
         on_bytes: Callable[[int], None] | None = None) -> tuple[Result, Result]:
    """`source | sink`, the bytes passing through us so `on_bytes(total)` can show progress;
    both exit codes and stderrs come back. Either binary missing raises FileNotFoundError."""
    import time

    started = time.monotonic()
    producer = subprocess.Popen(list(source), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=source_env)
    try:
        consumer = subprocess.Popen(list(sink), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=sink_env)
    except BaseException:
        producer.kill()
        producer.wait()
        raise
    errors = (bytearray(), bytearray())
    pumps = [_pump_fd(proc.stderr.fileno(), None, kept)  # type: ignore[union-attr]
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
        for pump in pumps:
            pump.join(timeout=5)
    debug([*source, "|", *sink], started, consumer.returncode)
    return (Result(list(source), producer.returncode, "", _text(bytes(errors[0]))),
            Result(list(sink), consumer.returncode, "", _text(bytes(errors[1]))))


def feed(argv: Sequence[str], consume: Callable[[IO[bytes]], None],
         env: Mapping[str, str] | None = None) -> tuple[Result, Exception | None]:
    """Run `argv` and hand its stdout, as it comes, to `consume`; keep a bounded stderr.
    When `consume` fails the call is killed (its failure is then an echo) and the error
    comes back beside the call's result, so the caller can say which side failed first.
    Ctrl-C or SIGTERM kill the call and propagate. A missing binary: FileNotFoundError."""
    import time

    started = time.monotonic()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    errors = _Drain(proc.stderr, _KEEP)
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
    return Result(list(argv), proc.returncode, "", _text(bytes(errors.data)), errors.overflow), failure


# --- helpers ----------------------------------------------------------------------


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _real_fd(stream_: IO[str]) -> int | None:
    try:
        return stream_.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _keep(kept: bytearray | None, chunk: bytes) -> None:
    if kept is None:
        return
    kept.extend(chunk)
    if len(kept) > _KEEP:
        del kept[: len(kept) - _KEEP]


def _pump(source: IO[bytes], target: TextIO, kept: bytearray | None,
          hold: tuple[bytes, ...] = ()) -> threading.Thread:
    """Copy a child's pipe to a Python stream as it arrives, line by line when holding back."""

    def write(data: bytes) -> None:
        try:
            target.write(_text(data))
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
            _keep(kept, chunk)
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


def _pump_fd(master: int, target_fd: int | None, kept: bytearray) -> threading.Thread:
    """Copy a pseudo-terminal's output to our terminal byte for byte (`target_fd` None: keep only)."""

    def run() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            _keep(kept, chunk)
            if target_fd is None:
                continue
            try:
                os.write(target_fd, chunk)
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _open_pty_like(tty_fd: int) -> tuple[int, int]:
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


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", text) if "\x1b" in text or "\r" in text else text
