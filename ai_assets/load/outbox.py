"""The outbox: actions to trigger, each with an idempotency key, delivered exactly once to a sink.

Actions are built only here, from structured columns (route status, urgency, customer id), and only
of the allow-listed types in `quality/vocabulary.ACTION_TYPES`: no text of a ticket or of an LLM
answer can add an action, change its type or pick its recipient.

Exactly once: an action's id is a hash of its type, ticket and day, so reruns produce the same
ids. Every send goes through the delivery ledger (`load/ledger.py`): a run claims an action there
before sending it, so overlapping runs never send the same action twice, and an action delivered is
never sent again. The JSONL sink is itself idempotent (under a file lock it skips ids already in
the file, which also covers a run that died between sending and recording); the webhook sink sends
the id as an `Idempotency-Key` header for the receiver to do the same.

Each action type goes to its own sink when one is configured (`Routes`: replies as e-mail through
SMTP, `smtp_sink.py`; escalations as tickets in a ticketing system, `ticketing_sink.py`), else to
the default sink (the webhook when configured, else the JSONL file).

A delivery step cannot stall its run: each request has a timeout, a sink that failed
`breaker_failures` actions in a row is not tried again in this step (its circuit is open), and
nothing is sent to a sink after its deadline. Breaker and deadline are per sink: a dead mail server
does not keep escalations from the ticketing system. What was not delivered stays `failed` for the
next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import polars as pl

from ai_assets.defs.outbox.tables import OUTBOX, OUTBOX_DELIVERIES
from ai_assets.load.http import http_call
from ai_assets.load.ledger import CLAIMED, DELIVERED, DeliveryLedger
from ai_assets.quality.vocabulary import ACTION_TYPES, SENDABLE_STATUSES
from ai_assets.secrets import scrub_secrets


def build_actions(routed: pl.DataFrame) -> pl.DataFrame:
    """One row per action: send the reply of every approved ticket, escalate every critical one
    (`routed`: ticket_outcomes with each ticket's `summary`, null where none was written)."""
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

    def send(self, action: dict, timeout_s: float) -> None: ...


class Undeliverable(Exception):
    """The action cannot be delivered as the data stands (e.g. its customer has no e-mail address):
    not retried in this step and no sign of a failing sink; the next run tries it again."""


@dataclass(frozen=True)
class Routes:
    """Which sink delivers each action type: its own when configured, else `default`."""

    default: Sink
    by_type: Mapping[str, Sink] = field(default_factory=dict)

    def sink_for(self, action_type: str) -> Sink:
        return self.by_type.get(action_type, self.default)

    def split(self, actions: pl.DataFrame) -> list[tuple[Sink, pl.DataFrame]]:
        """The actions of each sink, sinks in the order of ACTION_TYPES, actions in their order."""
        sinks = {self.sink_for(t).name: self.sink_for(t) for t in ACTION_TYPES}
        names = actions["action_type"].replace_strict({t: self.sink_for(t).name for t in ACTION_TYPES})
        return [(sink, actions.filter(names == name)) for name, sink in sinks.items()]


@contextmanager
def locked_file(path: Path, catch_up: Callable[[BinaryIO], None]) -> Iterator[BinaryIO]:
    """`path` open for appending under an exclusive lock, after `catch_up` read what other processes
    appended since the last look: what is looked at and what is appended agree."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            catch_up(handle)
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _line(action: dict) -> dict:
    """The action as sinks publish it: its outbox row, the payload as an object."""
    return {**{k: action[k] for k in OUTBOX.column_names}, "payload": json.loads(action["payload"])}


@dataclass
class JsonlSink:
    """Appends one JSON line per action (the default, `data/outbox/actions.jsonl`).

    Every look and every append happen under an exclusive lock on the file, after reading what
    other processes appended since: two processes never append the same id. A last line without
    its newline is the trace of a write cut short: it is completed when it holds a whole action
    and cut off otherwise (that action was not delivered, and will be)."""

    path: Path
    name: str = "jsonl"
    _ids: set[str] = field(default_factory=set, init=False, repr=False)
    _offset: int = field(default=0, init=False, repr=False)  # bytes of whole lines read so far
    _lines: int = field(default=0, init=False, repr=False)

    def _locked(self) -> AbstractContextManager[BinaryIO]:
        return locked_file(self.path, self._catch_up)

    def _catch_up(self, handle: BinaryIO) -> None:
        if os.fstat(handle.fileno()).st_size < self._offset:  # truncated or replaced by someone: read it again
            self._ids, self._offset, self._lines = set(), 0, 0
        handle.seek(self._offset)
        data = handle.read()
        whole = data.rfind(b"\n") + 1
        lines = data[:whole].splitlines()
        ids = {self._action_id(line, self._lines + n) for n, line in enumerate(lines, 1) if line.strip()}
        self._ids |= ids
        self._offset, self._lines = self._offset + whole, self._lines + len(lines)
        torn = data[whole:]
        if torn:
            try:
                self._ids.add(self._action_id(torn, self._lines + 1))
                handle.write(b"\n")  # a whole action that only lacks its newline
                self._offset, self._lines = self._offset + len(torn) + 1, self._lines + 1
            except ValueError:
                os.ftruncate(handle.fileno(), self._offset)
            handle.flush()
            os.fsync(handle.fileno())

    def _action_id(self, line: bytes, number: int) -> str:
        try:
            return json.loads(line)["action_id"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"{self.path}, line {number}, is not an action (a JSON object with an action_id): "
                "fix or remove that line; no action is sent to this file until then"
            ) from None

    def already_has(self, action_id: str) -> bool:
        with self._locked():
            return action_id in self._ids

    def send(self, action: dict, timeout_s: float = 0.0) -> None:
        with self._locked() as handle:
            if action["action_id"] in self._ids:  # appended by another process since we looked
                return
            line = (json.dumps(_line(action), ensure_ascii=False, default=str) + "\n").encode()
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
            self._ids.add(action["action_id"])
            self._offset += len(line)
            self._lines += 1


@dataclass
class WebhookSink:
    """POSTs each action as JSON, with its id as the `Idempotency-Key` header."""

    url: str
    timeout_s: float = 10.0
    name: str = "webhook"

    def already_has(self, action_id: str) -> bool:
        return False  # the receiver deduplicates on the Idempotency-Key

    def send(self, action: dict, timeout_s: float | None = None) -> None:
        timeout = min(self.timeout_s, timeout_s) if timeout_s is not None else self.timeout_s
        body = json.dumps(_line(action), default=str).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": action["action_id"]},
        )
        http_call(request, timeout, "webhook")


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard one delivery step tries (from the AI_ASSETS_OUTBOX_* settings)."""

    max_attempts: int = 3  # per action and step, with exponential backoff between attempts
    backoff_s: float = 1.0
    deadline_s: float = 300.0  # nothing is sent to a sink after this long; the rest stays failed for the next run
    breaker_failures: int = 5  # actions failed in a row after which the sink is not tried again in this step


# How long a claim outlives its claimant's deadline before another run may take it over: the time
# to record the outcome of the last request.
LEASE_GRACE_S = 30.0


@dataclass
class DeliveryReport:
    """What one delivery step did, by action id."""

    sent: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # already in the sink: sent by a run that died before recording
    failed: list[str] = field(default_factory=list)  # tried, and failed every attempt
    not_attempted: list[str] = field(default_factory=list)  # circuit open or deadline passed
    elsewhere: list[str] = field(default_factory=list)  # another run is delivering them right now
    errors: dict[str, str] = field(default_factory=dict)  # action id -> last error, for failed and not attempted
    stops: dict[str, str] = field(default_factory=dict)  # sink -> why the step stopped sending to it
    sink_of: dict[str, str] = field(default_factory=dict)  # action id -> the sink it went (or was to go) to

    @property
    def stopped(self) -> str | None:
        """Why the step stopped sending to some sink before the end, if it did."""
        return "; ".join(self.stops.values()) or None

    def by_sink(self) -> dict[str, dict[str, int]]:
        """Per sink, the actions of each outcome of this step."""
        outcomes = ("sent", "found", "failed", "not_attempted", "elsewhere")
        counts = {name: dict.fromkeys(outcomes, 0) for name in dict.fromkeys(self.sink_of.values())}
        for outcome in outcomes:
            for action_id in getattr(self, outcome):
                counts[self.sink_of[action_id]][outcome] += 1
        return counts

    @property
    def due(self) -> int:
        """Actions this step was responsible for (not delivered before, not in another run's hands)."""
        return len(self.sent) + len(self.found) + len(self.failed) + len(self.not_attempted)

    @property
    def undelivered(self) -> int:
        return len(self.failed) + len(self.not_attempted)

    @property
    def mostly_failed(self) -> bool:
        return self.undelivered * 2 > self.due


def deliver(
    actions: pl.DataFrame,
    previous: pl.DataFrame,
    sinks: Sink | Routes,
    ledger: DeliveryLedger,
    policy: DeliveryPolicy,
    days: Sequence[date],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Sends every action of `days` not delivered yet to its sink, each only after claiming it in
    the ledger, and records the outcome there (`delivery_table` reads it back). `previous` is the
    warehouse's record of these days, adopted by a ledger that does not know it yet."""
    routes = sinks if isinstance(sinks, Routes) else Routes(sinks)
    ledger.adopt(previous)
    ledger.withdraw_unwanted(days, actions["action_id"])
    report = DeliveryReport()
    for sink, sink_actions in routes.split(actions):
        _deliver_to(sink, sink_actions, ledger, policy, report, sleep, clock)
    return report


def _deliver_to(
    sink: Sink,
    actions: pl.DataFrame,
    ledger: DeliveryLedger,
    policy: DeliveryPolicy,
    report: DeliveryReport,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """The actions of one sink, under the sink's own circuit breaker and deadline."""
    deliver_until = clock() + policy.deadline_s
    in_a_row = 0
    for action in actions.iter_rows(named=True):
        action_id, day = action["action_id"], action["created_date"]
        report.sink_of[action_id] = sink.name
        if sink.name not in report.stops and in_a_row >= policy.breaker_failures:
            report.stops[sink.name] = f"{sink.name} sink circuit open after {in_a_row} consecutive failures"
        if sink.name not in report.stops and clock() >= deliver_until:
            report.stops[sink.name] = f"delivery deadline of {policy.deadline_s:g} s passed"
        if sink.name in report.stops:
            reason = f"not attempted: {report.stops[sink.name]}"
            if ledger.mark_not_attempted(action_id, day, sink.name, reason):
                report.not_attempted.append(action_id)
                report.errors[action_id] = reason
            continue
        claim = ledger.claim(action_id, day, sink.name, lease_s=deliver_until - clock() + LEASE_GRACE_S)
        if claim is None:
            if ledger.rows([action_id])[action_id].status == CLAIMED:
                report.elsewhere.append(action_id)
            continue
        error, attempts, sink_failed = _send(action, sink, claim.attempts, policy, deliver_until, sleep, clock, report)
        if error is None:
            ledger.mark_delivered(action_id, sink.name, attempts)
            in_a_row = 0
        else:
            ledger.mark_failed(action_id, sink.name, attempts, error)
            report.failed.append(action_id)
            report.errors[action_id] = error
            if sink_failed:  # a customer without an address says nothing about the sink
                in_a_row += 1


def _send(
    action: dict,
    sink: Sink,
    attempts: int,
    policy: DeliveryPolicy,
    deliver_until: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    report: DeliveryReport,
) -> tuple[str | None, int, bool]:
    """Sends one claimed action, retrying with backoff within the deadline: (error or None,
    attempts, whether the failure is the sink's rather than the action's)."""
    try:
        if sink.already_has(action["action_id"]):  # sent by a run that died before recording it
            report.found.append(action["action_id"])
            return None, attempts, False
    except Exception as exc:  # the sink cannot tell: sending could double the action
        return scrub_secrets(str(exc))[:500], attempts, True
    error = None
    for attempt in range(policy.max_attempts):
        if attempt:
            pause = policy.backoff_s * 2 ** (attempt - 1)
            if clock() + pause >= deliver_until:
                break
            sleep(pause)
        attempts += 1
        try:
            sink.send(action, timeout_s=max(deliver_until - clock(), 0.1))
            report.sent.append(action["action_id"])
            return None, attempts, False
        except Undeliverable as exc:  # the data, not the sink: trying again now would change nothing
            return scrub_secrets(str(exc))[:500], attempts, False
        except Exception as exc:  # a sink error is data (status failed), never a crashed step
            error = scrub_secrets(str(exc))[:500]
    return error or f"not attempted: delivery deadline of {policy.deadline_s:g} s passed", attempts, True


def delivery_table(
    actions: pl.DataFrame, previous: pl.DataFrame, ledger: DeliveryLedger, sinks: str | Routes
) -> pl.DataFrame:
    """One `outbox_deliveries` row per action of `actions`, as the ledger has it now, plus the
    actions delivered earlier that are no longer wanted (they were sent, so they stay on record).
    `sinks` names the sink of an action the ledger does not know (one name, or by action type)."""
    known = ledger.rows(actions["action_id"])
    now = time.time()
    rows = []
    for action in actions.iter_rows(named=True):
        row = known.get(action["action_id"])
        record = {k: action[k] for k in ("action_id", "ticket_id", "created_date", "action_type")}
        sink = sinks if isinstance(sinks, str) else sinks.sink_for(action["action_type"]).name
        if row is None:  # the delivery step stopped before this action (it crashed): nothing was sent
            rows.append({**record, "status": "failed", "attempts": 0, "last_error": "not attempted", "sink": sink})
            continue
        error = row.last_error
        if row.status == CLAIMED:
            error = (
                f"being delivered by run {row.claimed_by} (claim held until "
                f"{datetime.fromtimestamp(row.lease_until).isoformat(timespec='seconds')})"
                if row.lease_until and row.lease_until > now
                else f"not recorded: run {row.claimed_by} stopped while delivering it; the next run asks the sink"
                " and retries"
            )
        delivered = row.status == DELIVERED
        rows.append(
            {
                **record,
                "status": "delivered" if delivered else "failed",
                "attempts": row.attempts,
                "last_error": None if delivered else error or "not delivered",
                "delivered_at": row.delivered_at,
                "sink": row.sink or sink,
            }
        )
    wanted = set(actions["action_id"])
    kept = previous.filter((pl.col("status") == "delivered") & ~pl.col("action_id").is_in(list(wanted)))
    table = pl.DataFrame(rows, schema=OUTBOX_DELIVERIES.polars_schema)
    return pl.concat([table, kept.select(OUTBOX_DELIVERIES.column_names)]).sort("action_id")
