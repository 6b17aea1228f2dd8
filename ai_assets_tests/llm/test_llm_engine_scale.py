"""The engine at scale: dedupe, batching, rate limits, budget, reask, crash-resume."""

from __future__ import annotations

import time
from dataclasses import replace

import polars as pl

from ai_assets.llm.engine import Limits
from ai_assets_tests.engine_cases import TRIAGE_TASK, run_engine, ticket_rows
from ai_assets_tests.fakes.llm_server import FakeLLMServer, Fault


def test_identical_inputs_are_sent_once(cache):
    rows = ticket_rows(3).vstack(ticket_rows(3).with_columns(pl.col("ticket_id") + "-dup"))
    with FakeLLMServer() as server:
        result = run_engine(server, cache, rows)
        assert server.call_count == 3
    assert result.outputs.height == 6 and result.metrics.deduplicated == 3
    answers = dict(
        result.outputs.select(
            "ticket_id", pl.struct("category", "urgency", "sentiment", "language", "confidence")
        ).iter_rows()
    )
    assert answers["T-001"] == answers["T-001-dup"]
    assert result.outputs.filter(pl.col("ticket_id").str.ends_with("-dup"))["cache_hit"].all()


def test_reask_repairs_an_invalid_answer(cache):
    with FakeLLMServer() as server:
        server.inject(Fault(content='{"category": "spam"}', match="Problem number 1\n"))
        result = run_engine(server, cache, ticket_rows(3))
        reask = [r for r in server.requests if len(r["messages"]) == 4]
    assert result.failures.height == 0 and result.metrics.reasks == 1
    assert reask and reask[0]["messages"][2] == {"role": "assistant", "content": '{"category": "spam"}'}
    assert "category" in reask[0]["messages"][3]["content"]  # the model is told what was wrong


def test_budget_stops_sending_then_the_next_run_resumes(cache):
    rows = ticket_rows(10)
    with FakeLLMServer() as server:
        first = run_engine(server, cache, rows, limits=Limits(concurrency=1, max_tokens_per_run=1))
        assert server.call_count == 1  # the first answer spends the whole budget
        stopped = first.failures.filter(pl.col("error_type") == "budget_exceeded")
        assert first.outputs.height == 1 and stopped.height == 9
        assert "rerun to resume" in stopped["reason"][0]

        second = run_engine(server, cache, rows, limits=Limits(concurrency=1))
        assert server.call_count == 10  # only the nine that were not answered
    assert second.outputs.height == 10 and second.metrics.cache_hits == 1


def test_provider_errors_are_retried_with_backoff_then_dead_lettered(cache):
    with FakeLLMServer() as server:
        server.inject(*[Fault(status=503, match="Problem number 2\n")] * 3)
        result = run_engine(server, cache, ticket_rows(3), max_retries=2)
    failure = result.failures.row(0, named=True)
    assert failure["ticket_id"] == "T-002" and failure["error_type"] == "provider_error"
    assert "HTTP 503 after 2 retries" in failure["reason"]
    assert result.metrics.retries == 0 and result.outputs.height == 2


def test_batch_size_is_a_task_setting_that_keeps_the_prompt_version(cache):
    assert replace(TRIAGE_TASK, batch_size=8).prompt_version == TRIAGE_TASK.prompt_version


_CHILD = """
import sys
from pathlib import Path
import polars as pl
from ai_assets.llm.cache import ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.engine import Limits, run_task
from ai_assets_tests.engine_cases import TRIAGE_TASK, ticket_rows
run_task(TRIAGE_TASK, ticket_rows(int(sys.argv[3])), endpoint=Endpoint(sys.argv[1], "fake-model", 600, 0),
         cache=ResponseCache(Path(sys.argv[2])), id_column="ticket_id", limits=Limits(concurrency=1))
"""


def test_a_killed_run_resumes_without_repeating_a_completed_call(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from ai_assets.llm.cache import ResponseCache

    rows, cache_path = 40, tmp_path / "cache.sqlite"
    with FakeLLMServer() as server:
        # The eleventh request hangs (its client waits as long), so the child is killed right there,
        # however fast or slow it ran: ten answered, one in flight, none sent after.
        server.inject(Fault(delay=600, match="Problem number 10\n"))
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, server.base_url, str(cache_path), str(rows)], cwd=os.getcwd()
        )
        hang_guard = time.monotonic() + 300  # fails a child that hangs instead of hanging the suite
        try:
            while server.call_count < 11:
                assert child.poll() is None and time.monotonic() < hang_guard, "no eleventh request from the child"
                time.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        answered_before_kill = server.completed_count
        cache = ResponseCache(cache_path)
        persisted = cache.count()
        # Answers are persisted as they arrive: all ten answered before the kill; the one in flight is lost.
        assert answered_before_kill == persisted == 10

        calls_before = server.call_count
        result = run_engine(server, cache, ticket_rows(rows))
        assert server.call_count - calls_before == rows - persisted
        cache.close()
    assert result.outputs.height == rows and result.metrics.cache_hits == persisted


