"""Embeddings through the chat engine's stack (limiter, retries, budget, cost, cache), over real
HTTP to the fake server, and through an in-process model."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from ai_assets.llm import client as llm_client
from ai_assets.llm.cache import EmbeddingCache
from ai_assets.llm.client import Endpoint, ProviderError, SendingStopped
from ai_assets.llm.cost import Pricing
from ai_assets.llm.embeddings import embed_texts
from ai_assets.llm.limits import Limits
from ai_assets_tests.fakes import llm_server
from ai_assets_tests.fakes.llm_server import FakeLLMServer, Fault

TEXTS = [f"Where is my parcel number {i}? The courier tracking shows nothing." for i in range(10)]


@pytest.fixture
def server(monkeypatch):
    """The fake server with its injected faults applied to /v1/embeddings too (it applies them to
    chat requests only): a fault's status and Retry-After answer the next embeddings request."""
    answer = llm_server._Handler._embeddings

    def with_faults(handler, body):
        fake = handler.server.fake
        fault = fake._take_fault(json.dumps(body.get("input")))
        if fault is None or fault.status is None:
            return answer(handler, body)
        fake._record_embedding_request(body)
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        handler._send_json(fault.status, llm_server._error_body(fault.status), headers)

    monkeypatch.setattr(llm_server._Handler, "_embeddings", with_faults)
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def cache(tmp_path):
    cache = EmbeddingCache(tmp_path / "embedding_cache.sqlite")
    yield cache
    cache.close()


def _endpoint(server: FakeLLMServer, max_retries: int = 2) -> Endpoint:
    return Endpoint(server.base_url, "fake-embed", timeout_s=5, max_retries=max_retries)


def test_vectors_come_back_in_order_and_a_rerun_sends_nothing(server, cache):
    texts = [*TEXTS, TEXTS[0]]  # a duplicate is sent once
    vectors, metrics = embed_texts(texts, "passage", _endpoint(server), cache, batch_size=4)
    assert vectors.shape == (11, llm_server.EMBEDDING_DIM) and vectors.dtype == np.float32
    assert np.allclose(vectors[3], llm_server._embedding(TEXTS[3]), atol=1e-6)
    assert np.array_equal(vectors[0], vectors[10])
    assert len(server.embedding_requests) == 3 and metrics.calls == 3
    assert metrics.deduplicated == 1 and metrics.cache_hits == 0

    again, rerun = embed_texts(texts, "passage", _endpoint(server), cache, batch_size=4)
    assert len(server.embedding_requests) == 3  # zero requests
    assert rerun.cache_hits == 11 and rerun.calls == 0 and np.array_equal(again, vectors)
    # A query is not a passage: the kind is part of the cache key.
    embed_texts(TEXTS[:1], "query", _endpoint(server), cache)
    assert len(server.embedding_requests) == 4


def test_429_pauses_for_retry_after_and_500_is_retried(server, cache, monkeypatch):
    # The waits the client asks for between attempts, recorded (and still waited): what it was told
    # to wait, not how long the machine took.
    waits = []

    async def recorded(seconds):
        waits.append(seconds)
        await asyncio.sleep(seconds)

    monkeypatch.setattr(llm_client, "asyncio", SimpleNamespace(sleep=recorded, Lock=asyncio.Lock))
    server.inject(Fault(status=429, retry_after=0.4), Fault(status=500))
    vectors, metrics = embed_texts(TEXTS, "passage", _endpoint(server), cache)
    assert len(server.embedding_requests) == 3 and vectors.shape[0] == len(TEXTS)
    assert metrics.calls == 1 and metrics.retries == 2 and metrics.rate_limited == 1
    # The 429's Retry-After exactly, then a backoff for the 500 (full jitter, up to 1 s on a second retry).
    assert len(waits) == 2 and waits[0] == 0.4 and 0 <= waits[1] <= 1.0


def test_a_request_still_failing_after_its_retries_stops_the_step_and_keeps_the_rest(server, cache):
    server.inject(*[Fault(status=500, match="number 9?")] * 3)
    with pytest.raises(ProviderError, match=r"HTTP 500 after 2 retries") as raised:
        embed_texts(TEXTS, "passage", _endpoint(server), cache, batch_size=5, limits=Limits(concurrency=1))
    assert "5 texts not embedded" in str(raised.value)
    assert cache.count() == 5  # the batch that was answered is kept


