"""The delivery ledger: one row per action, shared by every run and every sink, so that an action
is sent at most once whatever runs overlap.

A run claims an action before sending it, in one SQLite transaction (`BEGIN IMMEDIATE` takes the
file's write lock, so the claims of concurrent processes are serialised); only the claimant sends,
then it marks the action delivered or failed. A claim carries a lease: the latest time its
claimant can still be sending (the end of its delivery deadline, plus a grace). A claim whose lease
ran out was left by a run that died between claiming and marking: the action may have been sent.
It is never resent blindly: the next claimant asks the sink first (the JSONL sink looks in its
file), and a webhook gets the action again under the same `Idempotency-Key`, which the receiver
deduplicates on.

The ledger is a database of its own, not a warehouse table: a claim never depends on holding the
warehouse connection while a slow sink is called. It is a SQLite file (`outbox/ledger.sqlite`) on
one machine, or PostgreSQL (AI_ASSETS_STATE_URL) shared by every machine, where a claim locks its
row (`SELECT ... FOR UPDATE`) instead of the file. The warehouse table `outbox_deliveries` is the
ledger's view of a day, written after sending.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from ai_assets.state import Statements, connect, create_tables, is_postgres_url, marks

# The ledger's states of an action. `claimed`: a run is sending it; `withdrawn`: it failed, then
# stopped being an action (e.g. a reviewer rejected the reply), so nothing retries it.
CLAIMED, DELIVERED, FAILED, WITHDRAWN = "claimed", "delivered", "failed", "withdrawn"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS deliveries (
    action_id    TEXT PRIMARY KEY,
    created_date TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('{CLAIMED}', '{DELIVERED}', '{FAILED}', '{WITHDRAWN}')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sink         TEXT,
    delivered_at TEXT,
    claimed_by   TEXT,
    lease_until  REAL
)
"""
# Both databases take `INSERT ... ON CONFLICT DO NOTHING`; only these differ.
_INSERT_NEW = "INSERT INTO deliveries ({columns}) VALUES ({values}) ON CONFLICT (action_id) DO NOTHING"


@dataclass(frozen=True)
class Claim:
    """The right to send one action, held until it is marked delivered or failed."""

    action_id: str
    attempts: int  # attempts made before this claim, by any run


@dataclass(frozen=True)
class LedgerRow:
    action_id: str
    status: str
    attempts: int
    last_error: str | None
    sink: str | None
    delivered_at: datetime | None
    claimed_by: str | None
    lease_until: float | None


def default_owner(run_id: str | None = None) -> str:
    """Who holds a claim: host, process and run, so a stuck claim can be traced to its run."""
    return f"{socket.gethostname()}:{os.getpid()}:{run_id or uuid.uuid4().hex[:12]}"


