"""A persistent response cache, so an unchanged rerun makes zero LLM calls.

SQLite (stdlib) rather than the DuckDB warehouse: the cache is written by many concurrent calls
and by parallel runs, which DuckDB's one-writer-per-file rule would serialise or refuse.
Only validated answers are stored, in their validated (normalised) JSON form, so a cache hit
needs no re-validation; a failed call or an invalid answer is never cached. Each answer is
committed as it arrives: a run killed mid-step loses none of the answers it already paid for.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_LOOKUP_CHUNK = 500  # below SQLite's bound-parameter limit


class CacheKeys:
    """Cache keys: a hash of everything that changes the answer (model, system and user messages,
    schema, params).

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


def open_sqlite_cache(path: Path) -> sqlite3.Connection:
    """A cache file shared by concurrent calls and parallel runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # timeout: parallel runs share the file; wait for a writer instead of failing.
    conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives the process being killed (not a power cut),
    # without an fsync per answer.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class ResponseCache:
    def __init__(self, path: Path):
        self._conn = open_sqlite_cache(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, content TEXT NOT NULL, model TEXT NOT NULL,"
            " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
            " created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
        )

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            rows = self._conn.execute(
                "SELECT key, content, model, prompt_tokens, completion_tokens FROM responses"
                f" WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((key, CachedResponse(*rest)) for key, *rest in rows)
        return found

    def put(self, key: str, response: CachedResponse) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, content, model, prompt_tokens, completion_tokens)"
                " VALUES (?, ?, ?, ?, ?)",
                [key, response.content, response.model, response.prompt_tokens, response.completion_tokens],
            )

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._conn.close()
