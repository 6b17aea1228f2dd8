"""The reply rules and the bounded draft -> critique -> refine loop, with a scripted model (no server)."""

from __future__ import annotations

import polars as pl
import pytest

from ai_assets.config import load_settings
from ai_assets.llm.engine import FAILURE_SCHEMA, LINEAGE_SCHEMA, TaskResult, output_schema
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.task import LLMTask
from ai_assets.transform.reply import reply_tasks, rule_problems
from ai_assets.transform.reply_loop import run_reply_loop

# --- rule_problems ---------------------------------------------------------------------------


# The excerpts as the prompts show them; kb-1 allows refunds, so only the rule under test fires.
KNOWLEDGE = "[kb-1] We refund the original payment method within 5 business days.\n\n[kb-2] Parcels ship daily."


def _problems(reply: str, cited: list[str] | None = None, retrieved: list[str] | None = None) -> list[str]:
    drafts = pl.DataFrame(
        {
            "reply": [reply],
            "cited_chunk_ids": [["kb-1"] if cited is None else cited],
            "retrieved_chunk_ids": [["kb-1"] if retrieved is None else retrieved],
            "knowledge": [KNOWLEDGE],
        },
        schema={
            "reply": pl.Utf8,
            "cited_chunk_ids": pl.List(pl.Utf8),
            "retrieved_chunk_ids": pl.List(pl.Utf8),
            "knowledge": pl.Utf8,
        },
    )
    return rule_problems(drafts).to_list()[0]


def test_a_clean_reply_citing_a_retrieved_chunk_passes():
    assert _problems("Order 12345 ships today. We will never ask for your password.", ["kb-1"], ["kb-1", "kb-2"]) == []


def test_citations_must_exist_and_come_from_the_retrieved_chunks():
    assert _problems("Order 12345 ships today.", cited=[], retrieved=["kb-1"]) == ["cites no knowledge-base chunk"]
    assert _problems("Order 12345 ships today.", cited=["kb-9"], retrieved=["kb-1"]) == [
        "cites a chunk that was not retrieved for this ticket"
    ]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("To check, please send us your password.", "asks for a password"),
        ("Please confirm your card number and the CVV.", "asks for card details"),
        ("We refunded the card 4111 1111 1111 1111 today.", "contains a card number"),
        ("Reset it at https://example.com/reset today.", "contains a link"),
        ("Reset it at www.example.com today.", "contains a link"),
    ],
)
def test_secrets_card_numbers_and_links_are_flagged(reply: str, problem: str):
    assert _problems(reply) == [problem]


# --- run_reply_loop --------------------------------------------------------------------------

GOOD = "Your parcel ships today."
TICKETS = pl.DataFrame(
    {
        "row_key": ["ok", "fixed", "stuck", "broken"],
        "customer_context": ["tier: pro"] * 4,
        "knowledge": ["[kb-1] Parcels ship within a day."] * 4,
        "subject": ["Where is my parcel?"] * 4,
        "body": ["It has not arrived."] * 4,
        "retrieved_chunk_ids": [["kb-1"]] * 4,
        "facts": ["(none gathered)"] * 4,
        "order_status": [None] * 4,
    },
    schema_overrides={"order_status": pl.Utf8},
)


