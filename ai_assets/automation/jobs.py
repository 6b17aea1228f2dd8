"""Jobs users launch from the UI or CLI. They select features (asset groups, one per feature) and a
tag, so a new asset joins its feature's jobs with no edit here."""

import dagster as dg

# A declared step (components/llm_step.py) joins a job by this tag, whatever its group.
JOB_TAG = "ai_assets/job"
# Reviewers' decisions are read by reviews_job when a decision lands, not by every day's run.
REVIEW_INPUT = dg.AssetSelection.assets("review_decisions", "review_decisions_quarantine")
# One day of tickets: the day's landing files, then every feature that works on them, to delivery.
DAILY_TICKETS_ASSETS = (
    dg.AssetSelection.groups("landing", "triage", "retrieval", "investigation", "replies", "outbox").materializable()
    - REVIEW_INPUT
) | dg.AssetSelection.tag(JOB_TAG, "daily_tickets_job")
# With the labelled tickets: the triage cascade learns from them before the days are triaged.
REFERENCE_ASSETS = dg.AssetSelection.groups("reference")
# The labelled tickets (files and reviewers' corrections) and the evaluations scored on them.
EVAL_ASSETS = dg.AssetSelection.groups("evals") | dg.AssetSelection.assets("ticket_labels", "ticket_labels_quarantine")


# The asset jobs (`dg.define_asset_job`; their class has no public name).
JOBS = [
    dg.define_asset_job(
        "daily_tickets_job",
        selection=DAILY_TICKETS_ASSETS,
        description="One day of tickets end to end: extract (tickets, orders), triage, context, investigation with "
        "tools, replies, routing, outbox and delivery (materialise a partition or launch a backfill).",
    ),
    dg.define_asset_job(
        "reference_data_job",
        selection=REFERENCE_ASSETS,
        description="Reload the CRM export, the product catalog, the knowledge base and the labelled tickets, and "
        "embed the chunks that changed.",
    ),
    dg.define_asset_job(
        "reviews_job",
        selection=dg.AssetSelection.groups("outbox"),
        description="Apply reviewers' decisions (landing/reviews/) to one day: outcomes, outbox, delivery.",
    ),
    dg.define_asset_job(
        "outbox_retry_job",
        selection=dg.AssetSelection.assets("outbox_deliveries"),
        description="Retry one day's failed deliveries without rerunning the day (outbox_retry_schedule "
        "launches it for every day the delivery ledger has failures).",
    ),
    dg.define_asset_job(
        "eval_job",
        selection=EVAL_ASSETS,
        description="Reload the labelled tickets (landing/labels/ and reviewers' corrections) and evaluate the "
        "triage on them (eval_predictions, a row in eval_runs, the accuracy check against its targets) and the "
        "retrieval and replies (a row in reply_eval_runs).",
    ),
    dg.define_asset_job(
        "kb_updates_job",
        selection=dg.AssetSelection.groups("kb_updates"),
        description="Draft knowledge-base articles for the categories kb_gaps flags (cached: unchanged material "
        "makes no LLM call), apply the decisions of landing/kb_reviews/ and publish the approved ones into "
        "landing/kb/; then reference_data_job embeds their chunks.",
    ),
    dg.define_asset_job(
        "marts_job",
        selection=dg.AssetSelection.groups("marts"),
        description="Rebuild the dbt marts from the enriched tables.",
    ),
]
