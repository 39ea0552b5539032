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
MAX_DEPTH = 64  # levels of [ and { in one message; MCP's own messages use a handful
MAX_LINE = 16 * 1024 * 1024  # bytes in one message; a longer line is answered and skipped unread
_ID_RANGE = 2**53  # integer ids a JSON client can hold exactly


def error_reply(line: str) -> str | None:
    """The JSON-RPC error line for a malformed message, or None when it is well formed."""
    try:
        message = json.loads(line)
    except RecursionError:
        return _reply(None, PARSE_ERROR, f"Parse error: nested more than {MAX_DEPTH} levels deep")
    except ValueError as exc:
        return _reply(None, PARSE_ERROR, f"Parse error: {str(exc)[:200]}")
    ident = message.get("id") if isinstance(message, dict) else None
    ident = ident if _valid_id(ident) else None
    if _deeper_than(message, MAX_DEPTH):
        return _reply(ident, INVALID_REQUEST, f"Invalid Request: nested more than {MAX_DEPTH} levels deep")
    problem = _message_problem(message)
    return None if problem is None else _reply(ident, INVALID_REQUEST, f"Invalid Request: {problem}")


def _valid_id(ident: object) -> bool:
    """MCP's ids: a string or an integer (never null, a boolean or a fraction)."""
    return isinstance(ident, str) or (type(ident) is int and abs(ident) < _ID_RANGE)


def _message_problem(message: object) -> str | None:
    """What makes `message` no JSON-RPC 2.0 request, notification or response; None if nothing."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return "expected a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")"
    if "id" in message and not _valid_id(message["id"]):
        return "\"id\" must be a string or an integer"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "\"method\" must be a string"
        if "params" in message and not isinstance(message["params"], (dict, list)):
            return "\"params\" must be an object or an array"
        return None
    if "id" not in message:
        return "a response needs an \"id\""
    if "result" in message:
        return None
    error = message.get("error")
    if isinstance(error, dict) and type(error.get("code")) is int and isinstance(error.get("message"), str):
        return None
    return "expected \"method\", \"result\", or an \"error\" object with a code and a message"


def _deeper_than(value: object, limit: int) -> bool:
    """Is `value` nested more than `limit` levels deep? (iterative: no recursion to run out of)"""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _reply(ident: str | int | None, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}) + "\n"


class _Checked:
    """The client's lines for the SDK, less the malformed ones, which are answered here.
    Lines are read from the raw bytes with a bound, so no message can fill memory."""

    def __init__(self, source: Any, wire: Any) -> None:
        self.source, self.wire = source, wire

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _answer(self, reply: str) -> None:
        await self.wire.write(reply)
        await self.wire.flush()

    async def _lines(self) -> AsyncIterator[str]:
        async for raw in self._raw_lines():
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            reply = error_reply(line)
            if reply is None:
                yield line
            else:
                await self._answer(reply)

    async def _raw_lines(self) -> AsyncIterator[bytes]:
        pending = bytearray()
        skipping = False  # inside a line longer than MAX_LINE: drop it up to its newline
        while chunk := await self.source.read1(65536):
            *lines, rest = (pending + chunk).split(b"\n")
            pending = bytearray(rest)
            for raw in lines:
                if skipping:
                    skipping = False
                    continue
                yield raw
            if len(pending) > MAX_LINE:
                if not skipping:
                    await self._answer(_reply(None, PARSE_ERROR, f"Parse error: a message over {MAX_LINE} bytes"))
                skipping, pending = True, bytearray()
        if not skipping:
            yield bytes(pending)


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
    stdin = anyio.wrap_file(os.fdopen(wire_in, "rb", closefd=False))
    stdout = anyio.wrap_file(TextIOWrapper(os.fdopen(wire_out, "wb", closefd=False), encoding="utf-8"))
    async with stdio_server(_Checked(stdin, stdout), stdout) as (read_stream, write_stream):  # type: ignore[arg-type]
        await server._lowlevel_server.run(read_stream, write_stream,  # noqa: SLF001 - the SDK's own run_stdio
                                          server._lowlevel_server.create_initialization_options())
