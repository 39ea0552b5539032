"""Unit-test fixtures: the CLI through Click's runner, and a stateful fake docker."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from oubliette.cli.main import cli
from oubliette.ops import swap
from tests.unit.fakes.docker import FakeDocker
from tests.unit.helpers import write_config

BASE = "registry.example/oubliette-base:latest"
DEV = "registry.example/oubliette-dev:latest"


@pytest.fixture
def docker(fp, monkeypatch, oubliette_home) -> FakeDocker:
    """A fake engine with the two default images in its registry and a matching config."""
    monkeypatch.setattr(swap, "START_WINDOWS", False)
    engine = FakeDocker(fp, monkeypatch)
    engine.push(BASE, seed="base-1")
    engine.push(DEV, seed="dev-1")
    write_config(oubliette_home, {"containers": {"base": BASE, "dev": DEV}})
    return engine


@pytest.fixture
def run():
    """Invoke `oubliette --runtime docker ARGS...` in-process."""
    runner = CliRunner()

    def invoke(*args: str, runtime: str | None = "docker", **kwargs):
        prefix = ["--runtime", runtime] if runtime else []
        return runner.invoke(cli, [*prefix, *args], **kwargs)

    return invoke
