"""The contracts of the evaluations' tables: the triage's predictions and runs, the replies' runs."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    LINEAGE_NOTES,
    TICKET_KEY,
    TICKET_NOTES,
    count_column,
    date_column,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import ANSWERERS, CASCADE_PLANS, LABEL_FIELDS, LABEL_SOURCES, PROXIED_FIELDS
from ai_assets.warehouse.contract import Table


def _scored(field: str) -> dict[str, pa.Column]:
    return {
        f"expected_{field}": text_column(nullable=True),
        f"predicted_{field}": text_column(nullable=True),
        f"{field}_correct": pa.Column(pl.Boolean, nullable=True),
    }


def _scored_notes(field: str) -> dict[str, str]:
    return {
        f"expected_{field}": f"the label's {field}; null: not labelled",
        f"predicted_{field}": f"the triage's {field}; null: the triage failed",
        f"{field}_correct": f"null: the label gives no {field}; false when the triage failed",
    }


EVAL_PREDICTIONS = Table(
    "eval_predictions",
    "One row per labelled ticket and evaluation: the expected and predicted triage per field and whether they "
    "agree, who answered, and lineage (model, prompt_version, tokens, cost_usd, latency_ms); a failed ticket is "
    "wrong on every field, with the error.",
    {
        "eval_id": text_column(),
        "ticket_id": text_column(),
        "created_date": date_column(),
        "source": one_of(LABEL_SOURCES),
        **{name: column for field in LABEL_FIELDS for name, column in _scored(field).items()},
        "answered_by": one_of(ANSWERERS, nullable=True),
        "proxy_fields": pa.Column(pl.List(pl.Utf8)),
        "model": text_column(),
        "prompt_version": text_column(),
        "prompt_tokens": count_column(),
        "completion_tokens": count_column(),
        "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "latency_ms": pa.Column(pl.Float64),
        "cache_hit": pa.Column(pl.Boolean),
        "error": text_column(nullable=True),
    },
    key=("eval_id", *TICKET_KEY),
    llm=True,
    preview=("ticket_id", "expected_category", "predicted_category", "category_correct", "error"),
    notes={
        **TICKET_NOTES,
        **LINEAGE_NOTES,
        "eval_id": "the evaluation (see eval_runs)",
        "source": "where the label comes from: a landing/labels file or a reviewer's correction",
        **{name: note for field in LABEL_FIELDS for name, note in _scored_notes(field).items()},
        "model": "the model that answered, or failed to",
        "error": "`<error_type>: <reason>` when the triage failed; null: answered",
        "answered_by": "llm, proxy (every proxied field) or both; null: the triage failed (error says why)",
        "proxy_fields": "the fields answered without the LLM: by the cascade's proxy, language by its identifier",
        "cost_usd": "of the answer, cached or not",
        "latency_ms": "0 when answered from the cache",
    },
)


EVAL_RUNS = Table(
    "eval_runs",
    "One row per evaluation (model, prompt version, cascade settings and label set): accuracy and macro-F1 per "
    "field, coverage, cost per 1,000 tickets and latency; appended, never replaced, so quality has a history.",
    {
        "eval_id": text_column(),
        "task": text_column(),
        "model": text_column(),
        "prompt_version": text_column(),
        "cascade": text_column(),
        "labels_hash": text_column(),
        "n": count_column(),
        **{
            name: pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for field in LABEL_FIELDS
            for name in (f"accuracy_{field}", f"macro_f1_{field}")
        },
        **{
            f"{who}_accuracy_{field}": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for who in ("llm", "proxy")
            for field in PROXIED_FIELDS
        },
        **{
            f"proxy_{name}_{field}": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for field in PROXIED_FIELDS
            for name in ("threshold", "accuracy_bound")
        },
        "llm_accuracy_language": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True),
        # Imported labels (landing/labels) can be poisoned with the proxy that learns from them;
        # reviewer-confirmed ones are scored apart (issue 23).
        "n_reviewed": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        **{
            f"accuracy_{field}_{source}": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for source in ("reviewed", "imported")
            for field in LABEL_FIELDS
        },
        "coverage": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "proxy_share": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "llm_call_share": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True),
        "plan": one_of(CASCADE_PLANS, nullable=True),
        "plan_reason": text_column(nullable=True),
        "targets": text_column(nullable=True),
        "cost_per_1k_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "latency_p50_ms": pa.Column(pl.Float64, nullable=True),
        "latency_p95_ms": pa.Column(pl.Float64, nullable=True),
        "evaluated_at": pa.Column(pl.Datetime("us")),
    },
    key=("eval_id",),
    preview=("evaluated_at", "model", "prompt_version", "n", "accuracy_category", "accuracy_urgency", "coverage"),
    notes={
        "eval_id": "hash of task, model, prompt_version, cascade, labels_hash and targets: the same evaluation, the "
        "same id",
        "cascade": "the cascade settings (`none`: every ticket goes to the LLM)",
        "labels_hash": "hash of the labelled tickets evaluated",
        "task": "the task evaluated (ticket_triage)",
        "model": "the triage's model",
        "prompt_version": LINEAGE_NOTES["prompt_version"],
        "n": "labelled tickets evaluated",
        **{
            f"accuracy_{field}": f"share of tickets labelled with a {field} whose triage agrees (failed: wrong); "
            "null: none labelled"
            for field in LABEL_FIELDS
        },
        **{
            f"macro_f1_{field}": "unweighted mean of per-class F1 over the classes expected or predicted"
            for field in LABEL_FIELDS
        },
        **{
            f"accuracy_{field}_{source}": f"accuracy_{field} over the {labels} only; null: none"
            for source, labels in (
                ("reviewed", "reviewer-confirmed labels"),
                ("imported", "labels from landing/labels"),
            )
            for field in LABEL_FIELDS
        },
        "coverage": "share of tickets answered (not failed)",
        **{
            f"llm_accuracy_{field}": "the own answers' accuracy of the LLM the plan asks (the small model under "
            "proxy_small_llm), before the cascade; null: no cascade field labelled"
            for field in PROXIED_FIELDS
        },
        **{
            f"proxy_accuracy_{field}": "the proxy's top answer's accuracy on every labelled ticket, each held out; "
            "null: cascade off"
            for field in PROXIED_FIELDS
        },
        **{
            f"proxy_threshold_{field}": "the confidence from which the proxy answers, as the triage applies it: the "
            "lowest at which the 95% lower bound of its held-out accuracy reaches the target, or 0 where this "
            "evaluation found the LLM no better; null: none reaches it, the labels are distrusted, or cascade off"
            for field in PROXIED_FIELDS
        },
        **{
            f"proxy_accuracy_bound_{field}": "the 95% lower confidence bound of the proxy's accuracy on the labelled "
            "tickets it answers (held out) at that threshold; optimistic, the threshold being chosen on the same "
            "tickets; null: it answers none"
            for field in PROXIED_FIELDS
        },
        "llm_accuracy_language": "the LLM's own language answers' accuracy, before the language identifier's "
        "replace them; null: no ticket labelled with a language",
        "proxy_share": "share of the (ticket, category/urgency/sentiment) answers the cascade's proxy gave",
        "llm_call_share": "share of the tickets ticket_triage would ask the LLM about (the rest the cascade answers "
        "whole: category, urgency, sentiment and language); the evaluation itself asks about every one, to measure "
        "the LLM; null: recorded before this column",
        "plan": "how ticket_triage answers after this evaluation, the cheapest plan that meets every target "
        "(eval_plans; proxy_only, proxy_small_llm, proxy_llm or llm_alone); the accuracies here are that plan's; "
        "null: recorded before this column (proxy_llm)",
        "plan_reason": "why that plan: the plans' calls and cost per 1,000 tickets and the targets they miss",
        "targets": "the accuracy targets the plan was chosen at (AI_ASSETS_EVAL_TARGETS, field=share,...); null: "
        "recorded before this column",
        "n_reviewed": "labels from a reviewer's correction (source review); null: recorded before this column",
        "cost_per_1k_usd": "cost per 1,000 tickets of the plan chosen (eval_plans: LLM calls at the evaluation's "
        "mean cost per call, cached or not)",
        **dict.fromkeys(
            ("latency_p50_ms", "latency_p95_ms"),
            "of the calls made in the run that recorded the evaluation; null: all from the cache",
        ),
        "evaluated_at": "UTC",
    },
)


def _share(**kwargs) -> pa.Column:
    return pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True, **kwargs)


REPLY_EVAL_RUNS = Table(
    "reply_eval_runs",
    "One row per evaluation of retrieval and replies: hit@k and MRR of the retrieval on the labelled tickets' "
    "expected knowledge-base article, the share of drafts citing only chunks retrieved for their ticket, and how "
    "often reviewers rejected or edited a reply the loop had approved; appended, never replaced.",
    {
        "eval_id": text_column(),
        "embed_model": text_column(),
        "top_k": count_column(),
        "labels_hash": text_column(),
        "retrieval_n": count_column(),
        "hit_at_k": _share(),
        "mrr": _share(),
        "drafts": count_column(),
        "only_retrieved_share": _share(),
        "approved_seen_by_human": count_column(),
        "approved_overruled": count_column(),
        "overruled_share": _share(),
        "evaluated_at": pa.Column(pl.Datetime("us")),
    },
    key=("eval_id",),
    preview=("evaluated_at", "embed_model", "hit_at_k", "mrr", "only_retrieved_share", "overruled_share"),
    notes={
        "eval_id": "hash of every other column but evaluated_at: the same state is recorded once",
        "embed_model": "the embedding model retrieval used (AI_ASSETS_EMBED_MODEL)",
        "top_k": "chunks retrieved per ticket (AI_ASSETS_RETRIEVAL_TOP_K)",
        "labels_hash": "hash of the labelled tickets (as in eval_runs)",
        "retrieval_n": "labelled tickets with an expected kb_article_id",
        "hit_at_k": "share of them with a chunk of that article among the top_k retrieved; null: none labelled",
        "mrr": "mean of 1 / the rank of the first chunk of that article (0 when not retrieved)",
        "drafts": "drafted replies, every day",
        "only_retrieved_share": "share of drafts citing at least one chunk and only chunks retrieved for their ticket",
        "approved_seen_by_human": "replies the loop approved that a reviewer also decided on",
        "approved_overruled": "of them, rejected or edited by the reviewer",
        "overruled_share": "approved_overruled / approved_seen_by_human; null: no reviewer saw an approved reply",
        "evaluated_at": "UTC",
    },
)

EVAL_PLANS = Table(
    "eval_plans",
    "One row per evaluation and plan of the triage (proxy only, proxy + the small LLM when AI_ASSETS_SMALL_LLM is "
    "set, proxy + the evaluation's LLM, LLM alone): its "
    "accuracy per field on the labelled tickets and the LLM calls, tokens and cost per 1,000 tickets it takes; the "
    "chosen one is the cheapest that meets every target, and ticket_triage runs it. Appended with eval_runs.",
    {
        "eval_id": text_column(),
        "plan": one_of(CASCADE_PLANS),
        "model": text_column(),
        **{f"accuracy_{field}": _share() for field in LABEL_FIELDS},
        "llm_calls_per_1k": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1000.0)),
        "tokens_per_1k": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cost_per_1k_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "meets_targets": pa.Column(pl.Boolean),
        "shortfall": text_column(nullable=True),
        "chosen": pa.Column(pl.Boolean),
        "evaluated_at": pa.Column(pl.Datetime("us")),
    },
    key=("eval_id", "plan"),
    preview=("evaluated_at", "model", "plan", "accuracy_category", "llm_calls_per_1k", "cost_per_1k_usd", "chosen"),
    notes={
        "eval_id": "the evaluation (eval_runs)",
        "plan": "proxy_only: the proxy's top vote for category, urgency and sentiment, the language identifier's "
        "language (the LLM only where it is unsure); proxy_small_llm: the proxy where sure, the small LLM "
        "(AI_ASSETS_SMALL_LLM) for the rest; proxy_llm: the proxy where sure, the LLM for the rest; llm_alone: the "
        "LLM for every field",
        "model": "the LLM the plan asks: the small model under proxy_small_llm, else the evaluation's model",
        **{
            f"accuracy_{field}": f"share of the tickets labelled with a {field} that the plan answers right (a failed "
            "call: wrong); null: none labelled"
            for field in LABEL_FIELDS
        },
        "llm_calls_per_1k": "LLM calls per 1,000 tickets: the tickets the plan does not answer whole without one",
        "tokens_per_1k": "prompt and completion tokens per 1,000 tickets, at the evaluation's mean per call",
        "cost_per_1k_usd": "cost per 1,000 tickets, at the evaluation's mean per call (0 on the embedded model)",
        "meets_targets": "every field reaches its AI_ASSETS_EVAL_TARGETS accuracy",
        "shortfall": "the fields below their target; null: none",
        "chosen": "the plan ticket_triage runs (eval_runs.plan): the cheapest that meets every target, or the "
        "closest when none does",
        "evaluated_at": "UTC",
    },
)
