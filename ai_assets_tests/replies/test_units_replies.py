"""The reply rules and the bounded draft -> critique -> refine loop, with a scripted model (no server)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ai_assets.defs.replies.grounding import grounding_problems
from ai_assets.defs.replies.loop import run_reply_loop
from ai_assets.defs.replies.tasks import reply_tasks, rule_problems
from ai_assets.llm.engine import FAILURE_SCHEMA, LINEAGE_SCHEMA, TaskResult, output_schema
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.task import LLMTask
from ai_assets_tests.fakes.llm_server import _embedding

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


def _grounded(drafts: pl.DataFrame) -> pl.Series:
    return pl.Series([[]] * drafts.height, dtype=pl.List(pl.Utf8))


def _run(max_refinements: int, ground=_grounded) -> tuple[ScriptedModel, pl.DataFrame, pl.DataFrame]:
    model = ScriptedModel()
    result = run_reply_loop(TICKETS, reply_tasks(), model.run_step, max_refinements, ground)
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


def test_a_reply_the_grounding_check_rejects_is_refined_and_never_approved():
    """The critic and the rules pass GOOD; the grounding check does not: it goes to a human."""

    def ungrounded(drafts: pl.DataFrame) -> pl.Series:
        return pl.Series([[f'not grounded: "{r}"'] for r in drafts["reply"]], dtype=pl.List(pl.Utf8))

    model, outcomes, rounds = _run(max_refinements=1, ground=ungrounded)
    assert {k: o["outcome"] for k, o in outcomes.items()} == dict.fromkeys(
        ["ok", "fixed", "stuck", "broken"], "needs_human"
    )
    first = rounds.filter((pl.col("row_key") == "ok") & (pl.col("round") == 1)).row(0, named=True)
    assert first["problems"] == [f'not grounded: "{GOOD}"']  # the critic and the rules had none
    assert ("reply_refine", ["fixed", "ok", "stuck"]) in model.calls  # refined with the reason
    assert "not grounded: " in outcomes["ok"]["reason"]
    assert rounds.filter(pl.col("verdict") == "pass").height == 0


# --- grounding_problems: auto-send only what the cited excerpts support ------------------------

# Sample knowledge-base chunks, as kb_chunks writes them ("title - heading" line, then the text).
CHUNKS = {
    "kb-account-sign-in#3": "Signing in and resetting your password - What we will never ask for\n"
    "Our agents will never ask for your password or a one-time code.",
    "kb-billing-refunds#1": "Refunds and double charges - Double and triple charges\n"
    "A duplicate charge is usually a pending card authorisation that was never captured. Pending\n"
    "authorisations drop off your statement automatically within 7 days.\n\n"
    "If two or more charges have actually been captured for one order, we refund every extra charge\n"
    "within 3 business days of your report. Please send the order id and the date of each charge.",
    "kb-shipping-international#2": "International shipping and customs - If a courier asks you for a fee\n"
    "If you are in a delivered-duty-paid country and the courier asks for a fee, do not pay it. Send us a\n"
    "photo of the notice and we settle it with the courier directly.",
}


def _embed(texts: list[str]):
    """The tests' fake server's bag-of-words embeddings (the threshold the tests set is for these)."""
    return np.asarray([_embedding(t) for t in texts])


def _grounding(reply: str, cited: str, min_support: float | None = 0.34, embed=_embed) -> list[str]:
    drafts = pl.DataFrame({"reply": [reply], "cited_chunk_ids": [[cited]], "knowledge": [f"[{cited}] {CHUNKS[cited]}"]})
    return grounding_problems(drafts, embed, min_support, "fake").to_list()[0]


# Phrasings every rule check of defs/replies/tasks.py lets through (the first is the issue's), in five languages.
UNCAUGHT_BY_RULES = [
    ("Type your login password in your reply so we can check.", "kb-account-sign-in#3"),
    ("Thank you for your message. Write your account password at the end of your reply.", "kb-account-sign-in#3"),
    ("Enter the code we just sent to your phone in your answer.", "kb-account-sign-in#3"),
    ("Please send the password and the date of each charge.", "kb-billing-refunds#1"),
    ("Pay the remaining customs fee by transfer to our partner's account.", "kb-shipping-international#2"),
    ("Click the button in our next email to confirm your account.", "kb-billing-refunds#1"),
    ("Bitte geben Sie Ihr Passwort in Ihrer Antwort ein.", "kb-account-sign-in#3"),
    ("Merci de nous envoyer votre mot de passe.", "kb-account-sign-in#3"),
    ("Per favore, ci invii la sua password.", "kb-account-sign-in#3"),
    ("Our agents will ask for your password or a one-time code.", "kb-account-sign-in#3"),  # negation dropped
    ("Every extra charge is refunded within 30 business days of your report.", "kb-billing-refunds#1"),
    # Safe request words alone, but carrying an amount, a phone number, an address or a bare number line.
    ("Please send us 200 for the order.", "kb-billing-refunds#1"),
    ("Please send the photo to +49 151 2345678.", "kb-shipping-international#2"),
    ("Please send your order number to help@order.it.", "kb-billing-refunds#1"),
    ("Please reply to:\n+44 20 7946 0958", "kb-billing-refunds#1"),
]


@pytest.mark.parametrize(("reply", "cited"), UNCAUGHT_BY_RULES)
def test_a_sentence_the_cited_excerpt_does_not_support_is_not_grounded(reply: str, cited: str):
    problems = _grounding(reply, cited)
    assert problems and all(p.startswith("not grounded: ") for p in problems)


def test_the_reason_names_the_sentence_and_its_best_support():
    (problem,) = _grounding("Hello. Type your login password in your reply so we can check.", "kb-account-sign-in#3")
    assert problem.startswith(
        'not grounded: "Type your login password in your reply so we can check." has best support'
    )
    assert "(needs 0.34)" in problem


GROUNDED = [
    ("Hello,\nOur agents will never ask for your password or a one-time code.\nKind regards", "kb-account-sign-in#3"),
    (
        "Thank you for your message. If two or more charges have actually been captured for one order, we refund "
        "every extra charge within 3 business days of your report. Please send the order id and the date of each "
        "charge. A colleague will follow up.",
        "kb-billing-refunds#1",
    ),
    # Safe requests in the closed vocabulary need no excerpt; the fee sentence is the excerpt's own.
    (
        "If the courier asks for a fee, do not pay it. Please send us a photo of the parcel and the order number. "
        "Bitte senden Sie uns ein Foto der Verpackung.",
        "kb-shipping-international#2",
    ),
]


@pytest.mark.parametrize(("reply", "cited"), GROUNDED)
def test_a_reply_its_cited_excerpt_supports_is_grounded(reply: str, cited: str):
    assert _grounding(reply, cited) == []


def test_without_a_threshold_for_the_model_or_without_embeddings_nothing_is_grounded():
    reply, cited = GROUNDED[0]
    (problem,) = _grounding(reply, cited, min_support=None)
    assert "no grounding threshold for the embedding model fake" in problem
    assert "AI_ASSETS_GROUNDING_MIN_SUPPORT" in problem

    def broken(texts: list[str]):
        raise ConnectionError("embedding endpoint unreachable")

    (problem,) = _grounding(reply, cited, embed=broken)
    assert problem == (
        "not grounded: the sentences could not be embedded (ConnectionError: embedding endpoint unreachable)"
    )
