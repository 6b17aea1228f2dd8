"""The LLM engine on its own (no Dagster), over real HTTP to the fake server."""

from __future__ import annotations

import polars as pl

from ai_assets.llm.cost import Pricing
from ai_assets.llm.engine import LINEAGE_SCHEMA, Limits, lineage_without_call
from ai_assets.llm.metrics import StepMetrics
from ai_assets_tests.engine_cases import TRIAGE_TASK, run_engine, ticket_rows
from ai_assets_tests.fakes.llm_server import FakeLLMServer, Fault


def test_every_row_comes_back_once_with_lineage(cache):
    with FakeLLMServer() as server:
        result = run_engine(server, cache, ticket_rows(12), limits=Limits(concurrency=4))
    assert result.outputs.height == 12 and result.failures.height == 0
    row = result.outputs.row(0, named=True)
    assert row["category"] == "billing" and row["language"] == "en"
    assert row["prompt_version"] == TRIAGE_TASK.prompt_version and row["model"] == "fake-model"
    assert row["prompt_tokens"] > 0 and not row["cache_hit"]
    assert result.metrics.to_dict()["llm_calls"] == 12


def test_concurrency_is_bounded_and_used(cache):
    # Held until three calls are in flight: the limit is used (the rendezvous is met) and never
    # passed (the peak), however slow the machine. The first call probes the endpoint alone.
    with FakeLLMServer(rendezvous=3, rendezvous_timeout_s=60, rendezvous_after=1) as server:
        run_engine(server, cache, ticket_rows(12), limits=Limits(concurrency=3), timeout_s=120)
        assert server.rendezvous_reached and server.peak_concurrency == 3


def test_a_probe_that_failed_for_its_row_alone_still_fans_out(cache):
    # The first row's answer and its reask are not JSON: the endpoint works, so the step fans out.
    with FakeLLMServer(rendezvous=4, rendezvous_timeout_s=60, rendezvous_after=1) as server:
        server.inject(*[Fault(content="not json at all", match="Problem number 0\n")] * 2)
        result = run_engine(server, cache, ticket_rows(20), limits=Limits(concurrency=4), timeout_s=120)
        assert server.rendezvous_reached
    assert result.failures["error_type"].to_list() == ["invalid_output"] and result.outputs.height == 19


def test_unchanged_rerun_is_served_from_cache_and_a_new_model_is_not(cache):
    with FakeLLMServer() as server:
        run_engine(server, cache, ticket_rows(5))
        again = run_engine(server, cache, ticket_rows(5))
        assert server.call_count == 5
        assert again.outputs["cache_hit"].all() and again.metrics.cache_hits == 5
        run_engine(server, cache, ticket_rows(5), model="another-model")
        assert server.call_count == 10


def test_falls_back_to_json_object_when_json_schema_is_refused(cache):
    with FakeLLMServer(reject_json_schema=True) as server:
        result = run_engine(server, cache, ticket_rows(3), limits=Limits(concurrency=1))
        formats = [r["response_format"]["type"] for r in server.requests]
    assert result.failures.height == 0
    assert formats[0] == "json_schema" and formats[-1] == "json_object"
    assert server.requests[-1]["response_format"]["schema"]["properties"]["category"]["enum"][0] == "billing"


def test_timeout_becomes_a_provider_error_row(cache):
    # A timeout the two ordinary answers beat even on a loaded machine, and a hang far past it (the
    # server's stop() ends it).
    with FakeLLMServer() as server:
        server.inject(Fault(delay=600, match="Problem number 1\n"))
        result = run_engine(server, cache, ticket_rows(3), timeout_s=3, max_retries=0)
    assert result.outputs.height == 2
    failure = result.failures.row(0, named=True)
    assert failure["ticket_id"] == "T-001" and failure["error_type"] == "provider_error"
    assert "Timeout" in failure["reason"]


def test_huge_input_is_truncated_and_flagged(cache):
    rows = ticket_rows(2).with_columns(
        pl.when(pl.col("ticket_id") == "T-000").then(pl.lit("x" * 50_000)).otherwise(pl.col("body")).alias("body")
    )
    with FakeLLMServer() as server:
        result = run_engine(server, cache, rows, max_input_chars=1000)
        sent = max(len(m["content"]) for r in server.requests for m in r["messages"])
    assert sent < 3000
    flags = dict(result.outputs.select("ticket_id", "input_truncated").iter_rows())
    assert flags == {"T-000": True, "T-001": False}


