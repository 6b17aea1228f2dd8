"""The cheapest plan at a target (quality/plans.py): scored plans in, the plan to run and why out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import polars as pl
import pytest

from ai_assets.quality.plans import PlanScore, choose_plan, plans_frame, plans_markdown, score_plan, unbeatable
from ai_assets.transform import cascade
from ai_assets.transform.cascade import ProxyAnswer, lineage_frame, plan_answers

TARGETS = {"category": 0.8, "sentiment": 0.7}


def _score(plan: str, category: float, sentiment: float, calls: float, cost: float) -> PlanScore:
    accuracy = {"category": category, "urgency": None, "sentiment": sentiment, "language": 1.0}
    short = [f for f, target in TARGETS.items() if accuracy[f] < target]
    return PlanScore(plan, accuracy, calls, calls * 300, cost, short)


def test_the_cheapest_plan_that_meets_every_target_runs():
    scores = [
        _score("proxy_only", 0.85, 0.72, 0, 0.0),
        _score("proxy_llm", 0.90, 0.80, 400, 0.2),
        _score("llm_alone", 0.92, 0.81, 1000, 0.5),
    ]
    chosen, why = choose_plan(scores, TARGETS)
    assert chosen.plan == "proxy_only"
    assert why.startswith("proxy_only: the cheapest plan that meets every target") and "llm_alone 1,000 calls" in why

    # The proxy short on sentiment: the cascade, cheaper than the LLM alone, though less accurate.
    scores[0] = _score("proxy_only", 0.85, 0.60, 0, 0.0)
    chosen, why = choose_plan(scores, TARGETS)
    assert chosen.plan == "proxy_llm" and "proxy_only 0 calls $0.0000 (1 short)" in why

    # On the embedded model every plan costs nothing: the fewest calls decide.
    free = [_score("proxy_llm", 0.9, 0.8, 400, 0.0), _score("llm_alone", 0.9, 0.8, 1000, 0.0)]
    assert choose_plan(free, TARGETS)[0].plan == "proxy_llm"


def test_the_small_model_runs_when_it_is_cheaper_and_first_when_as_cheap():
    small = _score("proxy_small_llm", 0.88, 0.75, 400, 0.0)
    configured = _score("proxy_llm", 0.90, 0.80, 400, 0.2)
    assert choose_plan([small, configured], TARGETS)[0].plan == "proxy_small_llm"
    # Unpriced, both: the order of the plans decides, the model on one's own machine first.
    assert choose_plan([small, _score("proxy_llm", 0.90, 0.80, 400, 0.0)], TARGETS)[0].plan == "proxy_small_llm"
    # Short of a target: the configured model, though it costs.
    short = _score("proxy_small_llm", 0.70, 0.75, 400, 0.0)
    assert choose_plan([short, configured], TARGETS)[0].plan == "proxy_llm"
    assert cascade.plan_thresholds("proxy_small_llm", {}, {}) == {}
    # A plan that meets every target with no call cannot be undercut: the small model need not be asked.
    assert unbeatable(_score("proxy_only", 0.85, 0.72, 0, 0.0))
    assert not unbeatable(_score("proxy_only", 0.85, 0.72, 10, 0.0))  # the language identifier unsure of some
    assert not unbeatable(_score("proxy_only", 0.85, 0.60, 0, 0.0))


def test_when_no_plan_meets_the_targets_the_closest_runs_and_says_what_is_short():
    scores = [
        _score("proxy_only", 0.70, 0.60, 0, 0.0),  # two short
        _score("proxy_llm", 0.75, 0.75, 500, 0.0),  # one short, mean 0.75
        _score("llm_alone", 0.79, 0.72, 1000, 0.0),  # one short, mean 0.755
    ]
    chosen, why = choose_plan(scores, TARGETS)
    assert chosen.plan == "llm_alone"
    assert why.startswith("llm_alone: no plan meets every target") and "category" in why


def test_the_plans_table_names_each_target_and_what_a_plan_falls_short_of():
    scores = [_score("proxy_only", 0.85, 0.60, 0, 0.0), _score("llm_alone", 0.92, 0.81, 1000, 0.5)]
    plans = plans_frame("e1", "m", scores, "llm_alone", datetime(2026, 12, 7))
    assert plans["model"].to_list() == ["m", "m"]
    small = replace(scores[0], plan="proxy_small_llm", model="smollm2")
    assert plans_frame("e1", "m", [small], "llm_alone", datetime(2026, 12, 7))["model"].to_list() == ["smollm2"]
    header, _, proxy_only, llm_alone = plans_markdown(plans, TARGETS).splitlines()
    assert "| category (target 0.8) | urgency | sentiment (target 0.7) | language |" in header
    assert proxy_only.startswith("| proxy_only | 0.850 |  | 0.600 | 1.000 | 0 | 0.0000 |")
    assert proxy_only.endswith("| no: sentiment |")
    assert llm_alone.startswith("| **llm_alone** (runs) |") and llm_alone.endswith("| 1,000 | 0.5000 | yes |")


def test_a_plan_is_priced_at_the_evaluations_mean_call():
    predictions = pl.DataFrame(
        {
            **{f"expected_{f}": ["a", "b", "c", "d"] for f in cascade.FIELDS},
            **{f"predicted_{f}": ["a", "b", "x", None] for f in cascade.FIELDS},
        }
    )
    calls = pl.DataFrame({"prompt_tokens": [100, 300], "completion_tokens": [20, 20], "cost_usd": [0.001, 0.003]})
    score = score_plan("proxy_llm", predictions, 0.25, calls, {"category": 0.6})
    assert score.accuracy["category"] == 0.5 and score.shortfalls == ["category accuracy 0.500 is below its target 0.6"]
    assert (score.llm_calls_per_1k, score.tokens_per_1k) == (250, 250 * 220)
    assert score.cost_per_1k_usd == pytest.approx(250 * 0.002)


def test_each_plan_has_its_thresholds():
    calibration = {
        name: cascade.FieldCalibration(threshold=0.4, rows=10, answered=5, accuracy=0.9, top_vote_accuracy=0.7)
        for name in ("category", "sentiment")
    }
    assert cascade.plan_thresholds("proxy_only", calibration, {}) == {"category": 0.0, "sentiment": 0.0}
    assert cascade.plan_thresholds("llm_alone", calibration, {}) == {"category": None, "sentiment": None}
    # The cascade: calibrated, except where the LLM was no better than the proxy's top vote.
    assert cascade.plan_thresholds("proxy_llm", calibration, {"category": 0.6, "sentiment": 0.8}) == {
        "category": 0.0,
        "sentiment": 0.4,
    }
    with pytest.raises(ValueError, match="unknown plan 'cheap'"):
        cascade.plan_thresholds("cheap", calibration, {})


def test_a_ticket_a_plan_answers_whole_is_answered_though_the_evaluations_call_failed():
    whole = {
        "category": ("billing", 0.9),
        "urgency": ("low", 0.9),
        "sentiment": ("neutral", 0.9),
        "language": ("en", 1),
    }
    lineage = lineage_frame(
        ["a", "b", "c"],
        [
            ProxyAnswer(whole, ()),
            ProxyAnswer({"language": ("de", 1.0)}, ("category", "urgency", "sentiment")),
            ProxyAnswer(),
        ],
    )
    # Only "c" was answered by the LLM; "a" needs no call under this plan, "b" does (its call failed).
    outputs = pl.DataFrame(
        {"row_key": ["c"], "category": ["shipping"], "urgency": ["high"], "sentiment": ["negative"], "language": ["fr"]}
    )
    answers = plan_answers(outputs, lineage).sort("row_key")
    assert answers["row_key"].to_list() == ["a", "c"]
    fields = ["category", "urgency", "sentiment", "language"]
    assert answers.select(fields).rows() == [
        ("billing", "low", "neutral", "en"),
        ("shipping", "high", "negative", "fr"),
    ]
    assert [sorted(f) for f in answers["proxy_fields"]] == [sorted(fields), []]
