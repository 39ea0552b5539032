"""Unit-test fixtures: the CLI through Click's runner, and a stateful fake docker."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pytest_subprocess.process_dispatcher import ProcessDispatcher

from oubliette.cli.main import cli
from oubliette.ops import swap
from tests.unit.fakes.docker import FakeDocker
from tests.unit.helpers import write_config

BASE = "registry.example/oubliette-base:latest"
DEV = "registry.example/oubliette-dev:latest"


@pytest.fixture(autouse=True)
def _fake_pids_name_no_process(monkeypatch) -> None:
    """pytest-subprocess numbers its fake processes 1, 2, 3...: real pids, of init and of
    whatever runs here. A call that waits on its child's pidfd (a journalled swap step) then
    waited on that process, 90 s, whenever the count met a live one. Past the kernel's
    largest pid (2**22) no fake names a process, so its exit is never awaited or signalled."""
    monkeypatch.setattr(ProcessDispatcher, "_pid", 1 << 30)


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
