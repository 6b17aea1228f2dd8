"""An outage is never a successful day: a wrong key, an unreachable endpoint or a step whose rows
mostly failed fail the step with a message that says what to check, and stop sending early."""

from __future__ import annotations

import random

import dagster as dg
import polars as pl
import pytest

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.client import Endpoint
from ai_assets.llm.engine import Limits, run_task
from ai_assets.secrets import scrub_secrets
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.engine_cases import TRIAGE_TASK, ticket_rows
from ai_assets_tests.fakes.broken_endpoints import KeyEchoingServer, closed_port_url
from ai_assets_tests.fakes.llm_server import Fault
from ai_assets_tests.pipeline_tools import day_1_prompts

SECRET = "sk-test-secret-never-logged"


def _run(base_url: str, cache, rows: pl.DataFrame, **limits):
    endpoint = Endpoint(base_url=base_url, model="fake-model", timeout_s=5, max_retries=1)
    return run_task(TRIAGE_TASK, rows, endpoint=endpoint, cache=cache, id_column="ticket_id", limits=Limits(**limits))


def test_a_wrong_key_stops_sending_at_the_first_answer(cache, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with KeyEchoingServer() as server:
        result = _run(server.base_url, cache, ticket_rows(40), concurrency=2)
    metrics = result.metrics
    # The first request probed the endpoint alone; nothing else was sent after its 401.
    assert server.requests == 1 and metrics.requests == 1 and metrics.calls == 0
    assert metrics.stopped and "check OPENAI_API_KEY" in metrics.stopped and not metrics.retry_can_help()
    assert result.failures.height == 40 and result.outputs.height == 0  # every row still accounted for
    assert SECRET not in repr(result.failures.rows()) + metrics.stopped
    assert "[secret removed]" in metrics.stopped


def test_a_rejected_key_costs_one_request_not_one_per_slot(cache, llm_server):
    llm_server.inject(*[Fault(status=401)] * 20)
    result = _run(llm_server.base_url, cache, ticket_rows(20), concurrency=4)
    # The step's first request probes the endpoint alone: it fans out only once that one is answered.
    assert llm_server.call_count == 1 and result.metrics.requests == 1
    assert "authentication error" in result.metrics.stopped and "check OPENAI_API_KEY" in result.metrics.stopped
    assert result.failures.height == 20
    assert result.failures.filter(pl.col("reason").str.starts_with("not sent:")).height == 19


def test_an_unreachable_endpoint_stops_at_the_first_request(cache):
    result = _run(closed_port_url(), cache, ticket_rows(30), concurrency=4, breaker_failures=3)
    metrics = result.metrics
    # The probe and its one retry got no answer: the other 29 rows were never sent.
    assert metrics.requests == 2 and metrics.calls == 0
    assert metrics.stopped and "no answer to the step's first request" in metrics.stopped
    assert "is reachable" in metrics.stopped
    assert metrics.retry_can_help()  # a server that is down may be back for the step's retry
    assert result.failures.height == 30
    assert result.failures.filter(pl.col("reason").str.starts_with("not sent:")).height == 29


def test_a_failing_endpoint_is_probed_one_row_at_a_time_up_to_the_breaker_threshold(cache, llm_server):
    # A 5xx may belong to its row alone, so the next row probes, alone, until the breaker opens.
    llm_server.inject(*[Fault(status=500)] * 60)
    result = _run(llm_server.base_url, cache, ticket_rows(30), concurrency=4, breaker_failures=3)
    metrics = result.metrics
    # Three rows failed after one retry each, never two at once; the other 27 rows were never sent.
    assert llm_server.call_count == 6 and llm_server.peak_concurrency == 1 and metrics.calls == 0
    assert metrics.stopped and "3 requests in a row failed" in metrics.stopped
    assert result.failures.filter(pl.col("reason").str.starts_with("not sent:")).height == 27


def test_a_rate_limit_storm_does_not_open_the_breaker(cache, llm_server):
    llm_server.inject(*[Fault(status=429, retry_after=0)] * 8)
    result = _run(llm_server.base_url, cache, ticket_rows(6), concurrency=1, breaker_failures=2)
    assert result.metrics.stopped is None
    assert result.metrics.requests == result.metrics.calls + 8


def test_scrub_secrets_removes_the_key_and_key_shaped_strings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "my-self-hosted-token")
    text = "bad key my-self-hosted-token; also sk-proj-abcdefghijklmnop and Authorization: Bearer abc.def.ghi123"
    scrubbed = scrub_secrets(text)
    assert "my-self-hosted-token" not in scrubbed and "sk-proj" not in scrubbed and "abc.def" not in scrubbed
    assert scrub_secrets("HTTP 500 after 2 retries: server error") == "HTTP 500 after 2 retries: server error"


def _materialise_triage(pipeline: Pipeline) -> dg.ExecuteInJobResult:
    return pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, raise_on_error=False
    )


def _failure_message(result: dg.ExecuteInJobResult) -> str:
    return " ".join(
        e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.user_failure_data
    )


