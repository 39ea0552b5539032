"""The container workflows written once and run on each engine's fake: docker, podman
(stateful, in podman's own words) and Apple's CLI (both JSON generations), as the e2e
suite runs them on the real engines. Each fake sits behind one interface, `Fake`."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from click.testing import CliRunner

from oubliette.cli.main import cli
from oubliette.ops import swap
from tests.unit.fakes.apple import AppleEngine, install_fake
from tests.unit.fakes.docker import FakeDocker
from tests.unit.fakes.podman import FakePodman
from tests.unit.helpers import assert_clean_error, write_config

DEV = "registry.example/oubliette-dev:latest"


class Fake(Protocol):
    """What a scenario asks of an engine's fake."""

    runtime: str  # what --runtime takes

    def publish(self, ref: str) -> str: ...  # a new image of `ref` in the registry; its id
    def break_image(self, ref: str) -> None: ...  # its containers exit right after they start
    def states(self) -> dict[str, str]: ...  # container name -> "running" | "stopped"
    def image_of(self, name: str) -> str: ...  # the id of the image a container runs


@dataclass
class EngineFake:
    """FakeDocker and FakePodman behind `Fake`."""

    engine: FakeDocker
    runtime: str

    def publish(self, ref: str) -> str:
        return self.engine.push(ref)

    def break_image(self, ref: str) -> None:
        self.engine.broken_images.add(ref)

    def states(self) -> dict[str, str]:
        return {name: "running" if c.state == "running" else "stopped" for name, c in self.engine.containers.items()}

    def image_of(self, name: str) -> str:
        return self.engine.containers[name].image_id


@dataclass
class AppleFake:
    """Apple's fake CLI behind `Fake`."""

    engine: AppleEngine
    runtime: str = "apple"

    def publish(self, ref: str) -> str:
        digest = "sha256:" + hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        self.engine.update(registry={ref: digest})
        return digest

    def break_image(self, ref: str) -> None:
        state = self.engine.state
        self.engine.update(broken=[*state.get("broken", []), state["registry"][ref]])

    def states(self) -> dict[str, str]:
        return {name: c["state"] for name, c in self.engine.containers().items()}

    def image_of(self, name: str) -> str:
        return self.engine.containers()[name]["digest"]


@pytest.fixture(params=["docker", "podman", "apple-0.9", "apple-1.2"])
def fake(request: Any, fp: Any, monkeypatch: Any, tmp_path: Any, oubliette_home: Any) -> Iterator[Fake]:
    monkeypatch.setattr(swap, "START_WINDOWS", False)
    write_config(oubliette_home, {"containers": {"dev": DEV}})
    if request.param in ("docker", "podman"):
        engine = (FakeDocker if request.param == "docker" else FakePodman)(fp, monkeypatch)
        chosen: Fake = EngineFake(engine, request.param)
    else:
        fp.allow_unregistered(True)  # the Apple fake is a real program
        fp.pass_command([fp.any()])
        monkeypatch.setenv("APPLE_CONTAINER_BINARY", str(install_fake(tmp_path / "fake-bin")))
        monkeypatch.setenv("FAKE_CONTAINER_STATE", str(tmp_path / "apple-state.json"))
        monkeypatch.setenv("FAKE_CONTAINER_VERSION", "0.9.0" if request.param == "apple-0.9" else "1.2.2")
        chosen = AppleFake(AppleEngine(tmp_path / "apple-state.json"))
    chosen.publish(DEV)
    yield chosen


@pytest.fixture
def oubliette(fake: Fake):
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["--runtime", fake.runtime, *args])


def started(oubliette, fake: Fake) -> tuple[str, str]:
    project_id = oubliette("project", "create", f"p-{uuid.uuid4().hex[:6]}").stdout.strip()
    result = oubliette("container", "start", project_id)
    assert result.exit_code == 0, result.output
    return project_id, f"oubliette-{project_id}"


def test_start_runs_one_container_and_a_second_start_leaves_it(oubliette, fake):
    project_id, name = started(oubliette, fake)
    assert fake.states() == {name: "running"}
    again = oubliette("container", "start", project_id)
    assert again.exit_code == 0 and "already running" in again.stdout
    listed = oubliette("container", "list", "--json")
    assert '"orphan": false' in listed.stdout and project_id in listed.stdout


def test_a_start_looks_at_the_new_container_after_its_engines_own_window(oubliette, fake, monkeypatch):
    """Docker registers a dead start up to ~77 ms late, so its look waits 35 ms; podman's look
    reads the death at once (engines/kinds.py), so a podman start does not wait at all."""
    monkeypatch.setattr(swap, "START_WINDOWS", True)
    slept: list[float] = []
    sleep = time.sleep
    monkeypatch.setattr(swap.time, "sleep", lambda seconds: (slept.append(seconds), sleep(seconds)))
    started(oubliette, fake)
    assert slept == ([] if fake.runtime == "podman" else [0.035])


def test_stop_removes_the_container(oubliette, fake):
    project_id, _ = started(oubliette, fake)
    assert oubliette("container", "stop", project_id).exit_code == 0
    assert fake.states() == {}


def test_refresh_replaces_the_container_with_the_new_image(oubliette, fake):
    project_id, name = started(oubliette, fake)
    new = fake.publish(DEV)
    result = oubliette("container", "refresh", project_id)
    assert result.exit_code == 0, result.output
    assert fake.states() == {name: "running"} and fake.image_of(name) == new


def test_a_refresh_onto_an_image_that_cannot_run_rolls_back(oubliette, fake):
    project_id, name = started(oubliette, fake)
    old = fake.image_of(name)
    fake.publish(DEV)
    fake.break_image(DEV)
    result = oubliette("container", "refresh", project_id)
    assert result.exit_code == 1 and "did not start" in result.stderr and "Traceback" not in result.output
    assert fake.states() == {name: "running"} and fake.image_of(name) == old


def test_a_start_whose_image_cannot_be_pulled_is_one_error_and_leaves_nothing(oubliette, fake, oubliette_home):
    write_config(oubliette_home, {"containers": {"dev": "registry.example/nowhere:1"}})
    project_id = oubliette("project", "create", "web").stdout.strip()
    assert_clean_error(oubliette("container", "start", project_id), 1, "registry.example/nowhere:1")
    assert fake.states() == {}
