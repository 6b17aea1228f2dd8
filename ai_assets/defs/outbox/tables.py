"""The contracts of the outbox's tables: reviewers' decisions, the review queue, outcomes, actions,
deliveries."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    DECISION_COLUMNS,
    DECISION_NOTES,
    LANDING_NOTES,
    NULL_WITHOUT_TRIAGE,
    TICKET_KEY,
    TICKET_NOTES,
    count_column,
    date_column,
    file_quarantine,
    not_blank,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import (
    ACTION_TYPES,
    CATEGORIES,
    DECISIONS,
    DELIVERY_STATUSES,
    ROUTE_STATUSES,
    ROUTES,
    SENTIMENTS,
    URGENCIES,
)
from ai_assets.warehouse.contract import Table

REVIEW_DECISIONS = Table(
    "review_decisions",
    "One row per reviewer decision (approve, edit or reject a reply), from landing/reviews; is_latest marks "
    "the one that decides its ticket.",
    {
        "ticket_id": text_column(checks=not_blank()),
        "created_date": pa.Column(pl.Date, nullable=True),
        "decision": one_of(DECISIONS),
        "edited_text": text_column(nullable=True),
        # A reviewer may also correct the triage: each becomes a ticket_labels row (source review).
        "category": one_of(CATEGORIES, nullable=True),
        "urgency": one_of(URGENCIES, nullable=True),
        "sentiment": one_of(SENTIMENTS, nullable=True),
        **DECISION_COLUMNS,
    },
    key=("source_file", "source_line"),
    pii=True,
    # Replaced whole, schema included: a warehouse from before the corrections gets them on the next write.
    recreated_on_write=True,
    checks=(
        pa.Check(
            lambda data: data.lazyframe.select(
                (pl.col("decision") != "edit")
                | (pl.col("edited_text").str.strip_chars().str.len_chars() > 0).fill_null(False)
            ),
            name="an edit carries its text",
            error="edited_text is required when decision is edit",
        ),
    ),
    notes={
        **LANDING_NOTES,
        **DECISION_NOTES,
        "ticket_id": "the ticket decided",
        "created_date": "the day of the ticket decided; null: that ticket id, when no other day has it",
        "decision": "what the reviewer did with the drafted reply",
        "edited_text": "the reply to send instead (decision edit); null otherwise",
        "is_latest": "the latest decision of its (ticket_id, created_date): the one that counts",
        **{
            field: "the reviewer's correction of the triage; null: not corrected"
            for field in ("category", "urgency", "sentiment")
        },
        "source_file": "the file of landing/reviews it was read from",
    },
)


REVIEW_DECISIONS_QUARANTINE = file_quarantine(
    "review_decisions_quarantine",
    "One row per rejected row of landing/reviews, with the reason.",
    "ticket_id",
    "the file of landing/reviews it was read from",
)


REVIEW_QUEUE = Table(
    "review_queue",
    "One row per ticket a human must review (critical urgency, an unhappy enterprise customer, low triage "
    "confidence, or a reply the loop could not approve): the reasons, a priority (1 highest), the draft, and the "
    "reviewer's decision once made.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "priority": pa.Column(pl.Int32, pa.Check.isin((1, 2, 3))),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "category": text_column(nullable=True),
        "urgency": text_column(nullable=True),
        "customer_tier": text_column(nullable=True),
        "subject": text_column(nullable=True),
        "body": text_column(nullable=True),
        "draft_reply": text_column(nullable=True),
        "status": one_of(ROUTE_STATUSES[1:]),
        "decision": text_column(nullable=True),
        "edited_text": text_column(nullable=True),
        "reviewer": text_column(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    preview=("priority", "ticket_id", "reasons", "status"),
    notes={
        **TICKET_NOTES,
        "priority": "1 critical, 2 unhappy enterprise customer, 3 other",
        "reasons": "why a human must look: critical urgency, an unhappy enterprise customer, triage confidence "
        "below AI_ASSETS_REVIEW_MIN_CONFIDENCE, or why the reply loop could not approve",
        "category": "null: triage failed",
        "urgency": NULL_WITHOUT_TRIAGE,
        "customer_tier": "the customer's CRM tier; null: not in the CRM",
        "draft_reply": "the reply loop's last draft; null: none written",
        "status": "pending_review until a reviewer decides",
        "decision": "the reviewer's latest decision (landing/reviews); null: none yet",
        "edited_text": "the reply to send instead (decision edit)",
        "reviewer": "who decided; null: undecided",
        "decided_at": "UTC; null: undecided",
    },
)


TICKET_OUTCOMES = Table(
    "ticket_outcomes",
    "One row per ticket: route (auto or review), status (auto_approved, pending_review, human_approved, "
    "human_edited, rejected) and the reply to send, if any.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "customer_id": text_column(),
        "category": text_column(nullable=True),
        "urgency": text_column(nullable=True),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "route": one_of(ROUTES),
        "status": one_of(ROUTE_STATUSES),
        "final_reply": text_column(nullable=True),
        "reviewer": text_column(nullable=True),
    },
    retired=("summary",),  # in the escalation's payload, from ticket_summaries
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        "category": NULL_WITHOUT_TRIAGE,
        "urgency": NULL_WITHOUT_TRIAGE,
        "reasons": "why it needs a human (see review_queue); empty: auto-approved",
        "route": "auto: the loop's reply goes out unread; review: a human decides",
        "status": "where it stands; auto_approved, human_approved and human_edited are sent",
        "final_reply": "the reply to send: the approved draft or the reviewer's edit; null: none (yet)",
        "reviewer": "who decided, in the latest review decision; null: none",
    },
)


OUTBOX = Table(
    "outbox",
    "One row per action to trigger (allow-list: send_reply for approved replies, escalate for critical tickets), "
    "with its idempotency key (action_id) and JSON payload.",
    {
        "action_id": text_column(unique=True),
        "ticket_id": text_column(),
        "created_date": date_column(),
        "action_type": one_of(ACTION_TYPES),
        "payload": text_column(),
    },
    key=("action_id",),
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        "action_id": "idempotency key: a hash of action type, ticket id and day",
        "action_type": "send_reply: an approved reply; escalate: a critical ticket",
        "payload": "JSON: customer_id and ticket_id, with the reply (send_reply) or the summary (ticket_summaries; "
        "null: none written) and reasons (escalate)",
    },
)


OUTBOX_DELIVERIES = Table(
    "outbox_deliveries",
    "One row per action with its delivery state: delivered (exactly once), or failed with the error and attempts "
    "so far (the next materialisation retries it).",
    {
        "action_id": text_column(unique=True),
        "ticket_id": text_column(),
        "created_date": date_column(),
        "action_type": one_of(ACTION_TYPES),
        "status": one_of(DELIVERY_STATUSES),
        "attempts": count_column(),
        "last_error": text_column(nullable=True),
        "delivered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "sink": text_column(),
    },
    key=("action_id",),
    partitioned=True,
    notes={
        **TICKET_NOTES,
        "action_id": "the action (outbox.action_id)",
        "action_type": "as in outbox",
        "status": "delivered exactly once, or failed (the next materialisation retries it)",
        "attempts": "delivery attempts so far",
        "last_error": "why it is not delivered yet; null: delivered",
        "delivered_at": "UTC; null: not delivered",
        "sink": "where it is delivered: jsonl, webhook, smtp or ticketing",
    },
)