def _redefine(pipeline: Pipeline, monkeypatch, base_url: str) -> Pipeline:
    """The pipeline's definitions again, against `base_url` (and whatever else the test set)."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    settings = load_settings()
    return Pipeline(settings, build_definitions(settings), pipeline.instance, pipeline.server)


def test_a_wrong_key_fails_the_day_with_what_to_check(pipeline: Pipeline, monkeypatch):
    with KeyEchoingServer() as server:
        broken = _redefine(pipeline, monkeypatch, server.base_url)
        result = _materialise_triage(broken)
        sent = server.requests
    assert not result.success
    message = _failure_message(result)
    assert "triage 2026-11-01: stopped sending: authentication error" in message and "check OPENAI_API_KEY" in message
    # Stopped at the step's first request, sent alone, and not retried: a wrong key stays wrong.
    assert sent == 1
    events = pipeline.instance.all_logs(result.run_id)
    logged = repr([e.dagster_event for e in events]) + repr([e.user_message for e in events])
    assert SECRET not in logged
    # Nothing of the day was written as if it had been triaged: the failed step materialised nothing.
    assert not result.asset_materializations_for_node("ticket_triage")


def test_a_day_whose_answers_mostly_fail_is_a_failed_step(pipeline: Pipeline):
    pipeline.server.inject(*[Fault(content="not json at all")] * 200)  # every answer and every reask
    result = _materialise_triage(pipeline)
    assert not result.success
    message = _failure_message(result)
    assert "rows failed ({'invalid_output':" in message and "AI_ASSETS_LLM_MAX_FAILURE_SHARE=0.5" in message


def test_a_few_failed_rows_are_a_warning_not_a_failure(pipeline: Pipeline):
    broken = next(iter(day_1_prompts(pipeline).values()))
    pipeline.server.inject(*[Fault(status=500, match=broken)] * 3)  # one row: its try and its two retries
    result = pipeline.run("daily_tickets_job", DAY_1)
    warnings = [
        e.user_message
        for e in pipeline.instance.all_logs(result.run_id)
        if e.level == 30 and "rows failed" in e.user_message  # logging.WARNING
    ]
    assert warnings and "1 of" in warnings[0] and "provider_error" in warnings[0]
    triage = next(
        m for m in result.asset_materializations_for_node("ticket_triage") if m.asset_key.path == ["ticket_triage"]
    )
    assert triage.metadata["llm_requests"].value == triage.metadata["llm_calls"].value + 3


@pytest.mark.parametrize("share", ["0", "1"])
def test_the_failure_share_is_a_setting(pipeline: Pipeline, monkeypatch, share):
    monkeypatch.setenv("AI_ASSETS_LLM_MAX_FAILURE_SHARE", share)
    strict = _redefine(pipeline, monkeypatch, pipeline.server.base_url)
    broken = next(iter(day_1_prompts(pipeline).values()))
    pipeline.server.inject(*[Fault(content="not json at all", match=broken)] * 2)  # one row: answer and reask
    assert _materialise_triage(strict).success is (share == "1")


def test_a_day_under_ten_percent_faults_still_succeeds(pipeline: Pipeline):
    rng = random.Random(7)
    faults = [
        Fault(status=429, retry_after=0),
        Fault(status=500),
        Fault(content="{truncated"),
        Fault(drop_connection=True),
    ]
    # Faults are consumed in order by every chat request of the day (triage, drafts, critiques).
    pipeline.server.inject(*(rng.choice(faults) if rng.random() < 0.1 else Fault() for _ in range(600)))
    pipeline.run("daily_tickets_job", DAY_1)  # asserts the run succeeded
    tickets, failed = pipeline.count("raw_tickets"), pipeline.count("ticket_triage_failures")
    assert pipeline.count("ticket_triage") + failed == tickets and failed <= 0.1 * tickets
    assert pipeline.count("reply_drafts") == tickets
    assert len(pipeline.server.pending_faults) < 550  # 50-odd requests went through the mix


def test_a_budget_for_one_run_stops_sending_and_the_next_run_asks_only_the_rest(pipeline: Pipeline):
    """The Launchpad's run config (ops: ticket_triage: config: max_tokens) caps one run's spend: the
    rows past it are failures rows saying so, and a run without it asks only those."""
    budget = {"ops": {"ticket_triage": {"config": {"max_tokens": 1}}}}
    capped = pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, run_config=budget, raise_on_error=False
    )
    assert capped.success  # a budget is a deliberate stop, not a failed day
    logged = [e.user_message for e in pipeline.instance.all_logs(capped.run_id)]
    assert any("this run's budget (run config): 1 tokens" in m for m in logged)
    asked = pipeline.calls("ticket_triage")
    over = pipeline.count("ticket_triage_failures", "error_type = 'budget_exceeded'")
    assert asked == 1 and over > 0  # the first request probes the endpoint alone; its answer spent it all
    assert pipeline.count("ticket_triage") + pipeline.count("ticket_triage_failures") == pipeline.count("raw_tickets")

    pipeline.run("daily_tickets_job", DAY_1)
    prompts = pipeline.prompts("ticket_triage")
    assert len(prompts) == asked + over and len(set(prompts)) == len(prompts)  # no ticket asked twice
    assert pipeline.count("ticket_triage_failures") == 0
