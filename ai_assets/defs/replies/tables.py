"""The contracts of the reply loop's tables: one reply per ticket, one row per draft, critique and refine round."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import TICKET_KEY, TICKET_NOTES, count_column, date_column, one_of, says_why, text_column
from ai_assets.quality.vocabulary import REPLY_OUTCOMES, REPLY_STEPS, VERDICTS
from ai_assets.warehouse.contract import Table

_REPLY_LINEAGE = {
    "model": text_column(nullable=True),  # null: no LLM call (a template reply, or straight to a human)
    "draft_prompt_version": text_column(nullable=True),
    "critique_prompt_version": text_column(nullable=True),
    "prompt_tokens": count_column(),
    "completion_tokens": count_column(),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}


_REPLY_LINEAGE_NOTES = {
    "model": "null: no LLM call (a template reply, or the ticket went straight to a human)",
    "draft_prompt_version": "`<prompt>@<hash>` of the prompt that wrote the draft, `reply_template@<hash>` of a "
    "template reply; null: none written",
    "critique_prompt_version": "`<prompt>@<hash>` of the critique prompt; null: no critique made",
    "prompt_tokens": "tokens of the draft and critique prompts, as the provider counted them",
    "completion_tokens": "tokens of their answers, as the provider counted them",
    "cost_usd": "the draft and critique calls' cost at the model's prices (AI_ASSETS_PRICE_*)",
    "cache_hit": "every answer came from the response cache, or no call was made",
}


REPLY_DRAFTS = Table(
    "reply_drafts",
    "One row per ticket: the reply the loop settled on (or the knowledge-base template reply, "
    "AI_ASSETS_REPLY_DRAFTING), its cited chunks, the rounds it took, and the outcome: approved (every check "
    "passed) or needs_human with the reason.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "reply": text_column(nullable=True),
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "rounds": pa.Column(pl.Int32, pa.Check.ge(0)),
        "outcome": one_of(REPLY_OUTCOMES),
        "reason": text_column(nullable=True),
        "prompt_version": text_column(),
        **_REPLY_LINEAGE,
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    llm=True,
    checks=(says_why("outcome", ("approved",), "needs_human_has_a_reason", "every needs_human row says why"),),
    preview=("ticket_id", "outcome", "rounds", "reason", "reply"),
    notes={
        **TICKET_NOTES,
        **_REPLY_LINEAGE_NOTES,
        "reply": "null when no draft was written",
        "cited_chunk_ids": "the knowledge-base chunks the reply cites",
        "rounds": "rounds of the loop it took (1 for a template reply); 0: none (the triage failed, or a "
        "template reply had no excerpt to quote)",
        "outcome": "approved: it may be sent unread; needs_human: see reason",
        "reason": "why a human must look; null when approved",
        "prompt_version": "`reply_loop@<hash>` of the three prompts, the model and the bound; "
        "`reply_template@<hash>` of the templates for a template reply",
        "draft_prompt_version": "`<prompt>@<hash>` of the draft prompt, `reply_template@<hash>` of a template "
        "reply; null: no draft written",
        "prompt_tokens": "tokens of the prompts over all its rounds, as the provider counted them",
        "completion_tokens": "tokens of the answers over all its rounds, as the provider counted them",
        "cost_usd": "the cost of all its rounds' calls at the model's prices (AI_ASSETS_PRICE_*)",
    },
)


REPLY_ROUNDS = Table(
    "reply_rounds",
    "One row per ticket and round of the reply loop, for audit: the draft, the critique (grounded, policy, tone, "
    "problems), the verdict, tokens and cost.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "round": pa.Column(pl.Int32, pa.Check.ge(1)),
        "step": one_of(REPLY_STEPS),
        "reply": text_column(nullable=True),
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8), nullable=True),
        "grounded": pa.Column(pl.Boolean, nullable=True),
        "policy_ok": pa.Column(pl.Boolean, nullable=True),
        "tone_ok": pa.Column(pl.Boolean, nullable=True),
        "problems": pa.Column(pl.List(pl.Utf8), nullable=True),
        "verdict": one_of(VERDICTS),
        "error": text_column(nullable=True),
        **_REPLY_LINEAGE,
    },
    key=(*TICKET_KEY, "round"),
    pii=True,
    partitioned=True,
    llm=True,
    notes={
        **TICKET_NOTES,
        **_REPLY_LINEAGE_NOTES,
        "round": "1: the first draft; then one per refinement",
        "step": "draft in round 1, refine after; template: a knowledge-base template reply, its only round (no "
        "critique: grounded, policy_ok and tone_ok null)",
        "reply": "the round's draft; null: the step failed",
        "cited_chunk_ids": "the chunks the draft cites; null: the step failed",
        "grounded": "the critic's word: every claim is supported by the cited excerpts; null: no critique",
        "policy_ok": "the critic's word: it promises nothing the excerpts do not allow; null: no critique",
        "tone_ok": "the critic's word: polite, calm and on the customer's question; null: no critique",
        "problems": "what the critic (none for a template reply), the reply rules (REPLY_RULES) and the grounding "
        "check found; null: no check ran (the step failed)",
        "verdict": "pass: every check passed; fail: refined next round, or sent to a human; error: a step failed",
        "error": "why the step failed (verdict error)",
        "model": "the model asked; null: none (a template reply)",
    },
)
