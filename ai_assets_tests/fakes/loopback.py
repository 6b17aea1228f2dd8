"""What the tests' HTTP stand-ins share: a threaded server on 127.0.0.1, started by `with`."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


def free_port() -> int:
    """A loopback port nothing listens on (as of now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_json(handler: BaseHTTPRequestHandler, status: int, body: dict, headers: dict | None = None) -> None:
    """Answers `body` as JSON with `status` (and `headers`); a client that gave up waiting is no error."""
    data = json.dumps(body).encode()
    try:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the client gave up waiting


class LoopbackServer:
    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> str:
        """Binds a free port for `handler`; returns the server's base URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._closing = threading.Event()
        return f"http://127.0.0.1:{self._server.server_port}"

    def _stall(self, seconds: float) -> None:
        """Holds a handler `seconds`, or until the server stops: a fault can stall far past a client's
        timeout without a thread outliving the test."""
        self._closing.wait(seconds)

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
