"""One LLM metric vocabulary: every LLM and embedding asset reports the same keys, latency is the
provider's (not the wait for a slot), and a paid model without prices says so."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.metrics import StepMetrics
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import DAY_1, configure_env
from ai_assets_tests.fakes.llm_server import FakeLLMServer

LLM_ASSETS = ("ticket_triage", "reply_drafts", "reply_rounds", "kb_embeddings", "ticket_context", "eval_runs")
VOCABULARY = set(StepMetrics().metadata())


@pytest.fixture
def slow_pipeline(tmp_path, monkeypatch):
    """The fake server answering in 0.2 s, one request in flight at a time."""
    with FakeLLMServer(model_name="fake-model", latency=0.2) as server:
        settings = configure_env(monkeypatch, tmp_path / "data", server)
        monkeypatch.setenv("AI_ASSETS_LLM_CONCURRENCY", "1")
        generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=20, handwritten=False)
        defs = build_definitions(load_settings())
        with dg.DagsterInstance.ephemeral() as instance:
            yield defs, instance


def test_every_llm_asset_reports_the_same_metric_keys(slow_pipeline):
    defs, instance = slow_pipeline
    metadata, warnings = {}, []
    for job, partition in (("reference_data_job", None), ("daily_tickets_job", DAY_1), ("eval_job", None)):
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition)
        assert result.success
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            metadata[materialization.asset_key.to_user_string()] = materialization.metadata
        warnings += [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]

    for asset in LLM_ASSETS:
        assert set(metadata[asset]) >= VOCABULARY, (asset, VOCABULARY - set(metadata[asset]))
    # Provider latency: at least the server's 0.2 s, and not the wait in the queue. The calls went one
    # at a time, so their latencies add up to no more than the step's wall time, and the median (half
    # the calls at or above it) to no more than twice a call's share of it; measured from the queue,
    # the median would carry half the queue, about half the wall time. Both hold on any machine.
    triage = metadata["ticket_triage"]
    calls, wall_ms = triage["llm_calls"].value, 1000 * triage["rows"].value / triage["rows_per_s"].value
    assert calls >= 5 and 150 <= triage["latency_p50_ms"].value <= 2 * wall_ms / calls
    assert metadata["reply_drafts"]["rows"].value == metadata["ticket_triage"]["rows"].value
    # The fake model has no price: the UI and the run log say cost_usd reads 0 for that reason.
    assert "AI_ASSETS_PRICE_INPUT_PER_1M" in metadata["ticket_triage"]["cost_note"].value
    assert any("prices unset for fake-model" in w for w in warnings)
    assert "cost_note" not in metadata["ticket_context"] or "EMBED" in metadata["ticket_context"]["cost_note"].value


def test_the_embedded_model_is_free_and_says_nothing_about_prices(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)

    assert settings.llm.unpriced_note() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("AI_ASSETS_PRICE_INPUT_PER_1M", "0.15")
    assert load_settings().llm.unpriced_note() is None
