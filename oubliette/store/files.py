"""Small file primitives: private directories and files, atomic writes, the per-project lock.

Everything oubliette writes in its home is private to the user whatever the umask:
directories 0700, files 0600. Modes are given at creation (never widened afterwards),
so no file exists for a moment with a wider mode.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from types import TracebackType

from oubliette.errors import OublietteError

DIR_MODE = 0o700
FILE_MODE = 0o600
_READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)


def private_dir(path: str | os.PathLike[str]) -> str:
    """Create `path` and any missing parents with mode 0700 (os.makedirs' parents get 0777)."""
    path = os.fspath(path)
    missing = []
    current = os.path.normpath(path)
    while not os.path.exists(current) and current != os.path.dirname(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            pass
        else:
            os.chmod(directory, DIR_MODE)  # the umask may have narrowed it; never wider than 0700
    return path


def names_in(directory: str | os.PathLike[str]) -> list[str]:
    """The names in `directory`; none where it is missing, not a directory or unreadable."""
    try:
        return os.listdir(directory)
    except OSError:
        return []


def write_atomic(path: str | os.PathLike[str], text: str, durable: bool = True) -> None:
    """Write beside (mode 0600), fsync, rename: a crash leaves the old file or the new one, never half."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def write_secret(path: str | os.PathLike[str], text: str) -> None:
    """Create a file readable by its owner only; it never exists with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


class UnsafeFileError(ValueError):
    """A home file that is not a small regular file: a link, a FIFO, a device, too large."""


def read_home_file(path: str | os.PathLike[str], limit: int) -> str:
    """The text of a file oubliette keeps in its home, read safely: a regular file only,
    never through a symbolic link, never blocking (a FIFO is refused, not waited on), at
    most `limit` bytes. FileNotFoundError when it is absent; UnsafeFileError (a
    ValueError) or UnicodeDecodeError when it is not a file oubliette could have written.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError("it is a symbolic link; oubliette never follows one in its home") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"it is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnsafeFileError(f"it is {info.st_size} bytes, more than the {limit} such a file can be")
        chunks, size, want = [], 0, min(info.st_size, limit) + 1  # its size and one byte more: EOF in one read
        while size <= limit:
            chunk = os.read(fd, want)
            chunks.append(chunk)
            size += len(chunk)
            if len(chunk) < want:  # a short read of a regular file: its end
                break
            want = limit + 1 - size
        if size > limit:  # grew while we read
            raise UnsafeFileError(f"it is more than the {limit} bytes such a file can be")
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def user_path(given: str | os.PathLike[str], what: str) -> str:
    """A path the user gave, `~` expanded and made absolute; `~name` of no such user is
    an error naming it (os.path.expanduser leaves it as it was)."""
    path = os.path.expanduser(os.fspath(given))
    if path.startswith("~"):
        shown = os.fspath(given)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise OublietteError(f"cannot find the home directory in the {what} {shown!r}: "
                             f"{shown.split('/', 1)[0]} names no user here (or HOME is not set)",
                             hint="give the path without ~, or with ~ followed by a user that exists")
    return os.path.abspath(path)


def is_read_only_error(exc: OSError) -> bool:
    return exc.errno in _READ_ONLY_ERRORS


class LockBusyError(OublietteError):
    """A lock still held by another command after the caller's bounded wait."""


class FileLock:
    """An exclusive advisory lock (flock) on `path`, shared by the CLI and the MCP server.

    The kernel drops it when the holder dies, so a crash never leaves a stale lock. The
    holder writes who it is into the file (command, pid, since when) and clears it on
    release, so a waiter can say whom it waits for: `on_wait(holder)` is told once, as soon
    as the holder has written its name (at the latest after NAME_AFTER seconds).
    With `timeout`, a wait that long raises LockBusyError naming the holder (the MCP server
    never waits without end). The lock never creates its directory: a project deleted while
    we waited stays deleted. On a read-only home an existing lock file is locked through a
    read-only descriptor (and names no holder).
    """

    NAME_AFTER = 1.0  # seconds of waiting after which the holder is named even if it said nothing
    POLL = 0.02

    def __init__(self, path: str | os.PathLike[str], on_wait: Callable[[str], None] | None = None,
                 timeout: float | None = None) -> None:
        self.path = path
        self.on_wait = on_wait
        self.timeout = timeout
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        except OSError as exc:
            if not is_read_only_error(exc):
                raise
        return os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)

    def __enter__(self) -> FileLock:
        import fcntl
        import time

        fd = self._open()
        try:
            started = time.monotonic()
            named = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                waited = time.monotonic() - started
                if self.timeout is not None and waited >= self.timeout:
                    raise LockBusyError(f"{os.path.basename(os.path.dirname(self.path))} is busy: "
                                        f"{_holder(fd) or 'another oubliette command'} has held it for "
                                        f"{self.timeout:g} s", hint="try again once that command has finished")
                if not named and self.on_wait:
                    holder = _holder(fd)
                    if holder is not None or waited >= self.NAME_AFTER:
                        self.on_wait(holder or "another oubliette command")
                        named = True
                time.sleep(self.POLL)
            _claim(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # no longer the holder: a waiter must not name us
            except OSError:
                pass  # a read-only home's descriptor
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _claim(fd: int) -> None:
    """Write who holds the lock into it (a read-only home: nothing is written)."""
    import json
    import sys
    import time

    command = " ".join(["oubliette", *sys.argv[1:]])[:200]
    since = time.strftime("%H:%M:%S")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"command": command, "pid": os.getpid(), "since": since}).encode(), 0)
    except OSError:
        pass


def _holder(fd: int) -> str | None:
    """Who holds the lock, in words, from what it wrote into the file (bounded, never
    trusted); None while it has written nothing."""
    import json

    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        command, pid, since = str(data["command"])[:200], int(data["pid"]), str(data["since"])[:20]
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    printable = "".join(c if c.isprintable() else "?" for c in command)
    return f"`{printable}` (pid {pid}, since {since})"


def os_error(action: str, exc: OSError, hint: str | None = None) -> OublietteError:
    """An OSError as one of ours: what we were doing, the path and the reason."""
    where = f" {exc.filename}:" if exc.filename else ""
    why = exc.strerror or str(exc)
    if hint is None:
        if exc.errno == errno.ENOSPC:
            hint = "free some disk space and try again; nothing was half-written"
        elif exc.errno is not None and exc.errno in _READ_ONLY_ERRORS:
            hint = "the oubliette home is read-only or not yours: check its mount and permissions"
        else:
            hint = "check the oubliette home's permissions and free space"
    return OublietteError(f"{action}:{where} {why}", hint=hint)
