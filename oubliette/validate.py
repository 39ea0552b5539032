"""Checks for every user-supplied string that ends up in an engine's argv.

A value that passes these can never be read by an engine as a flag (no leading `-`,
no whitespace) and has the shape the engine expects, so errors are ours and clear
rather than the engine's and cryptic.
"""


# No `from __future__ import annotations` here: typing compiles every NamedTuple field
# written as a string (~5 us a field, on every command's start).
import re
from typing import NamedTuple

from oubliette.errors import InvalidReferenceError

TYPE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")

# Docker's reference grammar (distribution/reference), lightly simplified:
# [domain[:port]/]path[:tag][@digest], path components lowercase.
_DOMAIN_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"  # the same language, ~0.3 ms less to compile
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REF_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII
)
_IMAGE_EXAMPLE = "name[:tag][@digest], e.g. ghcr.io/org/image:latest"


def is_valid_type_name(name: object) -> bool:
    """True for a container type name: `[a-z0-9][a-z0-9._-]*`."""
    return isinstance(name, str) and TYPE_NAME_RE.fullmatch(name) is not None


def image_reference_problem(ref: object) -> str | None:
    """Why `ref` is not a usable image reference, or None if it is one."""
    if not isinstance(ref, str):
        return f"expected a string, got {type(ref).__name__}"
    if not ref:
        return "it is empty"
    if any(ch.isspace() for ch in ref):
        return "it contains whitespace"
    if ref.startswith("-"):
        return "it starts with '-'"
    if not ref.isascii():
        return "it contains non-ASCII characters (references are ASCII only)"
    if any(ch.isupper() for ch in _repository(ref)):
        return "the repository name must be lowercase"
    if len(ref) > 512 or IMAGE_REF_RE.fullmatch(ref) is None:
        return f"expected {_IMAGE_EXAMPLE}"
    return None


class Reference(NamedTuple):
    """An image reference in its parts: `host:5000/team/app:tag@sha256:...`."""

    domain: str | None  # `host:5000`; None when the reference names none (the engine's default)
    path: str  # `team/app`
    tag: str | None
    digest: str | None  # `sha256:...`

    @property
    def repository(self) -> str:
        """`host:5000/team/app`: the name without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path


def split_reference(ref: str) -> Reference:
    """The one reading of a reference's parts: a first component with `.` or `:`, or
    `localhost`, is a registry; the tag follows the last path component's `:`."""
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    domain = first if slash and ("." in first or ":" in first or first == "localhost") else None
    path = rest if domain else name
    head, _, last = path.rpartition("/")
    last, colon, tag = last.partition(":")
    return Reference(domain, f"{head}/{last}" if head else last, tag if colon else None, digest if at else None)


def _repository(ref: str) -> str:
    """The path of a reference: no domain, tag or digest (`Host:5/a/b:t` -> `a/b`)."""
    return split_reference(ref).path


def check_image_reference(ref: str, where: str = "image reference") -> str:
    """Return `ref` if it is a sane image reference, else raise naming `where`."""
    problem = image_reference_problem(ref)
    if problem:
        raise InvalidReferenceError(f"invalid {where} {ref!r}: {problem}")
    return ref


def project_name_problem(name: str) -> str | None:
    """Why `name` cannot be a project name, or None: 1-200 printable characters, no
    control, format (bidi overrides, zero-width) or line-separator characters."""
    if not name or len(name) > 200:
        return "use 1 to 200 characters"
    if not name.isprintable():
        bad = next(ch for ch in name if not ch.isprintable())
        return f"it contains the unprintable character U+{ord(bad):04X}"
    return None


def check_argv_safe(value: str, what: str = "container name") -> str:
    """Refuse a value an engine could parse as an option (container names, ids)."""
    if not value or value.startswith("-") or any(ch.isspace() or ch == "\0" for ch in value):
        raise InvalidReferenceError(f"invalid {what} {value!r}")
    return value
