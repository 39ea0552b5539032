"""The home directory's layout, its identity, and what `oubliette init` creates in it.

A home is one installation: its random id (`data/home.id`) labels every container it
creates, so homes sharing an engine never see or touch each other's containers.
Re-running init is safe: an existing config and token are kept (the token is never
shown again); `force` writes the new config first, then keeps the old one as a
numbered backup that is never overwritten.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import os
import re
import stat
from typing import NamedTuple

from oubliette.errors import ConfigError, OublietteError
from oubliette.store.config import config_path, render_default_config
from oubliette.store.files import FILE_MODE, os_error, private_dir, read_home_file, write_atomic, write_secret

TOKEN_PREFIX = "oub_"
TOKEN_RE = re.compile(r"oub_[0-9a-f]{64}")
HOME_ID_RE = re.compile(r"[0-9a-f]{16}")


def data_dir(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, "data")


def projects_dir(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, "data", "projects")


def token_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, "data", "admin.token")


def home_id_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(home, "data", "home.id")


# --- the home's identity -------------------------------------------------------------


def read_home_id(home: str | os.PathLike[str]) -> str | None:
    """This home's id, or None when it has none yet; a damaged id file is an error."""
    path = home_id_path(home)
    try:
        text = read_home_file(path, 4096).strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _damaged_id(path, str(exc)) from None
    if not HOME_ID_RE.fullmatch(text):
        raise _damaged_id(path, "expected 16 hex digits")
    return text


def ensure_home_id(home: str | os.PathLike[str]) -> str:
    """This home's id, created on first use (by init or any command that needs one)."""
    found = read_home_id(home)
    if found:
        return found
    import secrets  # not at the top: `container list` reads the id on every call, never makes one

    try:
        private_dir(data_dir(home))
        write_secret(home_id_path(home), secrets.token_hex(8) + "\n")
    except FileExistsError:  # another command created it a moment ago
        pass
    except OSError as exc:
        raise os_error("cannot create this home's id", exc) from None
    return read_home_id(home) or ""


def _damaged_id(path: str, why: str) -> ConfigError:
    return ConfigError(
        f"this home's id file {path} is damaged: {why}",
        hint="restore it from a backup: it names this home's containers on the engine; remove it only if "
             "you accept that existing containers of this home are no longer recognised")


# --- the admin token -----------------------------------------------------------------


def check_token_file(path: str) -> os.stat_result | None:
    """lstat the token: None when absent; a symlink or non-regular file is refused."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error("cannot read the admin token", exc) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise OublietteError(f"the admin token {path} is {what}; refusing to use it",
                             hint=f"remove {path} and run `oubliette init` to create a new token")
    return info


def read_token(home: str | os.PathLike[str]) -> str | None:
    """The admin token, or None when init has not made one; unsafe files are refused."""
    path = token_path(home)
    info = check_token_file(path)
    if info is None:
        return None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise OublietteError(f"the admin token {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o})",
                             hint=f"run `chmod 600 {path}`, or `oubliette init`, which tightens it")
    try:
        token = read_home_file(path, 4096).strip()
    except (OSError, ValueError) as exc:
        raise OublietteError(f"cannot read the admin token {path}: {exc}",
                             hint=f"remove {path} and run `oubliette init` to create a new token") from None
    if not TOKEN_RE.fullmatch(token):
        raise OublietteError(f"the admin token {path} is damaged",
                             hint=f"remove {path} and run `oubliette init` to create a new token")
    return token


def _tighten(path: str) -> None:
    """Make an existing file 0600 without following a link swapped in meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


# --- init ----------------------------------------------------------------------------


class InitResult(NamedTuple):
    home: str
    config_path: str
    config_written: bool
    config_backup: str | None
    token_path: str
    new_token: str | None  # only set when a token was created by this run


def new_token() -> str:
    import secrets

    return TOKEN_PREFIX + secrets.token_hex(32)


def initialize(home: str | os.PathLike[str], dev: bool, force: bool = False) -> InitResult:
    """Create dirs, config, token and home id; idempotent unless `force` (config only)."""
    home = os.fspath(home)
    try:
        for directory in (home, os.path.join(home, "config"), data_dir(home), projects_dir(home),
                          os.path.join(data_dir(home), "logs")):
            private_dir(directory)
            os.chmod(directory, 0o700)  # a home made by an older version or under a loose umask
        config_file = config_path(home)
        backup = None
        written = False
        if force or not os.path.exists(config_file):
            backup = _write_config(config_file, render_default_config(dev))
            written = True
        else:
            _tighten(config_file)  # one the user wrote under a loose umask
        token_file = token_path(home)
        token = None
        if check_token_file(token_file) is not None:
            _tighten(token_file)
        else:
            token = new_token()
            write_secret(token_file, token + "\n")
    except OSError as exc:
        raise os_error(f"cannot initialize {home}", exc,
                       hint="free some disk space, or choose another place with --home or OUBLIETTE_HOME") from None
    ensure_home_id(home)
    return InitResult(home, config_file, written, backup, token_file, token)


def _write_config(config_file: str, text: str) -> str | None:
    """Write the new config beside, keep the old one as a fresh numbered backup, then swap.

    The config never goes missing: the backup is a hard link made before the rename,
    and a failed write (full disk) leaves the old config exactly as it was.
    """
    directory, name = os.path.split(config_file)
    tmp = os.path.join(directory, f".{name}.new")
    write_atomic(tmp, text)
    backup = None
    try:
        if os.path.exists(config_file):
            backup = _link_backup(config_file)
        os.replace(tmp, config_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return backup


def _link_backup(config_file: str) -> str:
    for number in range(10_000):
        candidate = config_file + (".bak" if number == 0 else f".bak.{number}")
        try:
            os.link(config_file, candidate)
            return candidate
        except FileExistsError:
            continue
    raise OSError(f"no free backup name beside {config_file}")
