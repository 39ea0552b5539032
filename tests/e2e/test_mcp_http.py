"""`oubliette mcp --http` with the official SDK client: the admin token at the door, the
same tools behind it, and the exec tool, on each real engine."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import oubliette, scenario_engine
from tests.mcp_client import oubliette_mcp_http


@pytest.fixture
def server(request, home, images):
    """`oubliette mcp --http --port 0` in the background; (url, token, process)."""
    assert oubliette("init", "--no-pull", home=home).returncode == 0
    repo = images.repo("agent") + ":latest"
    images.push(repo)
    scenario_engine(request).configure(home, {"dev": repo})
    token = (home / "data" / "admin.token").read_text().strip()
    proc = subprocess.Popen([sys.executable, "-m", "oubliette", "mcp", "--http", "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OUBLIETTE_HOME": str(home)})
    line = proc.stderr.readline()
    found = re.search(r"(http://127\.0\.0\.1:(\d+)/mcp)", line)
    assert found, line
    yield found[1], token, proc, int(found[2])
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def post_status(url: str, authorization: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json", "accept": "application/json, text/event-stream",
        **({"authorization": authorization} if authorization else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def listens_on_loopback_only(port: int) -> bool:
    """From the kernel's own table: the listening socket's local address."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).exists():
            rows += [line.split() for line in Path(table).read_text().splitlines()[1:]]
    listening = [row[1] for row in rows if row[3] == "0A" and int(row[1].split(":")[1], 16) == port]
    return bool(listening) and all(address.split(":")[0] == "0100007F" for address in listening)


def test_the_token_is_required_and_the_tools_work_behind_it(any_engine, server, home):
    engine = any_engine  # on the cluster too
    url, token, proc, port = server
    assert listens_on_loopback_only(port)
    assert post_status(url, None) == 401
    assert post_status(url, "Bearer oub_" + "0" * 64) == 401
    assert post_status(url, f"Basic {token}") == 401
    with pytest.raises(Exception):  # the SDK client cannot even initialise without the token  # noqa: B017
        async def no_token():
            async with oubliette_mcp_http(url, None):
                pass
        anyio.run(no_token)
    assert oubliette("project", "list", "--json", home=home).stdout.strip() == "[]"  # no tool ran

    async def agent():
        async with oubliette_mcp_http(url, token) as tools:
            listed = {tool.name for tool in (await tools.session.list_tools()).tools}
            assert listed == {"project", "container", "container_refresh", "exec"}
            created = await tools.ok("project", action="create", name="http-agent", **engine.create_fields)
            started = await tools.ok("container", action="start", project_id="http-agent")
            assert started["action"] == "started"
            ran = await tools.ok("exec", project_id="http-agent",
                                 command=["sh", "-c", "echo out; echo err >&2; pwd; exit 3"])
            assert ran == {"exit_code": 3, "stdout": "out\n/workspace\n", "stderr": "err\n", "truncated": False}
            argv = await tools.ok("exec", project_id=created["id"], command=["echo", "$HOME", "a b"])
            assert argv["stdout"] == "$HOME a b\n"  # no shell around argv
            return created["id"]

    project_id = anyio.run(agent)
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) in (0, 143)


def test_a_timed_out_exec_is_stopped_in_the_container_and_refresh_waits_for_an_exec(engine, server, home):
    url, token, _, _ = server

    async def agent():
        async with oubliette_mcp_http(url, token) as tools:
            created = await tools.ok("project", action="create", name="slow")
            project_id = created["id"]
            error = await tools.error("exec", project_id=project_id, command=["sleep", "77"], timeout_s=1.5)
            assert "timed out after 1.5 s" in error
            processes = await tools.ok("exec", project_id=project_id, command=["ps"])
            assert "sleep 77" not in processes["stdout"]

            async def long_exec():
                return await tools.call("exec", project_id=project_id, command=["sleep", "4"])

            async with anyio.create_task_group() as group:
                group.start_soon(long_exec)
                await anyio.sleep(1.5)
                refused = await tools.error("container_refresh", project_id=project_id)
                assert "active session" in refused
            return project_id

    project_id = anyio.run(agent)
    assert "sleep 77" not in engine.out("exec", f"oubliette-{project_id}", "ps")


def test_without_a_token_or_with_an_unsafe_one_the_server_does_not_start(home):
    missing = oubliette("mcp", "--http", "--port", "0", home=home)
    assert missing.returncode == 1 and "Error: no admin token" in missing.stderr and "oubliette init" in missing.stderr
    assert oubliette("init", "--no-pull", home=home).returncode == 0
    token = home / "data" / "admin.token"
    token.chmod(0o644)
    loose = oubliette("mcp", "--http", "--port", "0", home=home)
    assert loose.returncode == 1 and "readable by others" in loose.stderr
    assert oubliette("mcp", "--port", "1", home=home).returncode == 2  # --port goes with --http
