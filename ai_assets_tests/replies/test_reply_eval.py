"""The reply evaluation (retrieval hit@k and MRR, grounded drafts, reviewers against the loop) and the
model leaderboard mart: real runs against the fake server."""

from __future__ import annotations

import json

import dagster as dg
import polars as pl
import pytest

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.quality.reply_evals import retrieval_scores
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.triage.test_evals import CASCADE


def test_hit_at_k_and_mrr_by_hand():
    expected = pl.DataFrame({"row_key": ["a", "b", "c", "d"], "kb_article_id": ["KB-1", "KB-2", "KB-3", "KB-4"]})
    nearest = pl.DataFrame(
        {
            "row_key": ["a", "b", "c"],  # d: nothing retrieved
            "article_ids": [["KB-1", "KB-9"], ["KB-9", "KB-2", "KB-2"], ["KB-8", "KB-9"]],
        }
    )
    # a: rank 1, b: rank 2, c and d: not retrieved.
    assert retrieval_scores(expected, nearest) == {"retrieval_n": 4, "hit_at_k": 0.5, "mrr": pytest.approx(1.5 / 4)}
    assert retrieval_scores(expected.head(0), nearest) == {"retrieval_n": 0, "hit_at_k": None, "mrr": None}


def _decide(pipeline: Pipeline, decisions: list[dict]) -> None:
    reviews = pipeline.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True, exist_ok=True)
    (reviews / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decisions))
    keys = [dg.AssetKey("review_decisions"), dg.AssetKey("review_decisions_quarantine")]
    pipeline.defs.resolve_job_def("reviews_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, asset_selection=keys
    )


def test_reply_eval_scores_retrieval_drafts_and_the_reviewers(pipeline: Pipeline):
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    first, second = [t for (t,) in pipeline.sql(
        "select ticket_id from reply_drafts where outcome = 'approved' order by ticket_id limit 2")]  # fmt: skip
    decision = {"created_date": DAY_1, "reviewer": "ana", "decided_at": "2026-11-02T10:00:00Z"}
    _decide(pipeline, [
        {**decision, "ticket_id": first, "decision": "edit", "edited_text": "Better words."},
        {**decision, "ticket_id": second, "decision": "approve"},
    ])  # fmt: skip
    pipeline.run("eval_job")

    (row,) = pipeline.sql(
        "select retrieval_n, hit_at_k, mrr, drafts, only_retrieved_share, approved_seen_by_human, approved_overruled, "
        "overruled_share from reply_eval_runs"
    )
    retrieval_n, hit, mrr, drafts, only_retrieved, seen, overruled, overruled_share = row
    assert retrieval_n == pipeline.count("ticket_labels", "kb_article_id is not null") > 0
    assert 0 < hit <= 1 and 0 < mrr <= hit
    assert drafts == pipeline.count("reply_drafts", "reply is not null")
    # Worked out from the tables a second way: every cited chunk among those retrieved for the ticket.
    grounded = pipeline.count(
        "reply_drafts d join ticket_context c using (ticket_id, created_date)",
        "d.reply is not null and len(d.cited_chunk_ids) > 0 "
        "and len(list_filter(d.cited_chunk_ids, x -> not list_contains(c.chunk_ids, x))) = 0",
    )
    assert only_retrieved == pytest.approx(grounded / drafts)
    assert (seen, overruled, overruled_share) == (2, 1, 0.5)

    pipeline.run("eval_job")  # nothing changed: the same evaluation, not a second row
    assert pipeline.count("reply_eval_runs") == 1


def test_the_leaderboard_puts_evaluated_versions_side_by_side(pipeline: Pipeline, monkeypatch):
    pipeline.run("reference_data_job")
    pipeline.run("eval_job")
    monkeypatch.setenv("AI_ASSETS_CASCADE", "off")
    settings = load_settings()
    off = Pipeline(settings, build_definitions(settings), pipeline.instance, pipeline.server)
    off.run("eval_job")
    off.run("marts_job")
    board = off.sql("select rank, cascade, mean_accuracy, n from model_leaderboard order by rank, cascade")
    runs = {
        cascade: (category + urgency + sentiment + language) / 4
        for cascade, category, urgency, sentiment, language in off.sql(
            "select cascade, accuracy_category, accuracy_urgency, accuracy_sentiment, accuracy_language from eval_runs"
        )
    }
    assert len(board) == 2 and {c for _, c, _, _ in board} == set(runs) == {CASCADE, "none"}
    for _, cascade, mean, n in board:
        assert mean == pytest.approx(runs[cascade], abs=1e-4) and n == off.count("ticket_labels")
    assert [rank for rank, *_ in board] == sorted(rank for rank, *_ in board) and board[0][0] == 1
    assert board[0][2] >= board[1][2]
    # Each version is ranked as it runs: the plan its evaluation chose (cascade off: the LLM alone).
    plans = dict(off.sql("select cascade, plan from model_leaderboard"))
    assert plans == dict(off.sql("select cascade, plan from eval_runs")) and plans["none"] == "llm_alone"
