"""The stdio transport, with an answer for malformed messages.

The SDK's stdio transport drops a line that is not JSON-RPC without a reply, so a
client waiting on it hangs. Here the server's wire is claimed as the SDK claims it
(fd 0 then reads /dev/null and fd 1 goes to stderr, so no child or stray print can
reach the protocol), and such a line gets the JSON-RPC error it deserves: -32700 for
text that is not JSON, -32600 for JSON that is not a JSON-RPC message.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from io import TextIOWrapper
from typing import Any

import anyio

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_reply(line: str) -> str | None:
    """The JSON-RPC error line for a malformed message, or None when it is well formed."""
    try:
        message = json.loads(line)
    except ValueError as exc:
        return _reply(None, PARSE_ERROR, f"Parse error: {exc}")
    if isinstance(message, dict) and message.get("jsonrpc") == "2.0" and (
            "method" in message or "result" in message or "error" in message):
        return None
    ident = message.get("id") if isinstance(message, dict) else None
    return _reply(ident if isinstance(ident, (str, int)) and not isinstance(ident, bool) else None,
                  INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 message")


def _reply(ident: str | int | None, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}) + "\n"


class _Checked:
    """The client's lines for the SDK, less the malformed ones, which are answered here."""

    def __init__(self, source: Any, wire: Any) -> None:
        self.source, self.wire = source, wire

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self.source:
            if not line.strip():
                continue
            reply = error_reply(line)
            if reply is None:
                yield line
            else:
                await self.wire.write(reply)
                await self.wire.flush()


def _claim() -> tuple[int, int]:
    """Private copies of fds 0 and 1 for the protocol; the standard ones point elsewhere."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return wire_in, wire_out


async def run_stdio(server: Any) -> None:
    """Serve `server` (an MCPServer) on the process's stdin and stdout."""
    from mcp.server.stdio import stdio_server

    wire_in, wire_out = _claim()
    stdin = anyio.wrap_file(TextIOWrapper(os.fdopen(wire_in, "rb", closefd=False), encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(TextIOWrapper(os.fdopen(wire_out, "wb", closefd=False), encoding="utf-8"))
    async with stdio_server(_Checked(stdin, stdout), stdout) as (read_stream, write_stream):  # type: ignore[arg-type]
        await server._lowlevel_server.run(read_stream, write_stream,  # noqa: SLF001 - the SDK's own run_stdio
                                          server._lowlevel_server.create_initialization_options())
