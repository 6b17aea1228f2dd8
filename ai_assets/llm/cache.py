"""A persistent response cache, so an unchanged rerun makes zero LLM calls.

SQLite (stdlib) rather than the DuckDB warehouse: the cache is written by many concurrent calls
and by parallel runs, which DuckDB's one-writer-per-file rule would serialise or refuse.
Only validated answers are stored; a failed call or an invalid answer is never cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cache_key(model: str, messages: list[dict[str, str]], schema: dict[str, Any], params: dict[str, Any]) -> str:
    """Hash of everything that changes the answer."""
    material = json.dumps(
        {"model": model, "messages": messages, "schema": schema, "params": params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: parallel runs share the file; wait for a writer instead of failing.
        self._conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, content TEXT NOT NULL, model TEXT NOT NULL,"
            " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
            " created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
        )

    def get(self, key: str) -> CachedResponse | None:
        row = self._conn.execute(
            "SELECT content, model, prompt_tokens, completion_tokens FROM responses WHERE key = ?", [key]
        ).fetchone()
        return CachedResponse(*row) if row else None

    def put(self, key: str, response: CachedResponse) -> None:
        # Committed per answer: a crash mid-step keeps every answer already paid for.
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, content, model, prompt_tokens, completion_tokens)"
                " VALUES (?, ?, ?, ?, ?)",
                [key, response.content, response.model, response.prompt_tokens, response.completion_tokens],
            )

    def close(self) -> None:
        self._conn.close()
