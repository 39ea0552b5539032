"""The seams of the layout issue, on every engine: one listing behind the CLI and the MCP
tool (orphans agree), `stop --all` through the same lock-and-settle path as `stop ID`,
and a held project lock named while another command waits for it."""

from __future__ import annotations

import json
import shutil
import time

import anyio

from tests.e2e.conftest import background, create, oubliette, start, wait_for_line, write_config
from tests.mcp_client import oubliette_mcp


def test_an_orphan_is_an_orphan_in_the_cli_and_in_the_mcp_tool(engine, home, images):
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    write_config(home, {"dev": repo})
    project_id = create(home)
    start(engine, home, project_id)
    shutil.rmtree(home / "data/projects" / project_id)  # deleted behind oubliette's back

    listed = oubliette("container", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    cli_rows = {row["project_id"]: row for row in json.loads(listed.stdout)}

    async def mcp_rows() -> dict:
        async with oubliette_mcp(home) as tools:
            found = await tools.ok("container", action="list")
        return {row["project_id"]: row for row in found["containers"]}

    mcp = anyio.run(mcp_rows)
    assert cli_rows[project_id]["orphan"] is True and mcp[project_id]["orphan"] is True
    assert cli_rows == mcp
    assert oubliette("container", "stop", project_id, home=home).returncode == 0


def test_stop_all_after_a_sigkilled_refresh_settles_the_swap_like_stop_id(engine, home, slow_stopping):
    project_id, _, _ = slow_stopping
    proc = background(home, "container", "refresh", project_id)
    wait_for_line(proc.stdout, "restarting its container...")
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=30)
    journal = home / "data/projects" / project_id / ".swap"
    assert journal.exists()

    result = oubliette("container", "stop", "--all", home=home)
    assert result.returncode == 0, result.stderr
    assert "Waiting for the engine calls of an interrupted operation" in result.stderr
    assert not journal.exists()
    assert engine.labelled(f"oubliette.project={project_id}") == []


def test_a_command_waiting_for_a_project_names_the_one_holding_it(engine, home, slow_stopping):
    project_id, _, _ = slow_stopping
    stopper = background(home, "container", "stop", project_id)  # ~10 s: the container ignores SIGTERM
    time.sleep(1.0)
    result = oubliette("container", "start", project_id, home=home)
    stopper.communicate(timeout=60)
    assert result.returncode == 0, result.stderr
    waiting = [line for line in result.stderr.splitlines() if line.startswith("Waiting for `")]
    assert waiting and f"`oubliette container stop {project_id}` (pid {stopper.pid}, since " in waiting[0]
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]
