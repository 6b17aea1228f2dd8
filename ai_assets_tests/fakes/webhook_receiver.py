"""A webhook receiver on loopback that counts what it gets, by `Idempotency-Key`.

It stands in for the outbox's HTTP receiver: the sink under test talks real HTTP to 127.0.0.1.
`mode` says how it answers: "ok" (200 after `latency` seconds), "down" (503), or "hang" (it keeps
the request open without answering until `release()` or `hang_s`, as a receiver that stopped
answering does, then answers 503 to nobody).

Usage::

    with WebhookReceiver(mode="hang") as hook:
        ...  # point AI_ASSETS_OUTBOX_WEBHOOK_URL at hook.url
        hook.mode = "ok"
        assert hook.duplicates() == {}
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

from ai_assets_tests.fakes.loopback import LoopbackServer


class WebhookReceiver(LoopbackServer):
    def __init__(self, mode: str = "ok", latency: float = 0.0, hang_s: float = 60.0) -> None:
        self.mode, self.latency, self.hang_s = mode, latency, hang_s
        self.received: list[tuple[str, str]] = []  # (path, key) of every request, answered or not
        self.accepted: list[tuple[str, str]] = []  # (path, key) of the requests answered 200
        self._lock, self._released = threading.Lock(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                assert key == body["action_id"], "the Idempotency-Key is the action id"
                with receiver._lock:
                    receiver.received.append((self.path, key))
                mode = receiver.mode
                if mode == "hang":
                    receiver._released.wait(receiver.hang_s)
                elif receiver.latency:
                    time.sleep(receiver.latency)
                if mode == "ok":
                    with receiver._lock:
                        receiver.accepted.append((self.path, key))
                try:
                    self.send_response(200 if mode == "ok" else 503)
                    self.end_headers()
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.url = self._listen(Handler) + "/actions"

    def release(self) -> None:
        """Ends every hanging request (and every later wait)."""
        self._released.set()

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(path, key) accepted more than once, with how many times."""
        with self._lock:
            return {key: n for key, n in Counter(self.accepted).items() if n > 1}

    def __exit__(self, *exc: object) -> None:
        self.release()
        super().__exit__(*exc)
