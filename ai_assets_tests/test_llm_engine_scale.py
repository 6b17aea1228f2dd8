"""The engine at scale: dedupe, batching, rate limits, budget, reask, crash-resume."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from ai_assets.llm.engine import Limits
from ai_assets.transform.triage import TRIAGE_TASK
from ai_assets_tests.llm_server import Fault, FakeLLMServer
from ai_assets_tests.test_llm_engine import _run, _tickets, cache  # noqa: F401  (fixture)


def test_identical_inputs_are_sent_once(cache):
    rows = _tickets(3).vstack(_tickets(3).with_columns(pl.col("ticket_id") + "-dup"))
    with FakeLLMServer() as server:
        result = _run(server, cache, rows)
        assert server.call_count == 3
    assert result.outputs.height == 6 and result.metrics.deduplicated == 3
    answers = dict(result.outputs.select("ticket_id", "summary").iter_rows())
    assert answers["T-001"] == answers["T-001-dup"]
    assert result.outputs.filter(pl.col("ticket_id").str.ends_with("-dup"))["cache_hit"].all()


def test_reask_repairs_an_invalid_answer(cache):
    with FakeLLMServer() as server:
        server.inject(Fault(content='{"category": "spam"}', match="Problem number 1\n"))
        result = _run(server, cache, _tickets(3))
        reask = [r for r in server.requests if len(r["messages"]) == 4]
    assert result.failures.height == 0 and result.metrics.reasks == 1
    assert reask and reask[0]["messages"][2] == {"role": "assistant", "content": '{"category": "spam"}'}
    assert "category" in reask[0]["messages"][3]["content"]  # the model is told what was wrong


def test_budget_stops_sending_then_the_next_run_resumes(cache):
    rows = _tickets(10)
    with FakeLLMServer() as server:
        first = _run(server, cache, rows, limits=Limits(concurrency=1, max_tokens_per_run=1))
        assert server.call_count == 1  # the first answer spends the whole budget
        stopped = first.failures.filter(pl.col("error_type") == "budget_exceeded")
        assert first.outputs.height == 1 and stopped.height == 9
        assert "rerun to resume" in stopped["reason"][0]

        second = _run(server, cache, rows, limits=Limits(concurrency=1))
        assert server.call_count == 10  # only the nine that were not answered
    assert second.outputs.height == 10 and second.metrics.cache_hits == 1


def test_provider_errors_are_retried_with_backoff_then_dead_lettered(cache):
    with FakeLLMServer() as server:
        server.inject(*[Fault(status=503, match="Problem number 2\n")] * 3)
        result = _run(server, cache, _tickets(3), max_retries=2)
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
from ai_assets.transform.triage import TRIAGE_TASK
from ai_assets_tests.test_llm_engine import _tickets
run_task(TRIAGE_TASK, _tickets(int(sys.argv[3])), endpoint=Endpoint(sys.argv[1], "fake-model", 5, 0),
         cache=ResponseCache(Path(sys.argv[2])), id_column="ticket_id", limits=Limits(concurrency=1))
"""


def test_a_killed_run_resumes_without_repeating_a_completed_call(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from ai_assets.llm.cache import ResponseCache

    rows, cache_path = 40, tmp_path / "cache.sqlite"
    with FakeLLMServer(latency=0.05) as server:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, server.base_url, str(cache_path), str(rows)], cwd=os.getcwd())
        deadline = time.monotonic() + 60
        while server.completed_count < 10 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        answered_before_kill = server.completed_count
        cache = ResponseCache(cache_path)
        persisted = cache.count()
        # Answers are persisted as they arrive: at most the one in flight at the kill is lost.
        assert answered_before_kill - 1 <= persisted < rows and persisted >= 9

        calls_before = server.call_count
        result = _run(server, cache, _tickets(rows))
        assert server.call_count - calls_before == rows - persisted
        cache.close()
    assert result.outputs.height == rows and result.metrics.cache_hits == persisted
