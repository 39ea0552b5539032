"""An agent's path through `oubliette mcp` with the official SDK client, on the real engine:
a project of a custom type, its container started, then refreshed onto a newer image."""

from __future__ import annotations

import anyio

from tests.e2e.conftest import docker_out, write_config
from tests.mcp_client import oubliette_mcp


def test_agent_creates_starts_and_refreshes_a_custom_type(home, images, tmp_path):
    repo = images.repo("agent") + ":v2"
    first = images.push(repo, marker="agent-1")
    write_config(home, {"dev": images.repo("unused") + ":latest", "python-ml": repo})
    errlog_path = tmp_path / "server-stderr.txt"

    async def agent():
        with open(errlog_path, "w") as errlog:
            async with oubliette_mcp(home, errlog=errlog) as tools:
                options = await tools.ok("project", action="options")
                assert {"name": "python-ml", "image": repo} in options["container_types"]["available"]
                created = await tools.ok("project", action="create", name="ml", container_type="python-ml")
                project_id = created["id"]
                started = await tools.ok("container", action="start", project_id=project_id)
                assert started["action"] == "started" and started["image"] == repo

                old_container = docker_out("container", "inspect", "--format", "{{.Id}} {{.Image}}",
                                           f"oubliette-{project_id}").split()
                assert old_container[1] == first.id
                newer = images.push(repo, marker="agent-2")
                refreshed = await tools.ok("container_refresh", project_id=project_id)
                return project_id, old_container, newer, refreshed

    project_id, old_container, newer, refreshed = anyio.run(agent)
    assert refreshed["status"] == "refreshed" and refreshed["changed"] is True
    assert refreshed["old_image_id"] == first.id and refreshed["new_image_id"] == newer.id
    new_id, new_image = docker_out("container", "inspect", "--format", "{{.Id}} {{.Image}}",
                                   f"oubliette-{project_id}").split()
    assert new_image == newer.id and new_id != old_container[0]
    assert docker_out("ps", "-aq", "--filter", f"label=oubliette.project={project_id}").split() == [new_id[:12]]
    server_stderr = errlog_path.read_text()
    assert f"Pulling {repo}..." in server_stderr  # progress went to stderr, the protocol stayed clean
    assert "Digest: sha256:" in server_stderr and "Status: Downloaded newer image" in server_stderr
