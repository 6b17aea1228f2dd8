"""Tests for the fake OpenAI-compatible server, driven through the real ``openai`` client."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from ai_assets_tests.fakes.llm_server import (
    EMBEDDING_DIM,
    JSON_SCHEMA_REJECTED,
    FakeLLMServer,
    Fault,
    default_responder,
)


class TicketTriage(BaseModel):
    category: Literal["billing", "shipping", "returns", "technical", "account", "feedback", "other"]
    urgency: Literal["low", "medium", "high", "critical"]
    sentiment: Literal["negative", "neutral", "positive"]
    language: str
    summary: str
    order_id: str | None = None
    product: str | None = None
    confidence: float = Field(ge=0, le=1)


SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "TicketTriage", "schema": TicketTriage.model_json_schema(), "strict": True},
}

BILLING_TICKET = (
    "Subject: Charged twice for order ORD-12345\n\n"
    "Hi, my card was charged twice and I need a refund for the duplicate payment. This is unacceptable."
)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def client_for(server: FakeLLMServer, max_retries: int = 0, timeout: float = 10.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=max_retries, timeout=timeout)


def ask(client: openai.OpenAI, text: str, response_format: dict | None = SCHEMA_FORMAT) -> str:
    kwargs = {"response_format": response_format} if response_format is not None else {}
    completion = client.chat.completions.create(
        model="triage-model",
        messages=[
            {"role": "system", "content": "Triage the support ticket."},
            {"role": "user", "content": text},
        ],
        **kwargs,
    )
    return completion.choices[0].message.content


# ---- happy path ----------------------------------------------------------------------


def test_json_schema_request_returns_valid_triage(server: FakeLLMServer) -> None:
    content = ask(client_for(server), "Subject: Hello\n\nJust saying hi.")
    triage = TicketTriage.model_validate_json(content)
    assert triage.category == "other"
    assert triage.summary == "Hello"
    assert triage.language == "en"
    assert triage.confidence == 0.9


def test_billing_ticket_is_classified_from_keywords(server: FakeLLMServer) -> None:
    triage = TicketTriage.model_validate_json(ask(client_for(server), BILLING_TICKET))
    assert triage.category == "billing"
    assert triage.sentiment == "negative"
    assert triage.urgency == "medium"
    assert triage.order_id == "ORD-12345"
    assert triage.product is None
    assert triage.summary == "Charged twice for order ORD-12345"


def test_completion_shape_and_usage(server: FakeLLMServer) -> None:
    completion = client_for(server).chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "12345678"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "my-model"  # echoed from the request
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "OK"  # no response_format
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 2  # ceil(8 / 4)
    assert completion.usage.completion_tokens == 1  # ceil(2 / 4)
    assert completion.usage.total_tokens == 3


def test_parse_helper_with_pydantic_model(server: FakeLLMServer) -> None:
    # The client's strict-schema conversion of the pydantic model must be understood too.
    completion = client_for(server).chat.completions.parse(
        model="m", messages=[{"role": "user", "content": BILLING_TICKET}], response_format=TicketTriage
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, TicketTriage)
    assert parsed.category == "billing"


def test_models_endpoint() -> None:
    with FakeLLMServer(model_name="tiny") as srv:
        assert [m.id for m in client_for(srv).models.list()] == ["tiny"]


def test_custom_responder() -> None:
    with FakeLLMServer(responder=lambda body: f"echo:{body['messages'][-1]['content']}") as srv:
        assert ask(client_for(srv), "ping", response_format=None) == "echo:ping"


def test_failing_responder_answers_500() -> None:
    def broken(body: dict) -> str:
        raise KeyError("boom")

    with FakeLLMServer(responder=broken) as srv, pytest.raises(openai.InternalServerError, match="boom"):
        ask(client_for(srv), "hi", response_format=None)


# ---- faults ----------------------------------------------------------------------------


def test_rate_limit_fault_without_retries(server: FakeLLMServer) -> None:
    server.inject(Fault(status=429, retry_after=0))
    with pytest.raises(openai.RateLimitError) as info:
        ask(client_for(server), BILLING_TICKET)
    assert info.value.response.headers["retry-after"] == "0"
    assert info.value.code == "rate_limit_exceeded"
    assert server.call_count == 1
    assert server.completed_count == 0


def test_rate_limit_fault_is_retried(server: FakeLLMServer) -> None:
    server.inject(Fault(status=429, retry_after=0))
    triage = TicketTriage.model_validate_json(ask(client_for(server, max_retries=2), BILLING_TICKET))
    assert triage.category == "billing"
    assert server.call_count == 2
    assert server.completed_count == 1
    assert server.pending_faults == []


def test_server_error_fault(server: FakeLLMServer) -> None:
    server.inject(Fault(status=500))
    with pytest.raises(openai.InternalServerError) as info:
        ask(client_for(server), BILLING_TICKET)
    assert info.value.status_code == 500
    assert info.value.type == "server_error"
    # The fault was consumed: the next request succeeds.
    TicketTriage.model_validate_json(ask(client_for(server), BILLING_TICKET))


def test_content_fault_returns_exact_content(server: FakeLLMServer) -> None:
    server.inject(Fault(content="not json"))
    content = ask(client_for(server), BILLING_TICKET)
    assert content == "not json"
    with pytest.raises(ValidationError):
        TicketTriage.model_validate_json(content)
    assert server.completed_count == 1


def test_match_targets_only_matching_request(server: FakeLLMServer) -> None:
    server.inject(Fault(status=503, match="ORD-999"))
    client = client_for(server)
    TicketTriage.model_validate_json(ask(client, BILLING_TICKET))  # no match: untouched
    assert len(server.pending_faults) == 1
    with pytest.raises(openai.InternalServerError) as info:
        ask(client, "Where is ORD-999?")
    assert info.value.status_code == 503
    TicketTriage.model_validate_json(ask(client, "Where is ORD-999?"))  # consumed
    assert server.call_count == 3
    assert server.completed_count == 2


def test_faults_are_fifo_one_per_request(server: FakeLLMServer) -> None:
    server.inject(Fault(content="first"), Fault(content="second"))
    client = client_for(server)
    assert [ask(client, "a"), ask(client, "b"), ask(client, "c", response_format=None)] == ["first", "second", "OK"]


def test_drop_connection_raises_connection_error(server: FakeLLMServer) -> None:
    server.inject(Fault(drop_connection=True))
    with pytest.raises(openai.APIConnectionError):
        ask(client_for(server), BILLING_TICKET)
    assert server.call_count == 1
    assert server.completed_count == 0


def test_delay_fault_provokes_client_timeout() -> None:
    # The handler is still sleeping when the server stops; stop() must wake it, not wait for it.
    with FakeLLMServer() as srv:
        srv.inject(Fault(delay=30))
        with pytest.raises(openai.APITimeoutError):
            ask(client_for(srv, timeout=0.2), BILLING_TICKET)


def test_reject_json_schema() -> None:
    with FakeLLMServer(reject_json_schema=True) as srv:
        client = client_for(srv)
        with pytest.raises(openai.BadRequestError) as info:
            ask(client, BILLING_TICKET)
        assert info.value.status_code == 400
        assert JSON_SCHEMA_REJECTED in str(info.value)

        fmt = {"type": "json_object", "schema": TicketTriage.model_json_schema()}
        triage = TicketTriage.model_validate_json(ask(client, BILLING_TICKET, response_format=fmt))
        assert triage.category == "billing"


# ---- recording and stats -----------------------------------------------------------------


def test_requests_are_recorded_including_faulted(server: FakeLLMServer) -> None:
    server.inject(Fault(status=400))
    client = client_for(server)
    with pytest.raises(openai.BadRequestError):
        ask(client, "first")
    ask(client, "second")
    bodies = server.requests
    assert [b["messages"][-1]["content"] for b in bodies] == ["first", "second"]
    assert all(b["model"] == "triage-model" for b in bodies)
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert (server.call_count, server.completed_count) == (2, 1)

    server.reset_stats()
    assert (server.requests, server.call_count, server.completed_count, server.peak_concurrency) == ([], 0, 0, 0)


def test_peak_concurrency_with_parallel_clients() -> None:
    with FakeLLMServer(rendezvous=4, rendezvous_timeout_s=60) as srv:
        client = client_for(srv)
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(lambda i: ask(client, f"ticket {i}", response_format=None), range(4))) == ["OK"] * 4
        assert srv.rendezvous_reached and srv.peak_concurrency == 4
        assert srv.completed_count == 4


def test_a_rendezvous_that_never_comes_gives_up_after_its_bound() -> None:
    with FakeLLMServer(rendezvous=2, rendezvous_timeout_s=0.2) as srv:
        client = client_for(srv)
        assert [ask(client, f"ticket {i}", response_format=None) for i in range(2)] == ["OK", "OK"]
        assert not srv.rendezvous_reached and srv.peak_concurrency == 1


# ---- embeddings ----------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(server: FakeLLMServer) -> None:
    client = client_for(server)
    texts = ["refund for my order", "beta", "refund for my order", "where is my refund"]
    response = client.embeddings.create(model="embed", input=texts)
    vectors = [d.embedding for d in response.data]
    assert [len(v) for v in vectors] == [EMBEDDING_DIM] * 4
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    cosine = lambda a, b: math.fsum(x * y for x, y in zip(a, b))  # noqa: E731
    assert cosine(vectors[0], vectors[3]) > cosine(vectors[0], vectors[1])  # shared words are close
    assert response.usage.total_tokens > 0
    assert [body["input"] for body in server.embedding_requests] == [texts]

    single = client.embeddings.create(model="embed", input=texts[0], encoding_format="float")
    assert single.data[0].embedding == pytest.approx(vectors[0], rel=1e-6)


# ---- lifecycle -----------------------------------------------------------------------------


def test_stop_closes_the_port() -> None:
    srv = FakeLLMServer().start()
    port = int(srv.base_url.rsplit(":", 1)[1].split("/")[0])
    assert ask(client_for(srv), "hi", response_format=None) == "OK"
    thread = srv._thread
    srv.stop()
    assert thread is not None and not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = srv.base_url


# ---- default responder heuristics (no HTTP) -------------------------------------------------


def _triage(text: str) -> dict:
    return json.loads(
        default_responder({"messages": [{"role": "user", "content": text}], "response_format": SCHEMA_FORMAT})
    )


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("My package has not arrived, tracking shows nothing", "shipping"),
        ("I want to return these shoes and get an exchange", "returns"),
        ("The app shows an error and then crashes", "technical"),
        ("I forgot my password and can't sign in", "account"),
        ("I love the new design, great work", "feedback"),
        ("I appreciate the format of your newsletter", "other"),  # no 'app' in 'appreciate', no 'rma' in 'format'
        ("Refund the charge on my invoice, my package was fine", "billing"),
    ],
)
def test_category_keywords(text: str, category: str) -> None:
    assert _triage(text)["category"] == category


@pytest.mark.parametrize(
    ("text", "urgency", "sentiment"),
    [
        ("Production down, outage for all users, fix immediately!", "critical", "neutral"),
        ("Please fix ASAP, this is the worst", "high", "negative"),
        ("Quick question about invoices, thanks", "low", "positive"),
        ("My invoice total looks odd 😡", "medium", "negative"),
    ],
)
def test_urgency_and_sentiment(text: str, urgency: str, sentiment: str) -> None:
    result = _triage(text)
    assert (result["urgency"], result["sentiment"]) == (urgency, sentiment)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola, mi pedido no llegó", "es"),
        ("Hallo, meine Bestellung ist nicht angekommen", "de"),
        ("Bonjour, ma commande n'est pas arrivée", "fr"),
        ("Hello, my order did not arrive", "en"),
    ],
)
def test_language_detection(text: str, language: str) -> None:
    assert _triage(text)["language"] == language


def test_default_responder_generic_schema() -> None:
    schema = {
        "type": "object",
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}},
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean"},
            "score": {"type": "number", "minimum": 2, "maximum": 5},
            "ratio": {"type": ["number", "null"], "maximum": 0.5},
            "mode": {"enum": ["a", "b"]},
            "summary": {"type": "string"},
        },
    }
    body = {
        "messages": [{"role": "user", "content": "A very long subject line " * 10}],
        "response_format": {"type": "json_object", "schema": schema},
    }
    result = json.loads(default_responder(body))
    assert result == {
        "items": [{"sku": "fake sku", "qty": 1}],
        "tags": [],
        "ok": True,
        "score": 2,
        "ratio": 0.5,
        "mode": "a",
        "summary": ("A very long subject line " * 10)[:80],
    }
    assert default_responder(body) == default_responder(body)  # deterministic
    assert default_responder({"messages": [], "response_format": {"type": "json_object"}}) == "{}"


# ---- response headers, context limit, arrival times ------------------------------------------


def test_fault_and_global_headers_are_added_to_answers() -> None:
    with FakeLLMServer(response_headers={"x-ratelimit-remaining-requests": "7"}) as srv:
        srv.inject(
            Fault(status=429, retry_after=1, headers={"retry-after-ms": "250", "x-ratelimit-reset-requests": "250ms"}),
            Fault(headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}),
        )
        with pytest.raises(openai.RateLimitError) as info:
            ask(client_for(srv), BILLING_TICKET)
        headers = info.value.response.headers
        assert (headers["retry-after-ms"], headers["retry-after"]) == ("250", "1")
        assert (headers["x-ratelimit-reset-requests"], headers["x-ratelimit-remaining-requests"]) == ("250ms", "7")

        ok = client_for(srv).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-remaining-requests"] == "0"  # the fault's value wins
        assert ok.headers["x-ratelimit-reset-requests"] == "1s"

        plain = client_for(srv).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert plain.headers["x-ratelimit-remaining-requests"] == "7"
        assert "x-ratelimit-reset-requests" not in plain.headers


def test_context_limit_answers_context_length_exceeded() -> None:
    with FakeLLMServer(context_limit_tokens=10) as srv:
        client = client_for(srv)

        def chat(text: str) -> str:
            completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
            return completion.choices[0].message.content

        assert chat("x" * 40) == "OK"  # exactly 10 tokens: allowed
        with pytest.raises(openai.BadRequestError) as info:
            chat("x" * 41)
        assert info.value.code == "context_length_exceeded"
        assert info.value.param == "messages"
        assert "maximum context length is 10 tokens" in info.value.message
        assert "resulted in 11 tokens" in info.value.message
        assert (srv.call_count, srv.completed_count) == (2, 1)


def test_request_times_one_per_request_in_order(server: FakeLLMServer) -> None:
    server.inject(Fault(status=500))
    client = client_for(server)
    with pytest.raises(openai.InternalServerError):
        ask(client, "a", response_format=None)
    for text in ("b", "c"):
        ask(client, text, response_format=None)
    times = server.request_times
    assert len(times) == len(server.requests) == 3
    assert times == sorted(times)
    server.reset_stats()
    assert server.request_times == []


# ---- batch answers ---------------------------------------------------------------------------


class BatchRow(TicketTriage):
    row_id: str


class Batch(BaseModel):
    items: list[BatchRow] = Field(min_length=3, max_length=3)


BATCH_TICKETS = {
    "r-1": "Subject: App crashes\n\nThe app shows an error on login.",
    "r-2": BILLING_TICKET,
    "r-3": "Subject: Where is it?\nMy package has not arrived,\ntracking shows nothing.",
}


def _batch_message(tickets: dict[str, str]) -> str:
    blocks = "\n".join(f"<<<ITEM {row_id}\n{text}\nITEM>>>" for row_id, text in tickets.items())
    return f"Triage each ticket.\n\n{blocks}\n"


def _ask_batch(server: FakeLLMServer, tickets: dict[str, str], schema_format: dict | None = None) -> dict:
    fmt = schema_format or {
        "type": "json_schema",
        "json_schema": {"name": "Batch", "schema": Batch.model_json_schema(), "strict": True},
    }
    return json.loads(ask(client_for(server), _batch_message(tickets), response_format=fmt))


def test_batch_answer_has_one_item_per_block_in_order(server: FakeLLMServer) -> None:
    schema = Batch.model_json_schema()
    assert "$ref" in json.dumps(schema["properties"]["items"])  # rows are reached through $defs
    answer = _ask_batch(server, BATCH_TICKETS)
    rows = Batch.model_validate(answer).items
    assert [r.row_id for r in rows] == ["r-1", "r-2", "r-3"]
    assert [r.category for r in rows] == ["technical", "billing", "shipping"]
    # Each item is filled from its own block only.
    assert rows[1].order_id == "ORD-12345" and rows[0].order_id is None and rows[2].order_id is None
    assert [r.summary for r in rows] == ["App crashes", "Charged twice for order ORD-12345", "Where is it?"]

    # json_object + schema is understood too.
    answer = _ask_batch(server, BATCH_TICKETS, {"type": "json_object", "schema": schema})
    assert [item["row_id"] for item in answer["items"]] == ["r-1", "r-2", "r-3"]


def test_batch_schema_without_item_blocks_keeps_single_answer_behaviour(server: FakeLLMServer) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "Batch", "schema": Batch.model_json_schema()}}
    answer = json.loads(ask(client_for(server), BILLING_TICKET, response_format=fmt))
    assert [item["row_id"] for item in answer["items"]] == ["fake row_id"] * 3  # minItems, whole-text fill


def test_batch_drop_and_corrupt_match_block_text_not_row_id() -> None:
    with FakeLLMServer(batch_drop_ids={"package"}, batch_corrupt_ids={"ORD-12345", "r-1"}) as srv:
        items = _ask_batch(srv, BATCH_TICKETS)["items"]
    assert [item["row_id"] for item in items] == ["r-1", "r-2"]  # r-3 mentions "package"
    assert items[0]["category"] == "technical"  # "r-1" is only its id, not in its text
    assert items[1]["category"] == "not-a-category"
    with pytest.raises(ValidationError):
        BatchRow.model_validate(items[1])


# ---- standalone process mode -----------------------------------------------------------------


def test_standalone_process_serves_counts_and_exits_on_sigterm(tmp_path) -> None:
    ready_file = tmp_path / "url"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ai_assets_tests.fakes.llm_server", "--port", "0", "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.split()[1]
        assert ready_file.read_text() == base_url

        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0, timeout=10)
        completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "12345678"}])
        assert completion.choices[0].message.content == "OK"

        root = base_url.removesuffix("/v1")
        with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
            stats = json.load(response)
        assert stats == {
            "call_count": 1,
            "completed_count": 1,
            "peak_concurrency": 1,
            "prompt_tokens": 2,
            "completion_tokens": 1,
        }
        with urllib.request.urlopen(urllib.request.Request(f"{root}/reset", data=b"", method="POST"), timeout=10):
            pass
        with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
            assert json.load(response)["call_count"] == 0

        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_keep_alive_stop_closes_idle_connections() -> None:
    srv = FakeLLMServer(keep_alive=True).start()
    client = client_for(srv)
    assert ask(client, "hi", response_format=None) == "OK"  # leaves an idle pooled connection
    srv.stop()
    # Without closing it, the idle connection's handler thread would keep answering.
    with pytest.raises(openai.APIConnectionError):
        ask(client, "again", response_format=None)
    assert srv.call_count == 1
