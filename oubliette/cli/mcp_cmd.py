"""`oubliette mcp`: serve the project and container tools over MCP on stdio."""

from __future__ import annotations

import click


@click.command("mcp")
@click.pass_obj
def mcp(app) -> None:
    """Run an MCP server on stdio with the project, container and container_refresh tools.

    For MCP clients (agents): configure the command `oubliette mcp`. The global --home
    and --runtime apply. stdout carries the protocol; progress goes to stderr.
    """
    from oubliette.mcp_server import serve  # the SDK loads only here

    serve(str(app.home), app.runtime_choice)
