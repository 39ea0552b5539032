"""The model's names and their inverses, and how an engine kind maps them."""

from __future__ import annotations

import pytest

from oubliette.engines.kinds import ENGINES
from oubliette.model import aside_name, container_name, engine_name, id_prefix, project_of, volume_name

PROJECT = "proj_0123456789ab"


def test_every_name_made_for_a_project_leads_back_to_it():
    for name in (container_name(PROJECT), aside_name(PROJECT), volume_name(PROJECT)):
        assert project_of(name) == PROJECT
    assert project_of("oubliette-proj_0123") is None and project_of("someone-elses") is None


def test_docker_podman_and_apple_take_the_names_as_they_are_a_cluster_its_own_way():
    for kind in ENGINES.values():
        expected = "oubliette-proj-0123456789ab" if kind.cluster else "oubliette-proj_0123456789ab"
        assert engine_name(container_name(PROJECT), kind.name_style) == expected


@pytest.mark.parametrize("name, mapped", [
    ("oubliette-proj_0123456789ab", "oubliette-proj-0123456789ab"),
    ("registry.example/oubliette-dev:latest", "registry-example-oubliette-dev-latest"),
    ("-A_b-", "a-b"),
    ("x" * 70, "x" * 63),
    ("___", "x"),
])
def test_a_dns_engine_gets_lower_case_letters_digits_and_dashes_at_most_63(name, mapped):
    assert engine_name(name, "dns") == mapped


@pytest.mark.parametrize("ref, kind, digits, expected", [
    ("ab12", "proj", 12, "proj_ab12"),
    ("proj_ab12", "proj", 12, "proj_ab12"),
    ("proj_", "proj", 12, "proj_"),
    (" 0123 ", "sess", 8, "sess_0123"),
    ("0123456789", "sess", 8, None),
    ("web", "proj", 12, None),
    ("proj_XYZ", "proj", 12, None),
])
def test_id_prefixes_are_read_one_way(ref, kind, digits, expected):
    assert id_prefix(ref, kind, digits) == expected
