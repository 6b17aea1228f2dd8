"""The outbox: actions to trigger, each with an idempotency key, delivered exactly once to a sink.

Actions are built only here, from structured columns (route status, urgency, customer id), and only
of the allow-listed types in `quality/vocabulary.ACTION_TYPES`: no text of a ticket or of an LLM
answer can add an action, change its type or pick its recipient.

Exactly once: an action's id is a hash of its type, ticket and day, so reruns produce the same
ids; an action already delivered is never sent again. The JSONL sink is itself idempotent (it
skips ids already in the file, which also covers a crash between sending and recording); the
webhook sink sends the id as an `Idempotency-Key` header for the receiver to do the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from ai_assets.quality.tables import OUTBOX_DELIVERIES
from ai_assets.quality.vocabulary import ACTION_TYPES, SENDABLE_STATUSES


def build_actions(routed: pl.DataFrame) -> pl.DataFrame:
    """One row per action: send the reply of every approved ticket, escalate every critical one."""
    replies = routed.filter(pl.col("status").is_in(SENDABLE_STATUSES) & pl.col("final_reply").is_not_null()).select(
        "ticket_id",
        "created_date",
        action_type=pl.lit("send_reply"),
        payload=pl.struct(customer_id="customer_id", ticket_id="ticket_id", reply="final_reply").struct.json_encode(),
    )
    escalations = routed.filter(pl.col("urgency") == "critical").select(
        "ticket_id",
        "created_date",
        action_type=pl.lit("escalate"),
        payload=pl.struct(
            customer_id="customer_id", ticket_id="ticket_id", summary="summary", reasons="reasons"
        ).struct.json_encode(),
    )
    actions = pl.concat([replies, escalations])
    if not set(actions["action_type"].unique()) <= set(ACTION_TYPES):  # the allow-list, by construction
        raise ValueError(f"action types outside the allow-list {ACTION_TYPES}")
    key = pl.concat_str("action_type", "ticket_id", pl.col("created_date").cast(pl.Utf8), separator=":")
    return actions.select(
        action_id=key.map_elements(lambda k: hashlib.sha256(k.encode()).hexdigest()[:24], return_dtype=pl.Utf8),
        ticket_id="ticket_id",
        created_date="created_date",
        action_type="action_type",
        payload="payload",
    ).sort("action_id")


class Sink(Protocol):
    name: str

    def already_has(self, action_id: str) -> bool: ...

    def send(self, action: dict) -> None: ...


@dataclass
class JsonlSink:
    """Appends one JSON line per action (the default, `data/outbox/actions.jsonl`)."""

    path: Path
    name: str = "jsonl"
    # The ids already in the file, read once per delivery step rather than once per action.
    _sent: set[str] | None = field(default=None, init=False, repr=False)

    def already_has(self, action_id: str) -> bool:
        if self._sent is None:
            lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
            self._sent = {json.loads(line)["action_id"] for line in lines if line.strip()}
        return action_id in self._sent

    def send(self, action: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({**action, "payload": json.loads(action["payload"])}, ensure_ascii=False, default=str)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        if self._sent is not None:
            self._sent.add(action["action_id"])


@dataclass
class WebhookSink:
    """POSTs each action as JSON, with its id as the `Idempotency-Key` header."""

    url: str
    timeout_s: float = 10.0
    name: str = "webhook"

    def already_has(self, action_id: str) -> bool:
        return False  # the receiver deduplicates on the Idempotency-Key

    def send(self, action: dict) -> None:
        body = json.dumps({**action, "payload": json.loads(action["payload"])}, default=str).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": action["action_id"]},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"webhook answered HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise RuntimeError(f"webhook unreachable: {getattr(error, 'reason', error)}") from None


def deliver(
    actions: pl.DataFrame,
    previous: pl.DataFrame,
    sink: Sink,
    max_attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> pl.DataFrame:
    """Delivery state for `actions` plus anything delivered before: actions already `delivered`
    are kept as they are; the others are sent, retried up to `max_attempts` times with exponential
    backoff, and recorded as `delivered` or `failed` with the error (a later run tries again)."""
    done = {row["action_id"]: row for row in previous.iter_rows(named=True)}
    rows = []
    for action in actions.iter_rows(named=True):
        before = done.pop(action["action_id"], None)
        if before and before["status"] == "delivered":
            rows.append(before)
            continue
        attempts, error = (before or {}).get("attempts") or 0, None
        delivered = sink.already_has(action["action_id"])  # sent, but not recorded, by a crashed run
        for attempt in range(max_attempts if not delivered else 0):
            if attempt:
                sleep(backoff_s * 2 ** (attempt - 1))
            attempts += 1
            try:
                sink.send(action)
                delivered, error = True, None
                break
            except Exception as exc:  # a sink error is data (status failed), never a crashed step
                error = str(exc)[:500]
        rows.append(
            {
                **{k: action[k] for k in ("action_id", "ticket_id", "created_date", "action_type")},
                "status": "delivered" if delivered else "failed",
                "attempts": attempts,
                "last_error": error,
                "delivered_at": datetime.now(UTC).replace(tzinfo=None) if delivered else None,
                "sink": sink.name,
            }
        )
    rows.extend(done.values())  # delivered earlier, no longer wanted: it was sent, so it stays on record
    return pl.DataFrame(rows, schema=OUTBOX_DELIVERIES.polars_schema).sort("action_id")
