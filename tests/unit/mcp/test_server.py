"""`oubliette mcp` through the SDK's own stdio client, with the fake Apple CLI as engine:
the tool list and schemas, every action, and every error followed by a call that works."""

from __future__ import annotations

import json
import os

import anyio
import pytest

from oubliette.store.sessions import SessionRegistry
from tests.mcp_client import oubliette_mcp
from tests.unit.fakes.apple import DIGEST, install_fake
from tests.unit.helpers import write_config

DEV = "registry.example/oubliette-dev:latest"
ML = "registry.example/ml-agent:v2"


@pytest.fixture
def engine(tmp_path, oubliette_home):
    """A fake `container` engine for the server, and a config with a custom type."""
    state = tmp_path / "apple-state.json"
    state.write_text(json.dumps({"registry": {DEV: DIGEST["1"], ML: DIGEST["2"]}}))
    write_config(oubliette_home, {"containers": {"dev": DEV, "python-ml": ML}})
    env = {"OUBLIETTE_RUNTIME": "apple", "APPLE_CONTAINER_BINARY": str(install_fake(tmp_path / "bin")),
           "FAKE_CONTAINER_STATE": str(state), "FAKE_CONTAINER_VERSION": "1.2.2"}

    class Engine:
        def read(self):
            return json.loads(state.read_text())

        def write(self, **changes):
            data = self.read()
            for key, value in changes.items():
                if isinstance(value, dict):
                    data.setdefault(key, {}).update(value)
                else:
                    data[key] = value
            state.write_text(json.dumps(data))

    result = Engine()
    result.env = env
    return result


def scenario(home, env, body):
    async def main():
        async with oubliette_mcp(home, env) as tools:
            await body(tools)

    anyio.run(main)


def test_tools_and_their_schemas(oubliette_home, engine):
    async def body(tools):
        listed = {tool.name: tool for tool in (await tools.session.list_tools()).tools}
        assert set(listed) == {"project", "container", "container_refresh", "exec"}
        run = listed["exec"].input_schema
        assert run["required"] == ["project_id", "command"] and run["properties"]["command"]["type"] == "array"
        assert set(run["properties"]) == {"project_id", "command", "timeout_s", "workdir"}
        for name in ("exec", "container_refresh"):  # one nature each: hinted
            hints = listed[name].annotations
            assert hints.read_only_hint is False and hints.destructive_hint is True, name
        assert listed["project"].annotations is None and listed["container"].annotations is None  # mixed
        for name, tool in listed.items():
            assert "Changes state" in tool.description, name
        project = listed["project"].input_schema
        assert project["required"] == ["action"]
        assert project["properties"]["action"]["enum"] == ["create", "list", "get", "delete", "options"]
        assert {"name", "container_type", "project_id", "purge"} <= set(project["properties"])
        container = listed["container"].input_schema
        assert container["properties"]["action"]["enum"] == ["start", "stop", "list"]
        refresh = listed["container_refresh"].input_schema
        assert set(refresh["properties"]) == {"project_id", "container_type"} and not refresh.get("required")
        for tool in listed.values():
            assert tool.description and tool.output_schema["type"] == "object"
            assert all(p.get("description") for p in tool.input_schema["properties"].values())

    scenario(oubliette_home, engine.env, body)


def test_project_actions_and_their_errors(oubliette_home, engine):
    async def body(tools):
        options = await tools.ok("project", action="options")
        assert options == {"container_types": {
            "available": [{"name": "dev", "image": DEV}, {"name": "python-ml", "image": ML}], "default": "dev"}}

        error = await tools.error("project", action="create", name="x", container_type="osint")
        assert "invalid container_type: osint (valid types: dev, python-ml)" in error
        created = await tools.ok("project", action="create", name="ml", container_type="python-ml")
        assert created["type"] == "python-ml" and created["image"] == ML and created["id"].startswith("proj_")

        assert "name is required for action 'create'" in await tools.error("project", action="create")
        default = await tools.ok("project", action="create", name="web")
        assert default["type"] == "dev"

        listed = await tools.ok("project", action="list")
        assert [p["id"] for p in listed["projects"]] == [created["id"], default["id"]]

        assert "project_id is required" in await tools.error("project", action="get")
        assert "no project matches" in await tools.error("project", action="get", project_id="proj_ffffffffffff")
        got = await tools.ok("project", action="get", project_id=created["id"][:9])
        assert got["id"] == created["id"] and got["active_sessions"] == []

        assert "Input should be" in await tools.error("project", action="rename")
        deleted = await tools.ok("project", action="delete", project_id=default["id"], purge=True)
        assert deleted == {"id": default["id"], "deleted": True, "workspace": None, "volume": None}
        assert [p["id"] for p in (await tools.ok("project", action="list"))["projects"]] == [created["id"]]

    scenario(oubliette_home, engine.env, body)