class DeliveryLedger:
    """The ledger at `location` (a SQLite file, or a PostgreSQL URL), used by `owner` (a run)."""

    def __init__(self, location: Path | str, owner: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.owner, self._clock, self.location = owner or default_owner(), clock, location
        self._conn = connect(location)
        self._postgres = is_postgres_url(location)
        if self._postgres and clock is time.time:
            # Leases are compared across machines: by the database's clock, not each machine's own.
            self._clock = self._database_clock
        if not self._postgres:
            self._conn.execute("PRAGMA busy_timeout = 60000")
            # A claim or a delivery that was committed must survive a power cut: no double send after it.
            self._conn.execute("PRAGMA synchronous = FULL")
            # Switching a new file to WAL does not wait for a busy file, it fails ("database is locked"):
            # two runs opening the ledger for the first time at once take turns.
            with open(f"{location}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._conn.execute("PRAGMA journal_mode = WAL")
        create_tables(self._conn, [_SCHEMA])

    def _database_clock(self) -> float:
        return Statements(self._conn).execute("SELECT extract(epoch from clock_timestamp())::float8").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> DeliveryLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Statements]:
        statements = Statements(self._conn)
        # SQLite: the file's write lock, up front: no two claimants read the same state. PostgreSQL:
        # the rows a claim reads are locked FOR UPDATE (`_due`).
        statements.execute("BEGIN" if self._postgres else "BEGIN IMMEDIATE")
        try:
            yield statements
            statements.execute("COMMIT")
        except BaseException:
            statements.execute("ROLLBACK")
            raise

    def adopt(self, rows: pl.DataFrame) -> None:
        """Records the warehouse's delivery rows the ledger does not know yet (written before the
        ledger existed, or with its file lost): what was delivered stays delivered."""
        if rows.is_empty():
            return
        records = [
            (r["action_id"], str(r["created_date"]), r["status"], r["attempts"], r["last_error"], r["sink"])
            + (r["delivered_at"].isoformat() if r["delivered_at"] else None,)
            for r in rows.iter_rows(named=True)
        ]
        columns = "action_id, created_date, status, attempts, last_error, sink, delivered_at"
        with self._transaction() as conn:
            conn.executemany(_INSERT_NEW.format(columns=columns, values="?, ?, ?, ?, ?, ?, ?"), records)

    def _due(self, conn: Statements, action_id: str, day: date, sink: str) -> tuple[str, int] | None:
        """In a transaction: the action's status and attempts so far (a new row, failed and never
        tried, when the ledger does not know it); None when it is delivered or another run's live
        claim holds it."""
        conn.execute(
            _INSERT_NEW.format(columns="action_id, created_date, status, sink", values="?, ?, ?, ?"),
            (action_id, day.isoformat(), FAILED, sink),
        )
        lock = " FOR UPDATE" if self._postgres else ""  # SQLite: the transaction holds the file's lock
        status, attempts, lease_until = conn.execute(
            f"SELECT status, attempts, lease_until FROM deliveries WHERE action_id = ?{lock}", (action_id,)
        ).fetchone()
        if status == DELIVERED or (status == CLAIMED and lease_until > self._clock()):
            return None
        return status, attempts

    def claim(self, action_id: str, day: date, sink: str, lease_s: float) -> Claim | None:
        """Claims the action for `lease_s` seconds; None when it is delivered or another run's live
        claim holds it."""
        with self._transaction() as conn:
            due = self._due(conn, action_id, day, sink)
            if due is None:
                return None
            # A new or failed action, or one a dead run left claimed (it may have been sent: the sink is asked first).
            conn.execute(
                "UPDATE deliveries SET status = ?, sink = ?, claimed_by = ?, lease_until = ? WHERE action_id = ?",
                (CLAIMED, sink, self.owner, self._clock() + lease_s, action_id),
            )
            return Claim(action_id, due[1])

    def mark_delivered(self, action_id: str, sink: str, attempts: int) -> None:
        # Unconditional but for an earlier delivery: whoever holds the claim, the action was delivered.
        with self._transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, last_error = NULL, sink = ?, delivered_at = ?,"
                " claimed_by = NULL, lease_until = NULL WHERE action_id = ? AND status != ?",
                (DELIVERED, attempts, sink, datetime.now(UTC).replace(tzinfo=None).isoformat(), action_id, DELIVERED),
            )

    def mark_failed(self, action_id: str, sink: str, attempts: int, error: str) -> None:
        # Only the claimant's own claim: a run that took over an expired claim owns the outcome now.
        with self._transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, sink = ?, claimed_by = NULL,"
                " lease_until = NULL WHERE action_id = ? AND status = ? AND claimed_by = ?",
                (FAILED, attempts, error, sink, action_id, CLAIMED, self.owner),
            )

    def mark_not_attempted(self, action_id: str, day: date, sink: str, reason: str) -> bool:
        """Records why an action due was not tried; False when it needs nothing (delivered, or in
        another run's hands)."""
        with self._transaction() as conn:
            due = self._due(conn, action_id, day, sink)
            if due is None:
                return False
            # An abandoned claim stays claimed: the next claimant still has to ask the sink first.
            if due[0] != CLAIMED:
                conn.execute(
                    "UPDATE deliveries SET status = ?, last_error = ? WHERE action_id = ?", (FAILED, reason, action_id)
                )
            return True

    def withdraw_unwanted(self, days: Sequence[date], wanted: Iterable[str]) -> None:
        """Failed actions of `days` that are no longer actions stop being retried."""
        days, wanted = [d.isoformat() for d in days], list(wanted)
        if not days:
            return
        with self._transaction() as conn:
            failed = conn.execute(
                f"SELECT action_id FROM deliveries WHERE status = ? AND created_date IN ({marks(days)})",
                (FAILED, *days),
            ).fetchall()
            unwanted = sorted({action for (action,) in failed} - set(wanted))
            if unwanted:
                conn.execute(
                    f"UPDATE deliveries SET status = ? WHERE status = ? AND action_id IN ({marks(unwanted)})",
                    (WITHDRAWN, FAILED, *unwanted),
                )

    def rows(self, action_ids: Iterable[str]) -> dict[str, LedgerRow]:
        action_ids = list(action_ids)
        if not action_ids:
            return {}
        found = (
            Statements(self._conn)
            .execute(
                "SELECT action_id, status, attempts, last_error, sink, delivered_at, claimed_by, lease_until"
                f" FROM deliveries WHERE action_id IN ({marks(action_ids)})",
                action_ids,
            )
            .fetchall()
        )
        return {r[0]: LedgerRow(*r[:5], datetime.fromisoformat(r[5]) if r[5] else None, r[6], r[7]) for r in found}

    def days_to_retry(self) -> list[str]:
        """The days with an action failed, or claimed by a run that died: what a retry run is for."""
        found = (
            Statements(self._conn)
            .execute(
                "SELECT DISTINCT created_date FROM deliveries WHERE status = ? OR (status = ? AND lease_until <= ?)"
                " ORDER BY 1",
                (FAILED, CLAIMED, self._clock()),
            )
            .fetchall()
        )
        return [day for (day,) in found]


def days_to_retry(location: Path | str) -> list[str]:
    """`DeliveryLedger.days_to_retry` of the ledger at `location`, without creating a SQLite file."""
    if not is_postgres_url(location) and not Path(location).exists():
        return []
    with DeliveryLedger(location) as ledger:
        return ledger.days_to_retry()
