"""Reference data: customers, the product catalog, the knowledge base (articles, chunks, embeddings)
and the labelled tickets. The assets that need no setting are module-level in assets.py, where
Dagster finds them; here the embeddings, whose code version names the embedding model."""

import dagster as dg

from ai_assets.components.loading import current
from ai_assets.defs.retrieval.assets import build_kb_embeddings


@dg.definitions
def reference() -> dg.Definitions:
    embeddings = current().settings.embeddings
    return dg.Definitions(assets=[build_kb_embeddings(embeddings.model)])
