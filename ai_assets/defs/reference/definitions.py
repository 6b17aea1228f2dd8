"""Reference data: customers, the knowledge base (articles, chunks, embeddings) and the labelled tickets."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.retrieval.assets import build_kb_embeddings
from ai_assets.extract.assets import customers, kb_articles, kb_chunks, ticket_labels


@dg.definitions
def reference() -> dg.Definitions:
    embeddings = current().settings.embeddings
    return dg.Definitions(
        assets=[customers, kb_articles, kb_chunks, build_kb_embeddings(embeddings.model), ticket_labels]
    )