class ScriptedModel:
    """Drafts GOOD for `ok`, a weak reply for the others, nothing for `broken` (a provider error);
    the critic passes GOOD only; a refinement fixes `fixed` and never `stuck`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []  # (task name, row keys), in call order

    def answer(self, task: LLMTask, row: dict) -> dict | str:
        if task.name == "reply_draft":
            if row["row_key"] == "broken":
                return "HTTP 500 from the provider"
            return {"reply": GOOD if row["row_key"] == "ok" else "Maybe it ships.", "cited_chunk_ids": ["kb-1"]}
        if task.name == "reply_refine":
            return {"reply": GOOD if row["row_key"] == "fixed" else "Still maybe.", "cited_chunk_ids": ["kb-1"]}
        ok = row["draft"] == GOOD
        return {"grounded": ok, "policy_ok": True, "tone_ok": True, "problems": [] if ok else ["unsupported claim"]}

    def run_step(self, task: LLMTask, rows: pl.DataFrame, label: str) -> TaskResult:
        self.calls.append((task.name, sorted(rows["row_key"])))
        answers = {row["row_key"]: self.answer(task, row) for row in rows.iter_rows(named=True)}
        lineage = {"model": "fake", "prompt_version": task.prompt_version, "input_hash": "h", "input_truncated": False}
        outputs = pl.DataFrame(
            [
                {"row_key": key, **a, **lineage, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.001}
                | {"cache_hit": False, "latency_ms": 1.0}
                for key, a in answers.items()
                if isinstance(a, dict)
            ],
            schema={"row_key": pl.Utf8, **output_schema(task.output_model), **LINEAGE_SCHEMA},
        )
        failures = pl.DataFrame(
            [
                {"row_key": key, "error_type": "provider_error", "reason": a, "raw_output": None, **lineage}
                for key, a in answers.items()
                if isinstance(a, str)
            ],
            schema={"row_key": pl.Utf8, **FAILURE_SCHEMA},
        )
        return TaskResult(outputs=outputs, failures=failures, metrics=StepMetrics(rows=rows.height))


def _run(max_refinements: int) -> tuple[ScriptedModel, pl.DataFrame, pl.DataFrame]:
    model = ScriptedModel()
    result = run_reply_loop(TICKETS, reply_tasks(load_settings({})), model.run_step, max_refinements)
    outcomes = {row["row_key"]: row for row in result.outcomes.iter_rows(named=True)}
    return model, outcomes, result.rounds


def test_each_ticket_leaves_the_loop_approved_or_to_a_human_with_the_reason():
    _, outcomes, _ = _run(max_refinements=2)
    assert {k: (o["outcome"], o["rounds"]) for k, o in outcomes.items()} == {
        "ok": ("approved", 1),
        "fixed": ("approved", 2),
        "stuck": ("needs_human", 3),
        "broken": ("needs_human", 1),
    }
    assert outcomes["ok"]["reply"] == GOOD and outcomes["fixed"]["reply"] == GOOD
    assert outcomes["ok"]["reason"] is None and outcomes["fixed"]["reason"] is None
    assert outcomes["stuck"]["reason"] == "critique still failing after 2 refinements: unsupported claim"
    assert outcomes["stuck"]["reply"] == "Still maybe."  # the last draft, for the reviewer
    assert "draft failed (provider_error)" in outcomes["broken"]["reason"]
    assert "HTTP 500 from the provider" in outcomes["broken"]["reason"]


def test_only_failing_drafts_are_refined_and_never_beyond_the_bound():
    model, _, rounds = _run(max_refinements=2)
    assert model.calls == [
        ("reply_draft", ["broken", "fixed", "ok", "stuck"]),
        ("reply_critique", ["fixed", "ok", "stuck"]),  # a failed draft has nothing to critique
        ("reply_refine", ["fixed", "stuck"]),
        ("reply_critique", ["fixed", "stuck"]),
        ("reply_refine", ["stuck"]),
        ("reply_critique", ["stuck"]),
    ]
    assert rounds["round"].max() == 3
    per_ticket = dict(rounds.group_by("row_key").agg(pl.col("verdict")).iter_rows())
    assert per_ticket["stuck"] == ["fail", "fail", "fail"] and per_ticket["broken"] == ["error"]
    assert per_ticket["fixed"] == ["fail", "pass"]


def test_without_refinements_a_failing_critique_goes_straight_to_a_human():
    model, outcomes, rounds = _run(max_refinements=0)
    assert [name for name, _ in model.calls] == ["reply_draft", "reply_critique"]
    assert outcomes["fixed"]["outcome"] == "needs_human" and outcomes["fixed"]["rounds"] == 1
    assert outcomes["fixed"]["reason"] == "critique still failing after 0 refinements: unsupported claim"
    assert rounds["round"].max() == 1
