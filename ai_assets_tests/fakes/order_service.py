"""An order service on loopback: the HTTP backend of the order_status tool talks real HTTP to it.

It answers `GET /orders?customer_id=..&as_of=..` with `{"orders": [...]}`: the customer's orders
in their latest state on or before `as_of`, from the order exports of a sample data directory
(`landing/orders/<day>/*.jsonl`). Every request is recorded (path, query, Authorization header).
`mode`: "ok", "down" (503), "slow" (answers after `delay` seconds, or not at all if stopped first),
"flaky" (503 to the first `failures` requests, then ok), or "unauthorized" (401: a wrong token).
`exports` may be changed while it serves: a status changed later in the day.

Usage::

    with OrderService.from_landing(data_dir / "landing") as service:
        ...  # AI_ASSETS_ORDERS_API_URL=service.url
        assert service.requests == []
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ai_assets_tests.fakes.loopback import LoopbackServer, send_json


class OrderService(LoopbackServer):
    def __init__(self, exports: dict[str, list[dict]], mode: str = "ok", delay: float = 0.0, failures: int = 0):
        """`exports`: day (YYYY-MM-DD) -> the order records exported that day."""
        self.exports, self.mode, self.delay, self.failures = exports, mode, delay, failures
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with service._lock:
                    service.requests.append(
                        {"path": parts.path, "query": query, "authorization": self.headers.get("Authorization")}
                    )
                    flaky = service.mode == "flaky" and len(service.requests) <= service.failures
                if service.mode == "slow":
                    service._stall(service.delay)
                if service.mode == "unauthorized":
                    return self._answer(401, {"error": "invalid token"})
                if service.mode == "down" or flaky or parts.path != "/orders":
                    return self._answer(503 if parts.path == "/orders" else 404, {"error": "unavailable"})
                orders = service.orders_of(query.get("customer_id", ""), query.get("as_of", "9999-12-31"))
                self._answer(200, {"orders": orders})

            def _answer(self, status: int, body: dict) -> None:
                send_json(self, status, body)

            def log_message(self, *args) -> None:
                pass

        self.url = self._listen(Handler)

    @classmethod
    def from_landing(cls, landing_dir: Path, **kwargs) -> OrderService:
        exports = {}
        for folder in sorted((landing_dir / "orders").iterdir()):
            records = [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]
            exports[folder.name] = [r for r in records if r.get("customer_id") and r.get("status") != "teleported"]
        return cls(exports, **kwargs)

    def orders_of(self, customer_id: str, as_of: str) -> list[dict]:
        latest: dict[str, dict] = {}
        for day in sorted(d for d in self.exports if d <= as_of):
            latest.update({o["order_id"]: o for o in self.exports[day] if o["customer_id"] == customer_id})
        return list(latest.values())
