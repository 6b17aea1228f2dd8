"""`escalate` actions as tickets in a ticketing system, through the REST API shape of Zendesk's
Support API (`POST <base>/api/v2/tickets.json`), which Zendesk-compatible help desks and small
adapters in front of Jira Service Management and others accept.

Exactly once: the ticket carries the action id as its `external_id`, and the request as its
`Idempotency-Key` (a retry after a timeout gets the first ticket back instead of a second). A run
that died between creating the ticket and recording it asks the system first
(`GET <base>/api/v2/tickets.json?external_id=<action id>`, read straight from the ticket store,
not the search index that lags behind), and creates nothing when the ticket is there.

The requester is the customer as the CRM has them (structured columns only); the escalation text
is an internal note (`public: false`), so the customer is never sent the LLM's summary.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ai_assets.load.contacts import SUBJECT_CHARS, is_email_address, one_line
from ai_assets.load.http import HttpStatusError, http_call
from ai_assets.secrets import from_environment

# The API token comes from the environment when the sink calls, never from a setting (see config.py).
TOKEN_VARIABLE = "AI_ASSETS_TICKETING_TOKEN"
# The ticket's urgency (from the triage) as the system's priority.
PRIORITIES = {"critical": "urgent", "high": "high", "medium": "normal", "low": "low"}
TAGS = ("ai_assets", "escalation")


def ticket_request(action: dict) -> dict:
    """The body that creates the ticket of an `escalate` action (an outbox row with its delivery
    contacts, see `contacts.with_contacts`)."""
    payload = json.loads(action["payload"])
    subject = one_line(action.get("ticket_subject") or "")[:SUBJECT_CHARS] or f"ticket {payload['ticket_id']}"
    reasons = "; ".join(payload.get("reasons") or []) or "none given"
    body = "\n".join(
        [
            f"Escalated by ai_assets: support ticket {payload['ticket_id']} of customer {payload['customer_id']}"
            f" is {action.get('urgency') or 'critical'}.",
            "",
            f"Summary (by an LLM, unverified): {payload.get('summary') or '-'}",
            f"Review reasons: {reasons}",
            f"Action id: {action['action_id']}",
        ]
    )
    ticket = {
        "subject": f"Escalation: {subject}",
        "comment": {"body": body, "public": False},
        "priority": PRIORITIES.get(action.get("urgency") or "critical", "urgent"),
        "external_id": action["action_id"],
        "tags": list(TAGS),
    }
    email = (action.get("customer_email") or "").strip()
    if is_email_address(email):
        ticket["requester"] = {"name": one_line(action.get("customer_name") or "") or email, "email": email}
    return {"ticket": ticket}


@dataclass
class TicketingSink:
    """Creates one ticket per `escalate` action; `email` set: basic auth as `<email>/token`, else a
    bearer token."""

    base_url: str
    email: str | None = None
    timeout_s: float = 10.0
    name: str = "ticketing"

    def _request(self, path: str, body: dict | None = None, headers: dict | None = None) -> urllib.request.Request:
        token = from_environment(TOKEN_VARIABLE)
        if self.email:
            auth = "Basic " + base64.b64encode(f"{self.email}/token:{token}".encode()).decode()
        else:
            auth = f"Bearer {token}"
        return urllib.request.Request(
            f"{self.base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Accept": "application/json", "Authorization": auth, "Content-Type": "application/json"}
            | (headers or {}),
        )

    def already_has(self, action_id: str) -> bool:
        query = urllib.parse.urlencode({"external_id": action_id})
        answer = self._call(self._request(f"/api/v2/tickets.json?{query}"), self.timeout_s)
        return any(ticket.get("external_id") == action_id for ticket in json.loads(answer).get("tickets", []))

    def send(self, action: dict, timeout_s: float | None = None) -> None:
        timeout = min(self.timeout_s, timeout_s) if timeout_s is not None else self.timeout_s
        request = self._request(
            "/api/v2/tickets.json", ticket_request(action), {"Idempotency-Key": action["action_id"]}
        )
        self._call(request, timeout)

    def _call(self, request: urllib.request.Request, timeout: float) -> bytes:
        try:
            return http_call(request, timeout, f"ticketing system {self.base_url}")
        except HttpStatusError as error:
            if error.status in (401, 403):
                raise RuntimeError(f"{error}: check {TOKEN_VARIABLE} and AI_ASSETS_TICKETING_EMAIL") from None
            wait = f" (Retry-After: {error.retry_after} s)" if error.retry_after else ""
            raise RuntimeError(f"{error}{wait}: {one_line(error.body)}"[:500]) from None