def test_container_actions_refresh_and_recovery_after_errors(oubliette_home, engine):
    async def body(tools):
        project_id = (await tools.ok("project", action="create", name="ml", container_type="python-ml"))["id"]
        assert "no container to refresh" in await tools.error("container_refresh", project_id=project_id)

        started = await tools.ok("container", action="start", project_id=project_id)
        assert started == {"project_id": project_id, "name": f"oubliette-{project_id}", "image": ML,
                           "action": "started", "status": "running"}
        listed = await tools.ok("container", action="list")
        assert listed["containers"] == [{"project_id": project_id, "name": f"oubliette-{project_id}",
                                         "image": ML, "type": "python-ml", "status": "running",
                                         "orphan": False, "engine": "default", "project_name": "ml", "ports": []}]

        engine.write(registry={ML: DIGEST["3"]})
        refreshed = await tools.ok("container_refresh", project_id=project_id)
        assert refreshed["status"] == "refreshed" and refreshed["changed"] is True
        assert (refreshed["old_image_id"], refreshed["new_image_id"]) == (DIGEST["2"], DIGEST["3"])
        assert engine.read()["containers"][f"oubliette-{project_id}"]["digest"] == DIGEST["3"]

        # a live session refuses refresh; once it is gone the next call works (lock released)
        session = SessionRegistry(oubliette_home).register(project_id, ["sh"], pid=os.getpid())
        error = await tools.error("container_refresh", project_id=project_id)
        assert "cannot refresh container: 1 active session(s) exist - end them first" in error
        assert "cannot delete project: 1 active session(s)" in await tools.error(
            "project", action="delete", project_id=project_id)
        SessionRegistry(oubliette_home).unregister(session)
        assert (await tools.ok("container_refresh", project_id=project_id))["changed"] is False

        assert "exactly one of them" in await tools.error("container_refresh")
        assert "exactly one of them" in await tools.error("container_refresh", project_id=project_id,
                                                          container_type="dev")
        engine.write(registry={DEV: DIGEST["4"]})
        pulled = await tools.ok("container_refresh", container_type="dev")
        assert pulled == {"container_type": "dev", "image": DEV, "pulled": True, "old_image_id": None,
                          "new_image_id": DIGEST["4"], "changed": True}
        assert "unknown container type: nope" in await tools.error("container_refresh", container_type="nope")

        engine.write(down=True)
        error = await tools.error("container", action="start", project_id=project_id)
        assert "Apple container (the container system service) cannot be reached" in error
        assert "container system start" in error
        engine.write(down=False)

        stopped = await tools.ok("container", action="stop", project_id=project_id)
        assert stopped == {"project_id": project_id, "name": f"oubliette-{project_id}", "action": "stopped"}
        again = await tools.ok("container", action="stop", project_id=project_id)
        assert again["action"] == "no_container"
        assert (await tools.ok("container", action="list", all=True))["containers"] == []
        assert "project_id is required for action 'start'" in await tools.error("container", action="start")

    scenario(oubliette_home, engine.env, body)


def test_the_server_needs_no_engine_to_start_and_reports_a_missing_one(oubliette_home, tmp_path):
    write_config(oubliette_home, {"containers": {"dev": DEV}})

    async def body(tools):
        assert (await tools.ok("project", action="list")) == {"projects": []}
        project_id = (await tools.ok("project", action="create", name="x"))["id"]
        error = await tools.error("container", action="start", project_id=project_id)
        assert "no container engine found" in error and "hint:" in error
        assert (await tools.ok("project", action="get", project_id=project_id))["id"] == project_id

    scenario(oubliette_home, {"PATH": str(tmp_path), "OUBLIETTE_RUNTIME": "auto"}, body)
