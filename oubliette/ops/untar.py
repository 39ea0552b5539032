"""Extract a tar stream that a container produced, as `workspace pull` receives it.

The container controls every byte of the stream, so nothing in it is trusted: the
archive is read here, not by the host's `tar` (whose guards differ between GNU tar and
macOS's bsdtar), and only what stays inside the destination is written:

- regular files, directories, and symbolic and hard links whose targets stay inside it;
- never through a link: every directory on the way is opened without following links,
  whether the link was on disk already or came earlier in the same stream;
- device nodes, FIFOs, absolute names and `..` are skipped, setuid, setgid and sticky
  bits dropped, each with a warning naming the member; ownership is never copied;
- headers are bounded (a long name or a pax record over a megabyte is an error), so no
  stream can make us hold more than a block and a name in memory.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import NamedTuple, Protocol

BLOCK = 512
HEADER_DATA_MAX = 1024 * 1024  # a GNU long name or a pax header: names are short, this is plenty
_REGULAR = (b"0", b"\0", b"7")
_SKIPPED_KINDS = {b"3": "a character device", b"4": "a block device", b"6": "a FIFO", b"S": "a sparse file"}
_FATAL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)  # the host cannot take more: stop
MTIME_MAX = 2**33  # the year 2242; a time beyond (or not a number) is written as the epoch
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class TarFormatError(ValueError):
    """The stream is not a tar archive (or is cut short)."""


class Member(NamedTuple):
    name: str
    kind: bytes  # the typeflag
    mode: int
    mtime: float
    size: int
    linkname: str


class Extracted(NamedTuple):
    files: int
    warnings: list[str]


def extract(stream: Readable, destination: str) -> Extracted:
    """Extract `stream` into the existing directory `destination`; OSError for what the
    host refuses (a full disk, a read-only directory), TarFormatError for a broken stream."""
    root = os.open(destination, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))  # the user's choice
    try:
        return _Extractor(root).run(_Reader(stream))
    finally:
        os.close(root)


# --- reading -----------------------------------------------------------------------------


class _Reader:
    """The members of a tar stream, one header (and its long name or pax records) at a time."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream

    def exact(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = self.stream.read(count - len(data))
            if not chunk:
                raise TarFormatError("the archive ends in the middle of a member")
            data += chunk
        return bytes(data)

    def skip(self, size: int) -> None:
        for _ in self.chunks(size):
            pass

    def chunks(self, size: int) -> Iterator[bytes]:
        """The member's data in pieces, then the padding to the next block, read and dropped."""
        left = size
        while left:
            piece = self.exact(min(left, 65536))
            left -= len(piece)
            yield piece
        padding = -size % BLOCK
        if padding:
            self.exact(padding)

    def members(self) -> Iterator[Member]:
        pax: dict[str, str] = {}
        long_name = long_link = None
        while True:
            header = self.stream.read(BLOCK)
            if len(header) < BLOCK:
                header += self.exact(BLOCK - len(header)) if header else b""
            if not header or header == bytes(BLOCK):
                return  # the end-of-archive block (or a stream that just ends)
            member = _header(header)
            if member.kind in (b"x", b"g", b"L", b"K"):
                if member.size > HEADER_DATA_MAX:
                    raise TarFormatError(f"a header record of {member.size} bytes (at most {HEADER_DATA_MAX})")
                data = b"".join(self.chunks(member.size))
                if member.kind == b"x":
                    pax = _pax(data)
                elif member.kind == b"L":
                    long_name = _text(data.rstrip(b"\0"))
                elif member.kind == b"K":
                    long_link = _text(data.rstrip(b"\0"))
                continue  # "g": global records apply to nothing we keep
            member = member._replace(
                name=pax.get("path", long_name or member.name),
                linkname=pax.get("linkpath", long_link or member.linkname),
                size=_pax_size(pax, member.size),
                mtime=_mtime(_pax_number(pax, "mtime", member.mtime)))
            pax, long_name, long_link = {}, None, None
            yield member


def _header(block: bytes) -> Member:
    stored = _number(block[148:156])
    if stored not in (sum(block[:148]) + 256 + sum(block[156:]),
                      sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])):
        raise TarFormatError("a header's checksum does not match: this is not a tar archive")
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0":  # POSIX: a prefix for long names
        prefix = block[345:500].split(b"\0", 1)[0]
        name = prefix + b"/" + name if prefix else name
    kind = block[156:157]
    return Member(_text(name), kind, _number(block[100:108]), _mtime(_number(block[136:148])),
                  _number(block[124:136]) if kind not in (b"1", b"2", b"5") else 0,
                  _text(block[157:257].split(b"\0", 1)[0]))


