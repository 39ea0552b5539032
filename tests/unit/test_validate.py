"""Nothing a user types can become an engine flag or a malformed reference."""

from __future__ import annotations

import pytest

from oubliette.errors import InvalidReferenceError
from oubliette.validate import check_argv_safe, check_image_reference, image_reference_problem, is_valid_type_name


@pytest.mark.parametrize("ref", [
    "alpine",
    "alpine:3.20",
    "ghcr.io/hyphagroup/oubliette-dev:latest",
    "localhost:5000/oubliette-base:latest",
    "my-local-image:latest",
    "registry.example.com:8443/team/ml_agent__x:v2.1-rc",
    "[::1]:5000/img:tag",
    "busybox@sha256:" + "a" * 64,
    "ghcr.io/x/y:1@sha256:" + "0" * 64,
])
def test_valid_references(ref):
    assert image_reference_problem(ref) is None
    assert check_image_reference(ref) == ref


@pytest.mark.parametrize("ref, fragment", [
    ("", "empty"),
    ("-v", "starts with '-'"),
    ("--privileged", "starts with '-'"),
    ("a b", "whitespace"),
    ("a\tb", "whitespace"),
    ("Alpine", "must be lowercase"),
    ("x:latést", "non-ASCII"),
    ("x:١٢", "non-ASCII"),
    ("org/App:1", "must be lowercase"),
    ("a::b", "expected name"),
    ("a:", "expected name"),
    ("a@sha256:xyz", "expected name"),
    ("/abs/path", "expected name"),
    ("x" * 600, "expected name"),
])
def test_invalid_references(ref, fragment):
    assert fragment in image_reference_problem(ref)
    with pytest.raises(InvalidReferenceError):
        check_image_reference(ref)


def test_type_names():
    assert is_valid_type_name("python-ml") and is_valid_type_name("a.b_c-1")
    for bad in ("", "-x", "Dev", "a b", ".x", "x/y", 3):
        assert not is_valid_type_name(bad)


def test_argv_safe():
    assert check_argv_safe("proj_0123456789ab", "id") == "proj_0123456789ab"
    for bad in ("", "-rf", "--all", "a b", "a\0b"):
        with pytest.raises(InvalidReferenceError):
            check_argv_safe(bad, "id")
