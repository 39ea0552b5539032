"""The MCP `exec` tool over HTTP against a warm server, beside `docker exec` or `podman exec`
(for scripts/bench.py).

A plain JSON-RPC client over urllib, so the figure is the server's cost and not a client
library's: one `initialize`, then timed `tools/call exec` requests of a trivial command.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ACCEPT = "application/json, text/event-stream"


class McpHttp:
    """A started `oubliette mcp --http --port 0` and a session with it."""

    def __init__(self, oubliette: list[str], env: dict, home: Path) -> None:
        self.process = subprocess.Popen(oubliette + ["mcp", "--http", "--port", "0"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        self.url = ""
        for line in self.process.stderr:  # the URL it printed, then leave its stderr alone
            found = re.search(r"(http://\S+/mcp)", line)
            if found:
                self.url = found.group(1)
                break
        if not self.url:
            raise SystemExit("bench: `oubliette mcp --http` printed no URL")
        self.headers = {"Authorization": f"Bearer {(home / 'data/admin.token').read_text().strip()}",
                        "Content-Type": "application/json", "Accept": ACCEPT}
        self.next_id = 0
        self.post({"method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                      "clientInfo": {"name": "bench", "version": "1"}}})
        self.post({"method": "notifications/initialized"}, notification=True)

    def post(self, message: dict, notification: bool = False) -> dict | None:
        body = {"jsonrpc": "2.0", **message}
        if not notification:
            self.next_id += 1
            body["id"] = self.next_id
        request = urllib.request.Request(self.url, json.dumps(body).encode(), self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            session = response.headers.get("mcp-session-id")
            if session:
                self.headers["mcp-session-id"] = session
            text = response.read().decode()
        if notification:
            return None
        data = [line[5:] for line in text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1] if data else text)

    def exec(self, project_id: str, command: list[str]) -> dict:
        reply = self.post({"method": "tools/call", "params": {
            "name": "exec", "arguments": {"project_id": project_id, "command": command}}})
        assert reply is not None
        result = reply.get("result") or {}
        if result.get("isError") or "error" in reply:
            raise SystemExit(f"bench: the exec tool failed: {reply}")
        return result

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def bench_mcp_exec(oubliette: list[str], env: dict, home: Path, project_id: str, container: str,
                   rounds: int, cli: str = "docker") -> list[tuple]:
    """`exec` of `true` through a warm server, beside `docker exec -w /workspace NAME true`
    (or podman's, `cli`)."""
    server = McpHttp(oubliette, env, home)
    raw_argv = [cli, "exec", "-w", "/workspace", container, "true"]
    try:
        for _ in range(3):  # warm: imports, the first App, the engine's exec path
            server.exec(project_id, ["true"])
        ours, raw, gaps = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run(raw_argv, env=env, capture_output=True, check=True)
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            server.exec(project_id, ["true"])
            ours.append(time.perf_counter() - started)
            gaps.append(ours[-1] - raw[-1])
    finally:
        server.close()
    gap = statistics.median(gaps) * 1000
    return [(f"MCP exec over HTTP (warm) vs {cli} exec",
             f"{statistics.median(ours) * 1000:.1f} vs {statistics.median(raw) * 1000:.1f} ms, {gap:+.1f} ms",
             "<= +15 ms", gap <= 15)]


if __name__ == "__main__":  # by hand: python scripts/bench_mcp.py PROJECT_ID CONTAINER (home from $OUBLIETTE_HOME)
    print(bench_mcp_exec([sys.executable, "-m", "oubliette"], dict(os.environ),
                         Path(os.environ["OUBLIETTE_HOME"]), sys.argv[1], sys.argv[2], 15))
