"""How engines word their failures, and how oubliette reads them: each engine's texts
(lower-case substrings per kind of failure, and the words of its hints), and one
classification into the error family, by substring, since messages vary across versions."""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
from typing import NamedTuple

from oubliette.engines import process
from oubliette.errors import (
    AccessDeniedError,
    EngineError,
    EngineUnavailableError,
    ImageNotFoundError,
    RegistryUnreachableError,
)

_NOISE_PREFIXES = ("Error response from daemon: ", "docker: ", "Error: ")


def last_line(text: str) -> str:
    """The last non-empty line of an engine's stderr, without its boilerplate prefixes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Run '", "See '"))]
    line = lines[-1] if lines else ""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _NOISE_PREFIXES:
            if line.startswith(prefix):
                line, stripped = line[len(prefix):], True
    return line


class ErrorTexts(NamedTuple):
    """One engine's error wording: lowercase substrings, and the words of its hints."""

    not_running: tuple[str, ...]
    denied: tuple[str, ...]
    unreachable: tuple[str, ...]
    not_found: tuple[str, ...]
    not_running_message: str
    start_hint: str
    pull_command: str  # e.g. "docker pull {image}"
    login_command: str
    exec_refused: tuple[str, ...] = ()  # `exec` refused before running: no such container, not running
    run_refused: tuple[str, ...] = ()  # `run --pull=never` refused: the name is taken, the image is not here

    def refuses_run(self, stderr: str) -> bool:
        """Did `run --pull=never` fail because the name is taken or the image is not here?"""
        text = stderr.lower()
        return any(s in text for s in self.run_refused)

    def refuses_exec(self, stderr: str) -> bool:
        """Does this read as an engine's answer to an `exec` it did not run (or could not reach)?"""
        first = stderr.strip().split("\n", 1)[0].lower()
        return any(s in first for s in (*self.exec_refused, *self.not_running))


def classify_failure(result: process.Result, texts: ErrorTexts, image: str | None = None) -> EngineError:
    """Map a failed call to a classified error by substring: messages vary across versions.

    Denied is checked before not-found, because Docker Hub says "pull access denied
    ... repository does not exist or may require 'docker login'".
    """
    detail = last_line(result.stderr) or f"exit code {result.returncode}"
    call = _CallFacts(result.argv, result.returncode, result.stderr)
    text = result.stderr.lower()
    if any(s in text for s in texts.not_running):
        return EngineUnavailableError(texts.not_running_message, hint=texts.start_hint, detail=detail, **call._asdict())
    if image is None:
        return EngineError(f"`{' '.join(result.argv[:3])}` failed: {detail}", detail=detail, **call._asdict())
    manual = f"try `{texts.pull_command.format(image=image)}` to see the engine's own error"
    if any(s in text for s in texts.denied):
        return AccessDeniedError(f"access denied pulling {image}: {detail}", detail=detail, **call._asdict(),
                                 hint=f"log in with `{texts.login_command}` if the registry needs credentials, "
                                      f"then {manual}")
    if any(s in text for s in texts.unreachable):
        return RegistryUnreachableError(f"cannot reach the registry for {image}: {detail}",
                                        hint=f"check the network, then {manual}", detail=detail, **call._asdict())
    if any(s in text for s in texts.not_found):
        return ImageNotFoundError(f"image not found: {image}: {detail}",
                                  hint=f"check the image reference in the config, then {manual}",
                                  detail=detail, **call._asdict())
    return EngineError(f"pulling {image} failed: {detail}", hint=f"check the network, then {manual}",
                       detail=detail, **call._asdict())


class _CallFacts(NamedTuple):
    """The failed call an engine error carries, for debugging."""

    argv: list[str]
    returncode: int
    stderr: str
