"""A ticketing system on loopback with the REST API shape of Zendesk's Support API.

It stands in for Zendesk (or anything that speaks its API): `POST /api/v2/tickets.json` creates a
ticket, deduplicated on the `Idempotency-Key` header as Zendesk does; `GET
/api/v2/tickets.json?external_id=...` lists the tickets with that external id. Requests must carry
the token (`Authorization: Bearer <token>`, or basic auth as `<email>/token:<token>`).

`faults` are how it answers the next ticket creations, one per request: an HTTP status instead of
creating (500, 429 with `Retry-After`), "slow" (creates the ticket, then answers only after
`slow_s`, past a client's timeout, or not at all if the server stops first), or None (as usual).

Usage::

    with TicketingServer(token="t0k") as desk:
        ...  # point AI_ASSETS_TICKETING_URL at desk.url
        assert desk.duplicates() == {}
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from ai_assets_tests.fakes.loopback import LoopbackServer, send_json

TICKETS = "/api/v2/tickets.json"


class TicketingServer(LoopbackServer):
    def __init__(self, token: str, faults: list | None = None, slow_s: float = 2.0) -> None:
        self.token, self.faults, self.slow_s = token, list(faults or []), slow_s
        self.tickets: list[dict] = []  # created, in order
        self.posts: list[str] = []  # the Idempotency-Key of every creation request, answered or not
        self.lookups: list[str] = []  # the external ids asked for
        self.authorizations: list[str] = []
        self._by_key: dict[str, dict] = {}
        self._lock = threading.Lock()
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
                send_json(self, status, body or {}, headers)

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "")
                desk.authorizations.append(given)
                if given == f"Bearer {desk.token}":
                    return True
                if given.startswith("Basic "):
                    user, _, token = base64.b64decode(given[6:]).decode().partition(":")
                    return user.endswith("/token") and token == desk.token
                return False

            def do_GET(self) -> None:  # noqa: N802 (http.server's hook name)
                url = urlsplit(self.path)
                if url.path != TICKETS or not self._authorized():
                    return self._answer(404 if url.path != TICKETS else 401, {"error": "Couldn't authenticate you"})
                external_id = parse_qs(url.query).get("external_id", [""])[0]
                with desk._lock:
                    desk.lookups.append(external_id)
                    found = [t for t in desk.tickets if t["external_id"] == external_id]
                self._answer(200, {"tickets": found, "count": len(found)})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != TICKETS or not self._authorized():
                    return self._answer(404 if self.path != TICKETS else 401, {"error": "Couldn't authenticate you"})
                key = self.headers.get("Idempotency-Key", "")
                with desk._lock:
                    desk.posts.append(key)
                    fault = desk.faults.pop(0) if desk.faults else None
                if isinstance(fault, int):
                    retry = {"Retry-After": "1"} if fault == 429 else {}
                    return self._answer(fault, {"error": f"injected HTTP {fault}"}, retry)
                ticket, hit = desk._create(key, body["ticket"])
                if fault == "slow":
                    desk._stall(desk.slow_s)
                self._answer(201, {"ticket": ticket}, {"x-idempotency-lookup": "hit" if hit else "miss"})

            def log_message(self, *args) -> None:
                pass

        self.url = self._listen(Handler)

    def _create(self, key: str, fields: dict) -> tuple[dict, bool]:
        """The ticket for the idempotency key `key`: the one created before, or a new one."""
        with self._lock:
            if key and key in self._by_key:
                return self._by_key[key], True
            ticket = {"id": len(self.tickets) + 1, "status": "new", **fields}
            self.tickets.append(ticket)
            if key:
                self._by_key[key] = ticket
            return ticket, False

    def duplicates(self) -> dict[str, int]:
        """External ids with more than one ticket, with how many."""
        with self._lock:
            return {key: n for key, n in Counter(t["external_id"] for t in self.tickets).items() if n > 1}
