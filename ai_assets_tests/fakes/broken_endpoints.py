"""Endpoints that fail as in an outage: one that rejects every key and echoes it back, and a URL
nothing listens on."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ai_assets_tests.fakes.loopback import free_port


class KeyEchoingServer:
    """An endpoint that rejects every key and echoes it back in the error body, as some proxies do."""

    def __init__(self) -> None:
        self.requests = 0
        counting = threading.Lock()  # handlers run in threads: `+=` alone can lose a count
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with counting:
                    owner.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                body = json.dumps(
                    {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error"}}
                ).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> KeyEchoingServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here any more
