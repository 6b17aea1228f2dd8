"""Jobs users launch from the UI or CLI. Every selection names its assets: a new asset joins a job
only when it is added here."""

import dagster as dg

# With the labelled tickets: the triage cascade learns from them before the days are triaged.
REFERENCE_ASSETS = dg.AssetSelection.assets(
    "customers",
    "customers_quarantine",
    "kb_articles",
    "kb_articles_quarantine",
    "kb_chunks",
    "kb_embeddings",
    "ticket_labels",
    "ticket_labels_quarantine",
)
REVIEW_INPUT = dg.AssetSelection.assets("review_decisions", "review_decisions_quarantine")
# The labelled tickets (files and reviewers' corrections) and the triage scored on them.
EVAL_ASSETS = dg.AssetSelection.assets(
    "ticket_labels", "ticket_labels_quarantine", "eval_predictions", "eval_runs", "reply_eval_runs"
)
# What a reviewer's decision changes, per day: the route, the outcome, the actions and their delivery.
DECISION_OUTPUTS = dg.AssetSelection.assets("review_queue", "ticket_outcomes", "outbox", "outbox_deliveries")
# Reviewers' decisions on article proposals, the proposals they decide, and the publication of approved ones.
KB_UPDATE_ASSETS = dg.AssetSelection.assets(
    "kb_review_decisions", "kb_review_decisions_quarantine", "kb_article_proposals", "kb_publications"
)
# A declared step (components/llm_step.py) joins a job by this tag, with no edit here.
JOB_TAG = "ai_assets/job"
DAILY_TICKETS_ASSETS = (
    dg.AssetSelection.assets(
        "raw_tickets",
        "raw_tickets_quarantine",
        "orders",
        "orders_quarantine",
        "ticket_triage",
        "ticket_triage_failures",
        "ticket_context",
        "ticket_investigations",
        "tool_calls",
        "reply_drafts",
        "reply_rounds",
    )
    | DECISION_OUTPUTS
    | dg.AssetSelection.tag(JOB_TAG, "daily_tickets_job")
)


def build_jobs(marts: dg.AssetsDefinition) -> list:
    """The asset jobs (`dg.define_asset_job`; their class has no public name)."""
    return [
        dg.define_asset_job(
            "daily_tickets_job",
            selection=DAILY_TICKETS_ASSETS,
            description="One day of tickets end to end: extract (tickets, orders), triage, context, investigation with "
            "tools, replies, routing, outbox and delivery (materialise a partition or launch a backfill).",
        ),
        dg.define_asset_job(
            "reference_data_job",
            selection=REFERENCE_ASSETS,
            description="Reload the CRM export, the knowledge base and the labelled tickets, and embed the chunks "
            "that changed.",
        ),
        dg.define_asset_job(
            "reviews_job",
            selection=REVIEW_INPUT | DECISION_OUTPUTS,
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
            selection=KB_UPDATE_ASSETS,
            description="Draft knowledge-base articles for the categories kb_gaps flags (cached: unchanged material "
            "makes no LLM call), apply the decisions of landing/kb_reviews/ and publish the approved ones into "
            "landing/kb/; then reference_data_job embeds their chunks.",
        ),
        dg.define_asset_job(
            "marts_job",
            selection=dg.AssetSelection.assets(marts),
            description="Rebuild the dbt marts from the enriched tables.",
        ),
    ]
