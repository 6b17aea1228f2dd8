"""The contracts of the knowledge-base updates: reviewers' decisions on proposals, the proposals, the publications."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    DECISION_COLUMNS,
    DECISION_NOTES,
    LANDING_NOTES,
    LINEAGE_NOTES,
    count_column,
    file_quarantine,
    not_blank,
    one_of,
    says_why,
    text_column,
)
from ai_assets.quality.vocabulary import KB_DECISIONS, PROPOSAL_STATUSES, PUBLICATION_STATUSES
from ai_assets.warehouse.contract import Table

KB_REVIEW_DECISIONS = Table(
    "kb_review_decisions",
    "One row per reviewer decision on a knowledge-base article proposal (approve or reject), from "
    "landing/kb_reviews; is_latest marks the one that decides its proposal.",
    {
        "proposal_id": text_column(checks=not_blank()),
        "decision": one_of(KB_DECISIONS),
        **DECISION_COLUMNS,
    },
    key=("source_file", "source_line"),
    notes={
        **LANDING_NOTES,
        **DECISION_NOTES,
        "proposal_id": "the proposal decided (kb_article_proposals)",
        "decision": "approve publishes the article; reject withdraws it",
        "is_latest": "the latest decision of its proposal: the one that counts (none while the latest are "
        "in conflict, see kb_review_decisions_quarantine)",
        "source_file": "the file of landing/kb_reviews it was read from",
    },
)


KB_REVIEW_DECISIONS_QUARANTINE = file_quarantine(
    "kb_review_decisions_quarantine",
    "One row per rejected row of landing/kb_reviews, and per other file in it, with the reason.",
    "proposal_id",
    "the file of landing/kb_reviews it was read from",
)


KB_ARTICLE_PROPOSALS = Table(
    "kb_article_proposals",
    "One row per knowledge-base article proposal: for a category kb_gaps flags, an article the LLM drafted from "
    "the replies reviewers approved or edited for its poorly covered tickets, citing them, with the rule checks' "
    "verdict, the latest reviewer decision and whether it is published in landing/kb; or, with no such reply, "
    "the category and why nothing was drafted.",
    {
        "proposal_id": text_column(),
        "category": text_column(),
        "article_id": text_column(nullable=True),
        "title": text_column(nullable=True),
        "body": text_column(nullable=True),
        "cited_ticket_ids": pa.Column(pl.List(pl.Utf8)),
        "status": one_of(PROPOSAL_STATUSES),
        "reason": text_column(nullable=True),
        "problems": pa.Column(pl.List(pl.Utf8)),
        "draft_file": text_column(nullable=True),
        "content_hash": text_column(nullable=True),
        "reviewer": text_column(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
        "model": text_column(nullable=True),
        "prompt_version": text_column(),
        "input_hash": text_column(nullable=True),
        "prompt_tokens": count_column(),
        "completion_tokens": count_column(),
        "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cache_hit": pa.Column(pl.Boolean),
    },
    key=("proposal_id",),
    pii=True,
    llm=True,
    checks=(
        says_why(
            "status",
            ("proposed", "approved", "published"),
            "a_proposal_not_publishable_says_why",
            "every needs_material, failed, blocked, rejected or superseded row has a reason",
        ),
    ),
    preview=("category", "status", "title", "cited_ticket_ids", "reason"),
    notes={
        "proposal_id": "hash of category, cited tickets and prompt_version: the same material, the same id",
        "category": "a category kb_gaps flags (is_gap)",
        "article_id": "the id it is published as, `kb-<category>-<title words>`; null: nothing drafted",
        "title": "the drafted article's title; null: nothing drafted",
        "body": "the drafted article's markdown, personal data redacted; null: nothing drafted",
        "status": "where it stands: only an approved one is published",
        "cited_ticket_ids": "`<created_date>/<ticket_id>` of the tickets whose approved or edited reply it is "
        "written from (poorly covered: top_score below kb_gap_score_threshold)",
        "reason": "why it is not (or not yet) publishable; null when proposed, approved or published",
        "problems": "the reply rules (REPLY_RULES) the article breaks: any makes it blocked",
        "draft_file": "`kb_proposals/<proposal_id>.md` under the data directory: the article file to publish",
        "content_hash": "of the draft file: publishing copies exactly the checked text",
        "reviewer": "of the latest decision in landing/kb_reviews; null: undecided",
        "decided_at": "of the latest decision; null: undecided",
        "model": "null: no LLM call (nothing to draft from)",
        **LINEAGE_NOTES,
    },
)


KB_PUBLICATIONS = Table(
    "kb_publications",
    "One row per approved knowledge-base article proposal: the landing/kb file it was published as, or why it "
    "was refused (its article id is taken by another article, or its draft file changed after it was checked).",
    {
        "proposal_id": text_column(),
        "article_id": text_column(),
        "category": text_column(),
        "status": one_of(PUBLICATION_STATUSES),
        "reason": text_column(nullable=True),
        "source_file": text_column(),
        "published_now": pa.Column(pl.Boolean),
        "reviewer": text_column(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
    },
    key=("proposal_id",),
    preview=("proposal_id", "article_id", "status", "published_now", "reason"),
    notes={
        "proposal_id": "the approved proposal (kb_article_proposals)",
        "article_id": "the id it is published as",
        "category": "the proposal's category",
        "status": "published (now or before), or refused (see reason)",
        "reviewer": "of the latest decision on the proposal",
        "decided_at": "of the latest decision on the proposal",
        "source_file": "`kb/<article_id>.md` under landing/: where it is, or would be, published",
        "published_now": "written by this materialisation (false: published before, nothing written)",
        "reason": "why it was refused; null when published",
    },
)
