"""Drive `oubliette mcp` with the official SDK's client over stdio, as an agent would."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp import ClientSession, StdioServerParameters, stdio_client


class Tools:
    """Calls tools and returns (is_error, structured result or error text)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, tool: str, /, **arguments: Any) -> tuple[bool, Any]:
        result = await self.session.call_tool(tool, arguments)
        if result.is_error:
            return True, result.content[0].text
        assert result.structured_content is not None, result
        assert json.loads(result.content[0].text) == result.structured_content  # text mirrors the data
        return False, result.structured_content

    async def ok(self, tool: str, /, **arguments: Any) -> Any:
        failed, value = await self.call(tool, **arguments)
        assert not failed, value
        return value

    async def error(self, tool: str, /, **arguments: Any) -> str:
        failed, value = await self.call(tool, **arguments)
        assert failed, value
        return value


@asynccontextmanager
async def oubliette_mcp(home: Path, env: dict[str, str] | None = None,
                        errlog: TextIO = sys.stderr) -> AsyncIterator[Tools]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "oubliette", "mcp"],
                                   env={**os.environ, "OUBLIETTE_HOME": str(home), **(env or {})})
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield Tools(session)


@asynccontextmanager
async def oubliette_mcp_http(url: str, token: str | None) -> AsyncIterator[Tools]:
    """The SDK's streamable-HTTP client, sending `Authorization: Bearer TOKEN`."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield Tools(session)
