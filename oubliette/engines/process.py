"""The one place that starts processes. Argv lists only, never a shell.

Three shapes of call:
- `capture`: stdin closed (or a small input), output captured. The child gets its own session so a
  Ctrl-C at the terminal cannot cut an engine call in half; we decide what happens.
- `stream`: the engine's own progress reaches the user (stdout as a real file
  descriptor when there is one, so the engine sees a terminal), while stderr is
  copied through and kept for error classification.
- attached (engines/attached.py): the child owns the terminal (sessions); we return
  its exit code.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TextIO

from oubliette.engines import pumps

if TYPE_CHECKING:
    import selectors

# Bytes of stdout kept from a captured call: a listing of thousands of containers is a few
# MB; an engine (or a container, through exec) printing without end must not fill memory.
# What comes past it is read and thrown away, so the child never blocks on a full pipe.
OUTPUT_LIMIT = 32 * 1024 * 1024
# An engine's own error lines are kept but not shown: the classified error restates them,
# and a user (or a script) should see one `Error:` line, not two.
ENGINE_ERROR_PREFIXES = (b"Error:", b"Error response from daemon:", b"docker: Error", b"error:")


class ProcessError(Exception):
    """A call that could not run, or did not finish: the process layer's own errors, which
    the engine adapters turn into classified ones with the engine's words."""

    def __init__(self, message: str, argv: Sequence[str]) -> None:
        super().__init__(message)
        self.argv = list(argv)


class BinaryMissing(ProcessError):
    """The program to run is not installed (`binary` names it)."""

    def __init__(self, binary: str, argv: Sequence[str]) -> None:
        super().__init__(f"{binary} not found", argv)
        self.binary = binary


class TimedOut(ProcessError):
    """A call still running after its bound; it was killed."""

    def __init__(self, timeout: float, argv: Sequence[str]) -> None:
        super().__init__(f"`{' '.join(list(argv)[:3])}` did not finish within {timeout:g} s", argv)
        self.timeout = timeout


def spawn(argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """Popen, argv only; a missing program is BinaryMissing."""
    try:
        return subprocess.Popen(list(argv), **options)
    except FileNotFoundError as exc:
        raise BinaryMissing(str(exc.filename or argv[0]), argv) from None


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
            limit: int = OUTPUT_LIMIT, err_limit: int = pumps.KEEP,
            on_spawn: Callable[[int], None] | None = None, stdin: bytes | None = None) -> Result:
    """Run and capture at most `limit` bytes of stdout and `err_limit` of stderr (the rest
    is drained and dropped; `overflow` says so). BinaryMissing when the program is not
    installed; TimedOut (after killing the call) when `timeout` passes. `env`: the child's
    whole environment (a named engine's endpoint); None: ours. `on_spawn(pid)`: told the
    call's pid as it starts (a container swap journals its engine calls). `stdin`: a small
    input (a manifest, well under a pipe's buffer), written whole before the output is read."""
    import time

    if on_spawn is not None and stdin is None and (files := _unlinked_files()) is not None:
        return _capture_outliving(argv, timeout, env, (limit, err_limit), on_spawn, files)
    started = time.monotonic()
    proc = spawn(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, start_new_session=True, env=env)
    if on_spawn is not None:
        on_spawn(proc.pid)
    if stdin is not None and proc.stdin is not None:
        _give(proc.stdin, stdin)
    with _killed_unless_done(proc, argv, started, timeout):
        (out, err), overflow = _read_bounded(proc, (limit, err_limit), timeout, started)
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, pumps.text(out), pumps.text(err), overflow)


def _give(sink: IO[bytes], data: bytes) -> None:
    """Write a small input and close it; a child that exits without reading it is its own matter."""
    try:
        sink.write(data)
        sink.close()
    except (BrokenPipeError, ValueError):
        pass


@contextlib.contextmanager
def _killed_unless_done(proc: subprocess.Popen[bytes], argv: Sequence[str], started: float,
                        timeout: float | None) -> Iterator[None]:
    """A call we stop waiting for (its timeout, an interrupt) is killed and reaped; a
    timeout is TimedOut."""
    try:
        yield
    except BaseException as error:
        proc.kill()
        proc.wait()
        debug(argv, started, None)
        if isinstance(error, subprocess.TimeoutExpired):
            raise TimedOut(timeout or 0, argv) from None
        raise


def _unlinked_files() -> tuple[IO[bytes], IO[bytes]] | None:
    """Two unlinked temporary files; None without a writable temporary directory."""
    first = _unlinked_file()
    if first is None:
        return None
    second = _unlinked_file()
    if second is None:
        first.close()
        return None
    return first, second


def _unlinked_file() -> IO[bytes] | None:
    """A private file with no name, in $TMPDIR or /tmp; made here, not with `tempfile`,
    whose imports (shutil, bz2, lzma, random) cost a refresh ~10 ms."""
    directory = os.environ.get("TMPDIR") or "/tmp"
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    try:
        if hasattr(os, "O_TMPFILE"):  # Linux: never has a name at all
            try:
                return os.fdopen(os.open(directory, flags | os.O_TMPFILE, 0o600), "w+b")
            except OSError:
                pass  # a file system without it: a name, unlinked at once
        path = os.path.join(directory, f".oubliette-{os.getpid()}-{os.urandom(8).hex()}")
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.unlink(path)
        except OSError:
            os.close(fd)
            raise
        return os.fdopen(fd, "w+b")
    except OSError:
        return None


