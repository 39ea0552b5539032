"""The home directory's layout and what `oubliette init` creates in it.

Re-running is safe: an existing config and token are kept (the token is never shown
again); `force` rewrites the config after saving the old one as `.bak`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from oubliette.config import config_path, render_default_config
from oubliette.errors import OublietteError
from oubliette.files import write_atomic, write_secret

TOKEN_PREFIX = "oub_"


def data_dir(home: Path) -> Path:
    return home / "data"


def projects_dir(home: Path) -> Path:
    return data_dir(home) / "projects"


def token_path(home: Path) -> Path:
    return data_dir(home) / "admin.token"


@dataclass(frozen=True)
class InitResult:
    home: Path
    config_path: Path
    config_written: bool
    config_backup: Path | None
    token_path: Path
    new_token: str | None  # only set when a token was created by this run


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(32)


def initialize(home: Path, dev: bool, force: bool = False) -> InitResult:
    """Create dirs, config and token; idempotent unless `force` (config only)."""
    try:
        for directory in (home / "config", projects_dir(home), data_dir(home) / "logs"):
            directory.mkdir(parents=True, exist_ok=True)
        config_file = config_path(home)
        backup = None
        written = False
        if force or not config_file.exists():
            if config_file.exists():
                backup = config_file.with_name(config_file.name + ".bak")
                os.replace(config_file, backup)
            write_atomic(config_file, render_default_config(dev))
            written = True
        token_file = token_path(home)
        token = None
        if token_file.exists():
            os.chmod(token_file, 0o600)  # tighten a token someone loosened
        else:
            token = new_token()
            write_secret(token_file, token + "\n")
    except OSError as exc:
        raise OublietteError(f"cannot initialize {home}: {exc}",
                             hint="choose another place with --home or OUBLIETTE_HOME") from None
    return InitResult(home, config_file, written, backup, token_file, token)