def _number(field: bytes) -> int:
    """An octal field, or GNU's base-256 for large values."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise TarFormatError("a negative number in a header")
        return value
    digits = field.replace(b"\0", b" ").strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise TarFormatError(f"a header field that is not a number: {digits[:20]!r}") from None


def _pax(data: bytes) -> dict[str, str]:
    """Pax extended records: `LENGTH KEY=VALUE\\n` each."""
    records, at = {}, 0
    while at < len(data):
        space = data.find(b" ", at)
        try:
            length = int(data[at:space])
        except ValueError:
            raise TarFormatError("a malformed pax record") from None
        if space < 0 or length <= 0 or at + length > len(data):
            raise TarFormatError("a malformed pax record")
        key, _, value = data[space + 1:at + length - 1].partition(b"=")
        records[_text(key)] = _text(value)
        at += length
    return records


def _pax_number(pax: dict[str, str], key: str, default: float) -> float:
    try:
        return float(pax[key]) if key in pax else default
    except ValueError:
        raise TarFormatError(f"a pax {key} that is not a number") from None


def _pax_size(pax: dict[str, str], default: int) -> int:
    size = _pax_number(pax, "size", default)
    if not (0 <= size < 2**63 and size == int(size)):
        raise TarFormatError("a pax size that is not a byte count")
    return int(size)


def _mtime(value: float) -> float:
    return float(value) if 0 <= value < MTIME_MAX else 0.0


def _text(data: bytes) -> str:
    return os.fsdecode(data)


# --- writing -----------------------------------------------------------------------------


class _Extractor:
    def __init__(self, root: int) -> None:
        self.root = root
        self.warnings: list[str] = []
        self.files: set[tuple[str, ...]] = set()  # regular files written: the only hard-link targets
        self.made_dirs: dict[tuple[str, ...], tuple[int, float]] = {}  # mode and mtime, set at the end

    def run(self, reader: _Reader) -> Extracted:
        for member in reader.members():
            parts = self._parts(member)
            if parts is None or not self._wanted(member, parts):
                reader.skip(member.size)
                continue
            self._write(member, parts, reader)
        self._finish_dirs()
        return Extracted(len(self.files), self.warnings)

    def warn(self, name: str, why: str) -> None:
        self.warnings.append(f"{_shown(name)}: {why}")

    def _parts(self, member: Member) -> tuple[str, ...] | None:
        """The member's path as parts below the destination, or None (warned) if it leaves it."""
        if member.name.startswith("/"):
            self.warn(member.name, "skipped: an absolute name")
            return None
        if "\0" in member.name or "\0" in member.linkname:
            self.warn(member.name, "skipped: a NUL character in its name or link")
            return None
        parts = tuple(part for part in member.name.split("/") if part not in ("", "."))
        if ".." in parts:
            self.warn(member.name, "skipped: a name with '..'")
            return None
        return parts

    def _wanted(self, member: Member, parts: tuple[str, ...]) -> bool:
        if member.kind in _SKIPPED_KINDS:
            self.warn(member.name, f"skipped: {_SKIPPED_KINDS[member.kind]}")
            return False
        if member.kind not in (*_REGULAR, b"1", b"2", b"5"):
            self.warn(member.name, f"skipped: an entry of unknown type {member.kind!r}")
            return False
        if not parts:
            return False  # `./`: the destination itself keeps its own mode and times
        if member.mode & 0o7000 and member.kind != b"2":
            self.warn(member.name, "setuid, setgid or sticky bit dropped")
        return True

    def _write(self, member: Member, parts: tuple[str, ...], reader: _Reader) -> None:
        """Write one member; one that cannot be written safely (or that this host cannot
        name) is skipped with a warning, and a full or read-only disk stops the pull."""
        parent = self.root
        try:
            parent = self._open_parent(parts[:-1])
            if member.kind in _REGULAR:
                fd = self._create(parent, parts[-1])
                self._fill(fd, member, reader)  # the data is read: nothing after this is skipped
                self.files.add(parts)
                return
            if member.kind == b"5":
                self._directory(parent, parts, member)
            elif member.kind == b"2":
                self._symlink(parent, parts, member)
            else:
                self._hardlink(parent, parts, member)
            reader.skip(member.size)
        except _Refused as why:
            self.warn(member.name, f"skipped: {why}")
            reader.skip(member.size)
        except OSError as exc:
            if exc.errno in _FATAL:
                raise
            self.warn(member.name, f"skipped: {exc.strerror or exc}")
            reader.skip(member.size)
        finally:
            if parent != self.root:
                os.close(parent)

    def _open_parent(self, parts: tuple[str, ...]) -> int:
        """The directory `parts` below the destination, made where missing, never reached
        through a symbolic link; _Refused when something else is in the way."""
        fd = self.root
        try:
            for depth, part in enumerate(parts, 1):
                try:
                    next_fd = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    self.made_dirs.setdefault(parts[:depth], (0o755, 0.0))
                    next_fd = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise _Refused(f"{'/'.join(parts[:depth])} is not a directory here "
                                       "(a symbolic link or a file), so nothing is written through it") from None
                    raise
                if fd != self.root:
                    os.close(fd)
                fd = next_fd
        except BaseException:
            if fd != self.root:
                os.close(fd)
            raise
        return fd

    def _clear(self, parent: int, name: str) -> None:
        """Remove what holds `name` (a file or a link, as tar replaces them); a directory stays."""
        try:
            info = os.lstat(name, dir_fd=parent)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            raise _Refused("a directory of that name is here")
        os.unlink(name, dir_fd=parent)

    def _directory(self, parent: int, parts: tuple[str, ...], member: Member) -> None:
        try:
            os.mkdir(parts[-1], 0o700, dir_fd=parent)
        except FileExistsError:
            info = os.lstat(parts[-1], dir_fd=parent)
            if not stat.S_ISDIR(info.st_mode):
                raise _Refused("something other than a directory is here") from None
            if parts not in self.made_dirs:
                return  # a directory that was here before keeps its mode and times
        self.made_dirs[parts] = (member.mode & 0o777, member.mtime)

    def _create(self, parent: int, name: str) -> int:
        """A new file in place of whatever file or link had the name (never written through)."""
        self._clear(parent, name)
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                       0o600, dir_fd=parent)

    @staticmethod
    def _fill(fd: int, member: Member, reader: _Reader) -> None:
        try:
            for piece in reader.chunks(member.size):
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view):]
            os.fchmod(fd, member.mode & 0o777)
            os.utime(fd, (member.mtime, member.mtime))
        except OSError as exc:  # the data was read in part: the stream cannot go on
            raise OSError(exc.errno if exc.errno in _FATAL else errno.EIO, exc.strerror, member.name) from None
        finally:
            os.close(fd)

    def _symlink(self, parent: int, parts: tuple[str, ...], member: Member) -> None:
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join("/".join(parts[:-1]), target))
        if not target or target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _Refused(f"a link to {_shown(target)}, outside the destination")
        self._clear(parent, parts[-1])
        os.symlink(target, parts[-1], dir_fd=parent)

    def _hardlink(self, parent: int, parts: tuple[str, ...], member: Member) -> None:
        target = tuple(part for part in member.linkname.split("/") if part not in ("", "."))
        if target not in self.files:
            raise _Refused(f"a hard link to {_shown(member.linkname)}, which is no file this pull wrote")
        source = self._open_parent(target[:-1])
        try:
            self._clear(parent, parts[-1])
            os.link(target[-1], parts[-1], src_dir_fd=source, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            if source != self.root:
                os.close(source)
        self.files.add(parts)

    def _finish_dirs(self) -> None:
        """Directories made here get their mode and time last: filling them changed both."""
        for parts, (mode, mtime) in sorted(self.made_dirs.items(), key=lambda item: -len(item[0])):
            try:
                parent = self._open_parent(parts[:-1])
            except (_Refused, OSError):
                continue
            try:
                fd = os.open(parts[-1], _NOFOLLOW_DIR, dir_fd=parent)
                try:
                    os.fchmod(fd, mode)
                    if mtime:
                        os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
            except OSError:
                pass
            finally:
                if parent != self.root:
                    os.close(parent)


class _Refused(Exception):
    """One member cannot be written safely; it is skipped with a warning."""


def _shown(name: str) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in name)
    return printable if len(printable) <= 200 else printable[:200] + "..."

