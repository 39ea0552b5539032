"""A TCP forwarder that adds latency, to play an engine across a network (bench only).

`LatencyProxy("unix:///var/run/docker.sock", 0.025)` listens on a loopback port and
forwards to the engine, holding every chunk `delay` seconds each way, so a round trip
costs about 2 x delay more, as with a remote engine. With no delay it is a plain
forwarder, which tests close to take an engine off the network as a client sees it.
"""

from __future__ import annotations

import socket
import threading
import time


class LatencyProxy:
    def __init__(self, target: str, delay: float) -> None:
        self.target, self.delay = target, delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        if self.target.startswith("unix://"):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target.removeprefix("unix://"))
            return upstream
        host, port = self.target.removeprefix("tcp://").rsplit(":", 1)
        return socket.create_connection((host, int(port)))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = self._connect()
            self.open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(source, target), daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.delay:
                    time.sleep(self.delay)
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Stop forwarding: the listening socket closes (shut down first: a bare close leaves
        a blocked accept listening), and open connections are cut."""
        for sock in self.open:
            try:
                sock.close()
            except OSError:
                pass
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
