"""Small file primitives: private directories and files, atomic writes, the per-project lock.

Everything oubliette writes in its home is private to the user whatever the umask:
directories 0700, files 0600. Modes are given at creation (never widened afterwards),
so no file exists for a moment with a wider mode.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from oubliette.errors import OublietteError

DIR_MODE = 0o700
FILE_MODE = 0o600
_READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (pathlib's parents get 0777)."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            pass
        else:
            os.chmod(directory, DIR_MODE)  # the umask may have narrowed it; never wider than 0700
    return path


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write beside (mode 0600), fsync, rename: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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


def write_secret(path: Path, text: str) -> None:
    """Create a file readable by its owner only; it never exists with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def is_read_only_error(exc: OSError) -> bool:
    return exc.errno in _READ_ONLY_ERRORS


class FileLock:
    """An exclusive advisory lock (flock) on `path`, shared by the CLI and the MCP server.

    The kernel drops it when the holder dies, so a crash never leaves a stale lock.
    `on_wait` is told once when someone else holds it and we are about to wait. The
    lock never creates its directory: a project deleted while we waited stays deleted.
    On a read-only home an existing lock file is locked through a read-only descriptor.
    """

    def __init__(self, path: Path, on_wait: Callable[[], None] | None = None) -> None:
        self.path = path
        self.on_wait = on_wait
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

        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self.on_wait:
                    self.on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


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