def _capture_outliving(argv: Sequence[str], timeout: float | None, env: Mapping[str, str] | None,
                       limits: tuple[int, int], on_spawn: Callable[[int], None],
                       files: tuple[IO[bytes], IO[bytes]]) -> Result:
    """`capture` for a call that must be able to outlive us (a journalled swap step: after a
    SIGKILL the next command waits for it). Its output goes to unlinked files, not pipes:
    a pipe's reader dies with us, and the call's next write (podman's "resorting to SIGKILL"
    warning at 10 s) would kill it with SIGPIPE half done. Only the limits are read back."""
    import time

    started = time.monotonic()
    with files[0] as out, files[1] as err:
        proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True, env=env)
        on_spawn(proc.pid)
        with _killed_unless_done(proc, argv, started, timeout):
            _wait(proc, timeout)
        kept, overflow = [], False
        for handle, limit in zip((out, err), limits, strict=True):
            handle.seek(0)
            data = handle.read(limit + 1)
            kept.append(data[:limit])
            overflow = overflow or len(data) > limit
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, pumps.text(kept[0]), pumps.text(kept[1]), overflow)


def _read_bounded(proc: subprocess.Popen[bytes], limits: tuple[int, int], timeout: float | None,
                  started: float) -> tuple[tuple[bytes, bytes], bool]:
    """Read the child's stdout and stderr until both close, keeping `limits` bytes of each
    (the rest is read and dropped, so the child never blocks on a full pipe), and reap it;
    TimeoutExpired once `timeout` seconds have passed since `started`. One thread and a
    selector, as `communicate` does: reader threads cost ~10 ms a call here."""
    import selectors
    import time

    assert proc.stdout is not None and proc.stderr is not None
    deadline = None if timeout is None else started + timeout

    def left() -> float | None:
        return None if deadline is None else max(deadline - time.monotonic(), 0.0)

    streams = (proc.stdout, proc.stderr)
    kept = (bytearray(), bytearray())
    overflow = False
    if not _is_pipe(proc.stdout):  # in memory (a test's fake process): complete once it has run
        proc.wait(left())
        for stream, buffer, limit in zip(streams, kept, limits, strict=True):
            data = stream.read()
            buffer += data[:limit]
            overflow = overflow or len(data) > limit
        return (bytes(kept[0]), bytes(kept[1])), overflow
    exited = _exit_fd(proc)
    try:
        with selectors.DefaultSelector() as selector:
            for index, stream in enumerate(streams):
                selector.register(stream.fileno(), selectors.EVENT_READ, index)
            if exited is not None:
                selector.register(exited, selectors.EVENT_READ, None)
            while selector.get_map():
                wait = left()
                if wait == 0.0:
                    raise subprocess.TimeoutExpired(proc.args, timeout or 0)
                overflow = _read_ready(selector, selector.select(wait), kept, limits) or overflow
    finally:
        if exited is not None:
            os.close(exited)
    proc.wait(None if exited is not None else left())  # it has exited: no polling loop
    for stream in streams:
        stream.close()
    return (bytes(kept[0]), bytes(kept[1])), overflow


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> int:
    """`proc.wait(timeout)`, woken by the child's exit where a pidfd can tell it: Popen's
    own wait with a timeout sleeps and polls, up to 50 ms late for a call of a second."""
    exited = _exit_fd(proc)
    if exited is None:
        return proc.wait(timeout)
    import select

    try:
        waiting = select.poll()  # not select(): a descriptor past 1023 is fine
        waiting.register(exited, select.POLLIN)
        ready = waiting.poll(None if timeout is None else max(timeout, 0.0) * 1000)
    finally:
        os.close(exited)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout or 0)
    return proc.wait()


def _exit_fd(proc: subprocess.Popen[bytes]) -> int | None:
    """A descriptor that becomes readable when the child exits (Linux's pidfd), so the
    reap waits on it with the pipes instead of `Popen.wait(timeout)`'s sleep-and-poll
    loop (~1 ms of every engine call); None where there is none (then that loop)."""
    try:
        return os.pidfd_open(proc.pid)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None


def _read_ready(selector: selectors.BaseSelector, ready: list[tuple[selectors.SelectorKey, int]],
                kept: tuple[bytearray, bytearray], limits: tuple[int, int]) -> bool:
    """Read what the selector says is ready; True if a stream went past its limit. A
    closed stream, and the child's exit, leave the selector."""
    overflow = False
    for key, _ in ready:
        if key.data is None:  # the child exited
            selector.unregister(key.fd)
            continue
        chunk = os.read(key.fd, 65536)
        if not chunk:
            selector.unregister(key.fd)
            continue
        buffer, limit = kept[key.data], limits[key.data]
        free = limit - len(buffer)
        if free > 0:
            buffer += chunk[:free]
        overflow = overflow or len(chunk) > free
    return overflow


def _is_pipe(stream: IO[bytes]) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


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
        pty_master, pty_slave = pumps.open_pty_like(err_fd)
    try:
        proc = spawn(
            argv,
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
    readers: list[threading.Thread] = []
    if out_fd is None:
        assert proc.stdout is not None
        readers.append(pumps.pump(proc.stdout, out, None))
    if pty_master is not None and pty_slave is not None:
        os.close(pty_slave)
        readers.append(pumps.pump_fd(pty_master, err_fd, kept))
    else:
        assert proc.stderr is not None
        readers.append(pumps.pump(proc.stderr, err, kept, hold=ENGINE_ERROR_PREFIXES))
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
        for reader in readers:
            reader.join(timeout=5)
        if pty_master is not None:
            os.close(pty_master)
    debug(argv, started, proc.returncode)
    return Result(list(argv), proc.returncode, "", pumps.strip_ansi(pumps.text(bytes(kept))))


# --- helpers ----------------------------------------------------------------------



def _real_fd(stream_: IO[str]) -> int | None:
    try:
        return stream_.fileno()
    except (AttributeError, OSError, ValueError):
        return None