def test_prompt_version_changes_with_the_prompt():
    from dataclasses import replace

    from ai_assets.llm.task import PromptTemplate

    edited = replace(
        TRIAGE_TASK,
        prompt=PromptTemplate("ticket_triage", TRIAGE_TASK.prompt.system + " Be brief.", TRIAGE_TASK.prompt.user),
    )
    assert edited.prompt_version != TRIAGE_TASK.prompt_version
    assert replace(TRIAGE_TASK, temperature=0.7).prompt_version != TRIAGE_TASK.prompt_version


def test_progress_is_reported_while_running_and_at_the_end(cache):
    lines = []
    with FakeLLMServer() as server:
        run_engine(
            server,
            cache,
            ticket_rows(4),
            limits=Limits(concurrency=1),
            progress_every_s=0,
            on_progress=lambda done, metrics: lines.append(metrics.progress_line(done)),
        )
    assert len(lines) == 5  # after each row, then the final summary
    assert lines[0].startswith("1/4 rows (25%)") and lines[-1].startswith("4/4 rows (100%)")
    assert "rows/s, ETA" in lines[0] and "4 calls, 0 cache hits, 0 failures" in lines[-1]


def test_row_costs_and_the_run_cost_come_from_one_formula(cache):
    pricing = Pricing(input_per_1m=2.5, output_per_1m=10.0)
    with FakeLLMServer() as server:
        result = run_engine(server, cache, ticket_rows(3), pricing=pricing)
    rows = result.outputs
    expected = [pricing.cost_usd(p, c) for p, c in rows.select("prompt_tokens", "completion_tokens").iter_rows()]
    assert rows["cost_usd"].to_list() == expected and all(cost > 0 for cost in expected)
    assert abs(result.metrics.cost_usd - sum(expected)) < 1e-12
    # The same method prices a column: a polars expression in, an expression out.
    frame = pl.DataFrame({"p": [1000, 0], "c": [500, 2000]})
    assert frame.select(pricing.cost_usd(pl.col("p"), pl.col("c")))["p"].to_list() == [0.0075, 0.02]


def test_a_row_answered_without_a_call_has_the_lineage_a_call_would_have_had(cache):
    rows = ticket_rows(3)
    with FakeLLMServer() as server:
        called = run_engine(server, cache, rows)
    skipped = lineage_without_call(TRIAGE_TASK, rows, "ticket_id", 4000, False, "cascade")
    assert skipped.columns == ["ticket_id", *LINEAGE_SCHEMA]
    # The same question hashes the same: a row answered by the cascade today and by the LLM tomorrow is one input.
    assert skipped["input_hash"].to_list() == called.outputs.sort("ticket_id")["input_hash"].to_list()
    assert skipped.select(pl.all().exclude("ticket_id", "input_hash").unique().len()).row(0) == (1,) * 8
    assert skipped.row(0, named=True) | {"input_hash": None} == {
        "ticket_id": "T-000", "model": "cascade", "prompt_version": TRIAGE_TASK.prompt_version, "input_hash": None,
        "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "cache_hit": False, "latency_ms": 0.0,
        "input_truncated": False,
    }  # fmt: skip


def test_no_rows_no_call(cache):
    with FakeLLMServer() as server:
        result = run_engine(server, cache, ticket_rows(2).head(0))
        assert server.call_count == 0
    assert result.outputs.height == 0 and result.failures.height == 0
    assert {"category", *LINEAGE_SCHEMA} <= set(result.outputs.columns)


def test_the_failure_share_counts_the_rows_a_cascade_answered_without_a_call():
    # 1 of the 5 rows asked failed: 20% of those, 1% of the day's 100 rows (95 answered by the cascade).
    metrics = StepMetrics(rows=5, failures=1, failure_reasons={"invalid_output": 1})
    assert "1 of 5 rows failed" in metrics.why_failed(0.1)
    assert metrics.why_failed(0.1, answered_without_call=95) is None
    assert "1 of 100 rows failed" in metrics.why_failed(0.005, answered_without_call=95)
