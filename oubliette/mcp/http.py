"""`oubliette mcp --http`: the same MCP tools over the SDK's streamable-HTTP transport.

Every request must carry `Authorization: Bearer <admin token>` (the home's
`data/admin.token`, read once at start); anything else gets 401 and runs nothing. The
token is compared in constant time. It listens on loopback unless told otherwise.
Ctrl-C and SIGTERM stop it after the requests under way (and their container swaps)
have finished.
"""

from __future__ import annotations

import hmac
import json
import socket
from typing import Any

from oubliette.app import App
from oubliette.errors import OublietteError
from oubliette.report import Reporter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PATH = "/mcp"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BearerGuard:
    """ASGI middleware: only requests with the admin token reach the MCP app."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps({"error": "unauthorized: send Authorization: Bearer <admin token>"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the URL printed is the real one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OublietteError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                             hint="choose another --port (0 picks a free one), or another --host") from None
    return sock


def serve_http(home: str | None, runtime_choice: str | None, host: str, port: int, reporter: Reporter) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    import uvicorn

    from oubliette.mcp.server import build_server
    from oubliette.store.home import read_token

    app_home = App(home=home).home
    token = read_token(app_home)  # a symlink, a loose mode or a damaged token is an error here
    if token is None:
        raise OublietteError(f"no admin token in {app_home} to guard the HTTP server",
                             hint="run `oubliette init` to create one (it prints it once)")
    server = build_server(lambda: App(home=home, runtime_choice=runtime_choice, reporter=Reporter(to_stderr=True)))
    asgi = BearerGuard(server.streamable_http_app(streamable_http_path=PATH, host=host), token)
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if host not in LOOPBACK:
        reporter.warn(f"listening on {host}, which is not loopback: anyone who can reach it and has the token "
                      "can run commands in your containers")
    reporter.note(f"MCP over HTTP at http://{shown}:{bound}{PATH} (send Authorization: Bearer <admin token>)")
    config = uvicorn.Config(asgi, log_level="warning", lifespan="on", timeout_graceful_shutdown=None)
    uvicorn.Server(config).run(sockets=[sock])
