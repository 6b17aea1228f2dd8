"""Persistent caches, so an unchanged rerun makes zero requests: chat answers and embedding vectors.

One implementation, `StateCache` (a key -> row table), under both: a SQLite file on one machine,
or a table in PostgreSQL (AI_ASSETS_STATE_URL, `ai_assets/state.py`) that every machine shares, so
an answer one machine paid for is never asked again by another. Not the DuckDB warehouse: a cache
is written by many concurrent calls and by parallel runs, which DuckDB's one-writer-per-file rule
would serialise or refuse. Only validated answers are stored, in
their validated (normalised) JSON form, so a cache hit needs no re-validation; a failed call or an
invalid answer is never cached. Each answer is committed as it arrives: a run killed mid-step
loses none of the answers it already paid for.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ai_assets.state import Statements, connect, create_tables, is_postgres_url

_LOOKUP_CHUNK = 500  # below SQLite's bound-parameter limit


class StateCache:
    """Rows by key in one table, shared by concurrent calls and parallel runs: of a SQLite file, or
    of a PostgreSQL database (`location`, a URL)."""

    def __init__(self, location: Path | str, table: str, columns: Mapping[str, str]):
        """`columns`: name -> SQL type of the values stored beside the key."""
        self._conn = connect(location)
        self._lock = threading.Lock()  # one connection, many calling threads: one transaction at a time
        if not is_postgres_url(location):
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the process being killed (not a power cut),
            # without an fsync per answer.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        definitions = ", ".join(
            ["key TEXT PRIMARY KEY", *(f"{name} {sql_type} NOT NULL" for name, sql_type in columns.items())]
        )
        create_tables(
            self._conn,
            [f"CREATE TABLE IF NOT EXISTS {table} ({definitions}, created_at TEXT DEFAULT CURRENT_TIMESTAMP)"],
        )
        self._select = f"SELECT key, {', '.join(columns)} FROM {table} WHERE key IN "
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
        self._insert = (
            f"INSERT INTO {table} (key, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 1))})"
            f" ON CONFLICT (key) DO UPDATE SET {updates}"
        )
        self._count = f"SELECT count(*) FROM {table}"

    def get_rows(self, keys: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """The stored values of those of `keys` that are present."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[Any, ...]] = {}
        with self._lock:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                rows = Statements(self._conn).execute(f"{self._select}({','.join('?' * len(chunk))})", chunk).fetchall()
                found.update((row[0], row[1:]) for row in rows)
        return found

    def put_rows(self, rows: Mapping[str, Sequence[Any]]) -> None:
        """Stores `rows` (key -> values) in one transaction, committed before it returns."""
        with self._lock:
            statements = Statements(self._conn)
            statements.execute("BEGIN")
            try:
                statements.executemany(self._insert, [(key, *values) for key, values in rows.items()])
                statements.execute("COMMIT")
            except BaseException:
                statements.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return Statements(self._conn).execute(self._count).fetchone()[0]

    def close(self) -> None:
        self._conn.close()


class CacheKeys:
    """Chat cache keys: a hash of everything that changes the answer (model, system and user
    messages, schema, params).

    The task-wide part is hashed once, so a key per row costs one small hash (cached reruns of
    100,000 rows must be fast)."""

    def __init__(self, model: str, system: str, schema: dict[str, Any], params: dict[str, Any]):
        task_part = {"model": model, "system": system, "schema": schema, "params": params}
        self._prefix = hashlib.sha256(orjson.dumps(task_part, option=orjson.OPT_SORT_KEYS)).digest()

    def key(self, user_message: str) -> str:
        return hashlib.sha256(self._prefix + user_message.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    content: str  # the validated answer, as JSON
    model: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache(StateCache):
    """Validated chat answers by `CacheKeys` key."""

    def __init__(self, location: Path | str):
        super().__init__(
            location,
            "responses",
            {"content": "TEXT", "model": "TEXT", "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER"},
        )

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        return {key: CachedResponse(*values) for key, values in self.get_rows(keys).items()}

    def put(self, key: str, response: CachedResponse) -> None:
        self.put_rows({key: astuple(response)})


class EmbeddingCache(StateCache):
    """float32 vectors by (model, kind, text) hash."""

    def __init__(self, location: Path | str):
        super().__init__(location, "embeddings", {"vector": "BLOB"})

    @staticmethod
    def key(model: str, kind: str, text: str) -> str:
        return hashlib.sha256(f"{model}\x00{kind}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        return {key: np.frombuffer(blob, dtype=np.float32) for key, (blob,) in self.get_rows(keys).items()}

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        self.put_rows({key: (np.asarray(vector, dtype=np.float32).tobytes(),) for key, vector in vectors.items()})