def test_a_rejected_key_costs_one_request_and_says_what_to_check(server, cache):
    server.inject(*[Fault(status=401)] * 5)
    with pytest.raises(ProviderError, match="10 texts not embedded.*check OPENAI_API_KEY"):
        embed_texts(TEXTS, "passage", _endpoint(server), cache, batch_size=2, limits=Limits(concurrency=4))
    # The first request probed the endpoint alone; after its 401 the other four batches were not sent.
    assert len(server.embedding_requests) == 1


def test_after_the_probe_a_healthy_run_uses_its_concurrency(server, cache, monkeypatch):
    # The first request (the probe) is answered at once; the other three are held until all three
    # are in flight: they overlap by construction, and a barrier that times out says they did not.
    answer = llm_server._Handler._embeddings
    arrivals, together, met = itertools.count(), threading.Barrier(3, timeout=60), []

    def held(handler, body):
        if next(arrivals) > 0:
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
                met.append(True)
        answer(handler, body)

    monkeypatch.setattr(llm_server._Handler, "_embeddings", held)
    vectors, metrics = embed_texts(TEXTS, "passage", _endpoint(server), cache, batch_size=3, limits=Limits(3))
    assert len(met) == 3 and metrics.calls == 4 and vectors.shape[0] == len(TEXTS)


def test_budget_stops_sending_and_the_next_run_resumes(server, cache):
    with pytest.raises(SendingStopped, match="token budget of 1 reached.*rerun"):
        embed_texts(TEXTS, "passage", _endpoint(server), cache, batch_size=4, limits=Limits(1, max_tokens_per_run=1))
    assert len(server.embedding_requests) == 1 and cache.count() == 4

    _, metrics = embed_texts(TEXTS, "passage", _endpoint(server), cache, batch_size=4)
    assert len(server.embedding_requests) == 3 and metrics.cache_hits == 4 and metrics.calls == 2


def test_cost_is_prompt_tokens_at_the_input_price(server, cache):
    pricing = Pricing(input_per_1m=0.02, output_per_1m=99.0)  # no completion tokens: the output price never counts
    _, metrics = embed_texts(TEXTS, "passage", _endpoint(server), cache, pricing=pricing)
    assert metrics.prompt_tokens == sum(llm_server._approx_tokens(t) for t in TEXTS)
    assert metrics.completion_tokens == 0
    assert metrics.cost_usd == pytest.approx(metrics.prompt_tokens * 0.02 / 1_000_000)
    assert metrics.to_dict()["cost_usd"] == round(metrics.cost_usd, 6)


def test_requests_per_minute_limit_spaces_embedding_requests(server, cache):
    started = time.monotonic()
    embed_texts(TEXTS[:4], "passage", _endpoint(server), cache, batch_size=1, limits=Limits(4, requests_per_minute=120))
    # 120/min: a burst of one second's worth (2), then one every 0.5 s, so the fourth request cannot
    # leave before a second after the first. A lower bound only: a slower machine only adds to it.
    assert time.monotonic() - started >= 0.9


class _CountingEmbedder:
    """An in-process model: one fixed vector per text length."""

    model = "counting"

    def __init__(self):
        self.texts: list[str] = []

    def embed(self, texts, kind):
        self.texts.extend(texts)
        return np.array([[len(t), kind == "query"] for t in texts], dtype=np.float32), 0


def test_an_in_process_model_uses_the_same_cache(cache):
    embedder = _CountingEmbedder()
    vectors, metrics = embed_texts(["ab", "abc", "ab"], "query", embedder, cache)
    assert vectors.tolist() == [[2, 1], [3, 1], [2, 1]] and embedder.texts == ["ab", "abc"]
    assert metrics.calls == 1 and metrics.deduplicated == 1 and metrics.cost_usd == 0

    _, again = embed_texts(["abc", "ab"], "query", embedder, cache)
    assert embedder.texts == ["ab", "abc"] and again.cache_hits == 2 and again.calls == 0


def test_an_embeddings_body_is_decoded_from_base64_or_floats_and_checked():
    from ai_assets.llm.client import MalformedResponse, _vectors_from_body

    packed = base64.b64encode(np.array([0.5, -1.0], dtype="<f4").tobytes()).decode()
    body = {
        "data": [{"index": 1, "embedding": [1.0, 2.0]}, {"index": 0, "embedding": packed}],
        "usage": {"prompt_tokens": 7},
    }
    vectors, tokens = _vectors_from_body(json.dumps(body).encode(), 2)
    assert vectors.tolist() == [[0.5, -1.0], [1.0, 2.0]] and tokens == 7
    for bad in (b"<html>502</html>", json.dumps(body).encode()):
        with pytest.raises(MalformedResponse):
            _vectors_from_body(bad, 3)  # not JSON; one vector short
