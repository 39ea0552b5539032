"""The one error family: everything below the CLI raises these, the CLI prints them.

Each error carries a one-line message, an optional hint (what to try next) and the
exit code the CLI uses. Nothing here prints or exits.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_ENGINE = 3
EXIT_INTERRUPTED = 130
MESSAGE_MAX = 1000  # characters: a message echoes what it was given, which may be megabytes


class OublietteError(Exception):
    """Base of every error a user can cause or meet; `hint` says what to do next."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        message = shorten(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else shorten(hint)


def shorten(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text`, or its start and how long it was, so one error stays one readable line."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters in all)"


class ConfigError(OublietteError):
    """The config file cannot be read, parsed or validated."""


class UnknownTypeError(OublietteError):
    """A container type that the config does not define."""


class InvalidReferenceError(OublietteError):
    """An id, type name or image reference that must not reach an engine's argv."""


class NotFoundError(OublietteError):
    """An unknown or ambiguous project or session id."""


class ConflictError(OublietteError):
    """The operation is refused in the current state (active sessions, no container)."""


# --- engine errors -----------------------------------------------------------------


class EngineError(OublietteError):
    """An engine command failed; `detail` is the engine's own last stderr line, and
    `argv`, `returncode` and `stderr` are the call that produced it (for debugging)."""

    def __init__(self, message: str, hint: str | None = None, detail: str = "",
                 argv: list[str] | None = None, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message, hint)
        self.detail = detail
        self.argv = argv or []
        self.returncode = returncode
        self.stderr = stderr


class EngineUnavailableError(EngineError):
    """No usable engine: the binary is missing or its daemon/service is not running."""

    exit_code = EXIT_NO_ENGINE


class EngineOutputError(EngineError):
    """An engine printed something oubliette cannot read (another version, a shim)."""


class PullError(EngineError):
    """A pull failed; subclasses say why, so refresh can decide on the local image."""


class ImageNotFoundError(PullError):
    """The registry (or the local store) does not have this image."""


class AccessDeniedError(PullError):
    """The registry refused: credentials missing or wrong."""


class RegistryUnreachableError(PullError):
    """The registry could not be reached: DNS, refused connection, timeout."""
