"""Jobs users launch from the UI or CLI."""

import dagster as dg

from ai_assets.automation.partitions import daily_partitions

REFERENCE_ASSETS = dg.AssetSelection.keys(
    "customers", "customers_quarantine", "kb_articles", "kb_articles_quarantine", "kb_chunks", "kb_embeddings"
)
REVIEW_INPUT = dg.AssetSelection.keys("review_decisions", "review_decisions_quarantine")
# What a reviewer's decision changes, per day: the route, the outcome, the actions and their delivery.
DECISION_OUTPUTS = dg.AssetSelection.keys("review_queue", "ticket_outcomes", "outbox", "outbox_deliveries")
DAILY_TICKETS_ASSETS = (
    dg.AssetSelection.groups("extract", "transform") - REFERENCE_ASSETS - REVIEW_INPUT
) | DECISION_OUTPUTS

daily_tickets_job = dg.define_asset_job(
    "daily_tickets_job",
    selection=DAILY_TICKETS_ASSETS,
    partitions_def=daily_partitions,
    description="One day of tickets end to end: extract, triage, context, replies, routing, outbox and delivery (materialise a partition or launch a backfill).",
)

reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=REFERENCE_ASSETS,
    description="Reload the CRM export and the knowledge base, and embed the chunks that changed.",
)

reviews_job = dg.define_asset_job(
    "reviews_job",
    selection=REVIEW_INPUT | DECISION_OUTPUTS,
    partitions_def=daily_partitions,
    description="Apply reviewers' decisions (landing/reviews/) to one day: outcomes, outbox, delivery.",
)

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.groups("load") - DECISION_OUTPUTS,
    description="Rebuild the dbt marts from the enriched tables.",
)
