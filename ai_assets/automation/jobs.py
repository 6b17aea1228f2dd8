"""Jobs users launch from the UI or CLI."""

import dagster as dg

from ai_assets.automation.partitions import daily_partitions

REFERENCE_ASSETS = dg.AssetSelection.keys(
    "customers", "customers_quarantine", "kb_articles", "kb_articles_quarantine", "kb_chunks", "kb_embeddings"
)
DAILY_TICKETS_ASSETS = dg.AssetSelection.groups("extract", "transform") - REFERENCE_ASSETS

daily_tickets_job = dg.define_asset_job(
    "daily_tickets_job",
    selection=DAILY_TICKETS_ASSETS,
    partitions_def=daily_partitions,
    description="Extract and triage one day of tickets (materialise a partition or launch a backfill).",
)

reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=REFERENCE_ASSETS,
    description="Reload the CRM export and the knowledge base, and embed the chunks that changed.",
)

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.groups("load"),
    description="Rebuild the dbt marts from the enriched tables.",
)
