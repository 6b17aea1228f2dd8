"""Retrieval: each ticket's knowledge-base excerpts and history."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.retrieval.assets import build_ticket_context
from ai_assets.warehouse.partitions import Daily


@dg.definitions
def retrieval() -> dg.Definitions:
    settings = current().settings
    return dg.Definitions(
        assets=[build_ticket_context(settings.embeddings.model, Daily.from_settings(settings.project))]
    )