def _batched(size: int = 4):
    return replace(TRIAGE_TASK, batch_size=size)


def test_batch_ids_round_trip_and_only_bad_rows_are_retried_alone(cache):
    with FakeLLMServer(batch_drop_ids={"Problem number 2\n"}, batch_corrupt_ids={"Problem number 5\n"}) as server:
        result = run_engine(server, cache, ticket_rows(8), _batched(4), limits=Limits(concurrency=1))
        sizes = [r["messages"][-1]["content"].count("<<<ITEM ") for r in server.requests]
    assert sizes == [4, 0, 4, 0]  # each batch, then its bad row alone (T-002, T-005: no ITEM fence)
    assert result.failures.height == 0 and result.outputs.height == 8
    assert result.metrics.batches == 2 and result.metrics.batch_rows_retried == 2
    # Every row got its own answer back, by id: a billing body stays billing, ids are not swapped.
    assert result.outputs.filter(pl.col("category") != "billing").height == 0
    assert result.outputs["ticket_id"].to_list() == [f"T-{i:03d}" for i in range(8)]


def test_batching_spends_fewer_tokens_per_row(cache, tmp_path):
    from ai_assets.llm.cache import ResponseCache

    with FakeLLMServer() as single_server:
        single = run_engine(single_server, cache, ticket_rows(20), TRIAGE_TASK)
    with FakeLLMServer() as batch_server:
        batched = run_engine(batch_server, ResponseCache(tmp_path / "other.sqlite"), ticket_rows(20), _batched(10))
        assert batch_server.call_count == 2
    tokens = lambda r: r.metrics.prompt_tokens + r.metrics.completion_tokens  # noqa: E731
    assert tokens(batched) < 0.6 * tokens(single)


def test_context_overflow_halves_the_batch(cache):
    # Room for four rows of this task's prompt (about 490 tokens), not eight (about 630).
    with FakeLLMServer(context_limit_tokens=560) as server:
        result = run_engine(server, cache, ticket_rows(8), _batched(8), limits=Limits(concurrency=1))
        sizes = [r["messages"][-1]["content"].count("<<<ITEM ") for r in server.requests]
    assert sizes[0] == 8 and result.metrics.batch_splits >= 1
    assert result.outputs.height == 8 and result.failures.height == 0
    assert max(sizes[1:]) <= 4


def test_a_batch_size_halved_by_a_context_overflow_stays_halved(cache):
    # Three batches of eight: the first overflows, and the two after it go out as fours, not eights.
    with FakeLLMServer(context_limit_tokens=560) as server:
        result = run_engine(server, cache, ticket_rows(24), _batched(8), limits=Limits(concurrency=1))
        sizes = [r["messages"][-1]["content"].count("<<<ITEM ") for r in server.requests]
    assert sizes == [8] + [4] * 6
    assert result.metrics.batch_splits == 1 and result.metrics.batches == 6
    assert result.outputs.height == 24 and result.failures.height == 0


def test_429_pauses_every_request_for_retry_after(cache):
    with FakeLLMServer() as server:
        server.inject(Fault(status=429, retry_after=0.5, match="Problem number 0\n"))
        result = run_engine(server, cache, ticket_rows(6), TRIAGE_TASK, limits=Limits(concurrency=1))
        times = server.request_times
    assert result.outputs.height == 6 and result.metrics.rate_limited == 1
    # Nothing was sent between the 429 and the end of its Retry-After.
    assert times[1] - times[0] >= 0.5


def test_ratelimit_headers_pause_until_reset(cache):
    with FakeLLMServer() as server:
        server.inject(
            Fault(
                headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "400ms"},
                match="Problem number 0\n",
            )
        )
        run_engine(server, cache, ticket_rows(3), TRIAGE_TASK, limits=Limits(concurrency=1))
        times = server.request_times
    assert times[1] - times[0] >= 0.4


def test_requests_per_minute_limit_spaces_requests(cache):
    with FakeLLMServer() as server:
        started = time.monotonic()
        run_engine(server, cache, ticket_rows(4), TRIAGE_TASK, limits=Limits(concurrency=4, requests_per_minute=120))
        times = server.request_times
    # 120/min: a burst of one second's worth (2), then one every 0.5 s, so the fourth request cannot
    # leave before a second after the first left. Counted from before the run, not from the first
    # request's arrival, which a loaded machine may delay: then the bound holds on any machine.
    assert times[-1] - started >= 0.9


def test_a_malformed_completion_body_is_recognised():
    # A proxy's error page with status 200 must become a retry, not a crash of the step.
    import pytest

    from ai_assets.llm.client import MalformedResponse, _completion_from_body

    with pytest.raises(MalformedResponse):
        _completion_from_body(b"<html>502 Bad Gateway</html>", "m")
    with pytest.raises(MalformedResponse):
        _completion_from_body(b'{"choices": []}', "m")
    assert _completion_from_body(b'{"choices": [{"message": {"content": "{}"}}]}', "m").model == "m"
