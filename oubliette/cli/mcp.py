"""`oubliette mcp`: serve the project and container tools over MCP, on stdio or HTTP."""

from __future__ import annotations

import click

DEFAULT_PORT = 8765  # as oubliette.mcp.http.DEFAULT_PORT (not imported: it loads the SDK)


@click.command("mcp")
@click.option("--http", "http", is_flag=True, help="Serve over streamable HTTP at /mcp instead of stdio.")
@click.option("--host", metavar="HOST", help="With --http: the address to listen on (default 127.0.0.1).")
@click.option("--port", metavar="PORT", type=click.IntRange(0, 65535),
              help=f"With --http: the port (default {DEFAULT_PORT}; 0 picks a free one).")
@click.pass_obj
def mcp(app, http: bool, host: str | None, port: int | None) -> None:
    """Run an MCP server with the project, container, container_refresh and exec tools.

    For MCP clients (agents): configure the command `oubliette mcp` (stdio). The global
    --home and --runtime apply. stdout carries the protocol; progress goes to stderr.

    With --http it serves the same tools at http://HOST:PORT/mcp, printing the URL on
    stderr. Every request must send `Authorization: Bearer <admin token>` (from
    `oubliette init`, in <home>/data/admin.token); others get HTTP 401. A host other
    than loopback must be given explicitly and prints a warning. Ctrl-C or SIGTERM stop
    it once the requests under way are done.
    """
    if not http and (host is not None or port is not None):
        raise click.UsageError("--host and --port go with --http")
    import gc

    gc.freeze()  # what was imported to start is kept for good; collections look at the rest
    gc.enable()  # a server runs for days: the command's collector-off start (__main__.py) ends here
    if http:
        from oubliette.cli.output import reporter_for
        from oubliette.mcp.http import DEFAULT_HOST, serve_http  # the SDK loads only here

        serve_http(str(app.home), app.runtime_choice, host or DEFAULT_HOST,
                   DEFAULT_PORT if port is None else port, reporter_for(app, True))
        return
    from oubliette.mcp.server import serve  # the SDK loads only here

    serve(str(app.home), app.runtime_choice)
