"""The provider's limits held across machines: with AI_ASSETS_STATE_URL, every worker takes its
requests-per-minute and tokens-per-minute from one pair of token buckets in PostgreSQL, and its
requests in flight from one pool of slots there, per endpoint and model.

Each process keeps its own `RateLimiter` (AIMD on 429s, the provider's pauses); before a request
leaves, it also takes a permit here, in one transaction that locks the bucket row, so two workers
never both spend the last permit. The database's clock refills the buckets, so workers' clocks
need not agree. A slot is a lease: a worker killed mid-request gives it back when the lease ends.
"""

from __future__ import annotations

import random
import threading
import uuid

from ai_assets.state import Statements, connect, create_tables

_TABLES = [
    "CREATE TABLE IF NOT EXISTS llm_rate_buckets (name TEXT PRIMARY KEY, requests REAL, tokens REAL, updated REAL)",
    "CREATE TABLE IF NOT EXISTS llm_slots (slot TEXT PRIMARY KEY, name TEXT NOT NULL, expires REAL NOT NULL)",
]
_NOW = "extract(epoch from clock_timestamp())::float8"  # the database's clock, in seconds
SLOT_LEASE_S = 900.0  # longer than any request with its retries; a dead worker's slot frees after it
_POLL_S = 0.05


class SharedRateLimit:
    """Permits for requests to `name` (an endpoint and model) across every worker sharing `url`."""

    def __init__(
        self,
        url: str,
        name: str,
        max_concurrency: int,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
    ) -> None:
        self.name, self.max_concurrency = name, max_concurrency
        self._rpm, self._tpm = requests_per_minute, tokens_per_minute
        self._conn = connect(url)
        self._lock = threading.Lock()  # one connection, many calling threads: one transaction at a time
        self._stopped = threading.Event()
        create_tables(self._conn, _TABLES)
        rpm, tpm = requests_per_minute or 0.0, tokens_per_minute or 0.0
        Statements(self._conn).execute(
            f"INSERT INTO llm_rate_buckets VALUES (?, ?, ?, {_NOW}) ON CONFLICT (name) DO NOTHING",
            (name, max(1.0, rpm / 60), max(1.0, tpm / 60)),
        )

    def acquire(self, estimated_tokens: int) -> str:
        """Blocks until a slot and the permits are this worker's; returns the slot to release."""
        slot, polls = uuid.uuid4().hex, 0
        while not self._stopped.is_set():
            with self._lock:
                wait = self._try(slot, estimated_tokens)
            if wait <= 0:
                return slot
            # Waiting for a slot has no known end: back off, with jitter, so that many waiting
            # workers do not take turns locking the bucket's row every few milliseconds.
            polls += 1
            backoff = min(1.0, _POLL_S * 1.5**polls)
            self._stopped.wait(max(wait, backoff) * random.uniform(1.0, 1.5))
        raise RuntimeError(f"stopped waiting for a permit of {self.name}")

    def stop(self) -> None:
        """Every waiting `acquire` gives up (the step is over)."""
        self._stopped.set()

    def release(self, slot: str) -> None:
        with self._lock:
            Statements(self._conn).execute("DELETE FROM llm_slots WHERE slot = ?", (slot,))

    def close(self) -> None:
        self._conn.close()

    def _try(self, slot: str, tokens: int) -> float:
        """In one transaction: 0 when the slot and permits were taken, else how long to wait."""
        db = Statements(self._conn)
        db.execute("BEGIN")
        try:
            wait = self._take(db, slot, tokens)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return wait

    def _take(self, db: Statements, slot: str, tokens: int) -> float:
        rpm, tpm = self._rpm or 0.0, self._tpm or 0.0
        # The bucket's row lock serialises every worker's take, the slots' count included.
        requests, available_tokens, updated, now = db.execute(
            f"SELECT requests, tokens, updated, {_NOW} FROM llm_rate_buckets WHERE name = ? FOR UPDATE",
            (self.name,),
        ).fetchone()
        db.execute("DELETE FROM llm_slots WHERE name = ? AND expires < ?", (self.name, now))
        (flying,) = db.execute("SELECT count(*) FROM llm_slots WHERE name = ?", (self.name,)).fetchone()
        requests = _refill(requests, now - updated, rpm)
        available_tokens = _refill(available_tokens, now - updated, tpm)
        needed_tokens = min(tokens, max(1.0, tpm / 60))  # a request larger than the burst needs a full bucket
        waits = [
            _POLL_S if flying >= self.max_concurrency else 0.0,
            (1 - requests) * 60 / rpm if rpm and requests < 1 else 0.0,
            (needed_tokens - available_tokens) * 60 / tpm if tpm and available_tokens < needed_tokens else 0.0,
        ]
        if max(waits) > 0:
            return max(waits)  # nothing taken: the bucket refills from `updated` as it stands
        requests -= 1 if rpm else 0
        available_tokens -= needed_tokens if tpm else 0
        db.execute("INSERT INTO llm_slots VALUES (?, ?, ?)", (slot, self.name, now + SLOT_LEASE_S))
        db.execute(
            "UPDATE llm_rate_buckets SET requests = ?, tokens = ?, updated = ? WHERE name = ?",
            (requests, available_tokens, now, self.name),
        )
        return 0.0


def _refill(level: float, elapsed_s: float, per_minute: float) -> float:
    """A bucket of one second's worth (at least one), refilled for `elapsed_s`."""
    if not per_minute:
        return 1.0
    capacity = max(1.0, per_minute / 60)
    return min(capacity, level + max(0.0, elapsed_s) * per_minute / 60)
