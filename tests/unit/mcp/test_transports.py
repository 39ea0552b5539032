"""The MCP transports' own pieces: malformed-message replies, the bearer guard, and the
exec tool's argument checks."""

from __future__ import annotations

import json

import anyio
import pytest

from oubliette.errors import InvalidReferenceError
from oubliette.mcp.http import BearerGuard
from oubliette.mcp.stdio import error_reply
from oubliette.ops.sessions import _checked_command, _checked_workdir

TOKEN = "oub_" + "ab" * 32


@pytest.mark.parametrize("line, code, ident", [
    ("{bad json", -32700, None),
    ("[1, 2]", -32600, None),
    ('{"id": 5}', -32600, 5),
    ('{"jsonrpc": "1.0", "id": "x", "method": "m"}', -32600, "x"),
    ('{"jsonrpc": "2.0", "id": true}', -32600, None),
])
def test_malformed_messages_get_a_json_rpc_error(line, code, ident):
    reply = json.loads(error_reply(line))
    assert reply["jsonrpc"] == "2.0" and reply["error"]["code"] == code and reply["id"] == ident


def test_well_formed_messages_pass():
    assert error_reply('{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}') is None
    assert error_reply('{"jsonrpc": "2.0", "method": "notifications/initialized"}') is None


def guarded(headers: list[tuple[bytes, bytes]], scope_type: str = "http") -> tuple[list[dict], list[str]]:
    reached: list[str] = []
    sent: list[dict] = []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    async def receive():
        return {}

    anyio.run(BearerGuard(app, TOKEN), {"type": scope_type, "headers": headers}, receive, send)
    return sent, reached


@pytest.mark.parametrize("headers", [[], [(b"authorization", b"Bearer oub_" + b"00" * 32)],
                                     [(b"authorization", f"Basic {TOKEN}".encode())],
                                     [(b"authorization", f"Bearer {TOKEN} ".encode())]])
def test_the_guard_answers_401_and_runs_nothing_without_the_token(headers):
    sent, reached = guarded(headers)
    assert reached == [] and sent[0]["status"] == 401
    assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]


def test_the_guard_lets_the_token_and_lifespan_through():
    assert guarded([(b"authorization", f"Bearer {TOKEN}".encode())]) == ([], ["http"])
    assert guarded([], scope_type="lifespan") == ([], ["lifespan"])


@pytest.mark.parametrize("command", [[], "ls -l", ["ls", 3], ["a\0b"]])
def test_exec_needs_argv(command):
    with pytest.raises(InvalidReferenceError, match="non-empty list of strings"):
        _checked_command(command)


def test_exec_workdir_is_absolute_and_safe():
    assert _checked_workdir(None) == "/workspace" and _checked_workdir("/tmp/x") == "/tmp/x"
    for bad in ("relative", "/with space", "-rf"):
        with pytest.raises(InvalidReferenceError):
            _checked_workdir(bad)


def test_the_mcp_delete_reports_a_users_workspace_as_kept_even_with_purge(run, docker, oubliette_home, tmp_path):
    from oubliette.app import App
    from oubliette.mcp.server import _delete
    from oubliette.report import Reporter
    from tests.unit.helpers import create

    code = tmp_path / "code"
    code.mkdir()
    (code / "main.txt").write_text("mine")
    project_id = create(run, "mine", "--workspace", str(code))
    app = App(home=oubliette_home, runtime_choice="docker", reporter=Reporter(to_stderr=True))
    record = _delete(app, project_id, purge=True)
    assert record == {"id": project_id, "deleted": True, "workspace": str(code.resolve()), "volume": None}
    assert (code / "main.txt").read_text() == "mine"


def test_a_command_runs_without_the_cyclic_collector_and_the_server_turns_it_back_on(tmp_path, monkeypatch):
    """`oubliette` starts with gc off (__main__.py); `oubliette mcp` runs for days, so it
    collects again, in a child as the command really starts."""
    import subprocess
    import sys

    probe = ("import gc, sys\nimport oubliette.__main__\nimport oubliette.mcp.server as server\n"
             "seen = [gc.isenabled()]\nserver.serve = lambda *a: seen.append(gc.isenabled())\n"
             "sys.argv = ['oubliette', 'mcp']\n"
             "try:\n    oubliette.__main__.main()\nexcept SystemExit:\n    pass\nprint(seen)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={"OUBLIETTE_HOME": str(tmp_path / "home"), "PATH": ""})
    assert result.stdout.strip() == "[False, True]", result.stderr[-2000:]
