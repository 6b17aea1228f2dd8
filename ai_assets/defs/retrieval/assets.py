"""Retrieval assets: knowledge-base embeddings, and each ticket's context (top-k chunks + memory)."""

from collections.abc import Sequence

import dagster as dg
import duckdb
import numpy as np
import polars as pl

from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.reference.tables import CUSTOMERS, KB_CHUNKS, KB_EMBEDDINGS
from ai_assets.defs.retrieval.search import NEAREST_SCHEMA, customer_memory, top_k_chunks
from ai_assets.defs.retrieval.tables import TICKET_CONTEXT
from ai_assets.llm.embeddings import embed_texts
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.redaction import redact_expr
from ai_assets.resources import EmbeddingResource
from ai_assets.transform.llm_step import llm_metadata, with_row_key
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read, row_count


def ticket_query_texts(tickets: pl.DataFrame, embeddings: EmbeddingResource) -> list[str]:
    """The text a ticket is embedded as (kind "query"), for retrieval and the triage cascade alike, so
    each ticket is embedded once: subject and body."""
    return query_texts(tickets, ("subject", "body"), embeddings)


def query_texts(rows: pl.DataFrame, columns: Sequence[str], embeddings: EmbeddingResource) -> list[str]:
    """The text a row is embedded as (kind "query"): its `columns` one per line, redacted (before the
    cut: a card number split by the cut would no longer look like one), cut to the input limit."""
    text = pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in columns], separator="\n")
    text = redact_expr(text) if embeddings.redact_pii else text
    return rows.select(text=text.str.slice(0, embeddings.max_input_chars))["text"].to_list()


def embed_with(embeddings: EmbeddingResource, texts: list[str], kind: str) -> tuple[np.ndarray, StepMetrics, str]:
    """(vectors, metrics, the model that made them); texts already embedded come from the cache."""
    source, cache = embeddings.source(), embeddings.open_cache()
    try:
        vectors, metrics = embed_texts(
            texts, kind, source, cache, limits=embeddings.limits(), pricing=embeddings.pricing()
        )
    finally:
        cache.close()
    return vectors, metrics, source.model


def build_kb_embeddings(embed_model: str) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="kb_embeddings",
        specs=[KB_EMBEDDINGS.spec(deps=["kb_chunks"])],
        group_name="reference",
        # A new embedding model re-embeds every chunk (the vectors are not comparable).
        code_version=embed_model,
    )
    def kb_embeddings(context: dg.AssetExecutionContext, embeddings: EmbeddingResource, warehouse: WarehouseResource):
        """Embeds every knowledge-base chunk whose text is not in the embedding cache yet."""
        with warehouse.get_connection() as conn:
            chunks = read(conn, KB_CHUNKS)
        vectors, stats, model = embed_with(embeddings, chunks["text"].to_list(), "passage")
        rows = chunks.select("chunk_id", "article_id", "category", "content_hash").with_columns(
            embed_model=pl.lit(model),
            embedding=pl.Series(vectors) if chunks.height else pl.lit(None, pl.List(pl.Float32)),
        )
        context.log.info(f"Embedded {stats.calls} batches, reused {stats.cache_hits} chunks with {model}")
        meta = {"embed_model": model, "dimensions": int(vectors.shape[1]), **llm_metadata(context, stats, embeddings)}
        yield from warehouse.write({KB_EMBEDDINGS: rows}, metadata={KB_EMBEDDINGS: meta})

    return kb_embeddings


def build_ticket_context(embed_model: str, daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="ticket_context",
        specs=[TICKET_CONTEXT.spec(deps=["raw_tickets", "ticket_triage", "customers", "kb_embeddings"])],
        group_name="retrieval",
        code_version=embed_model,
        **daily.asset_args(),
    )
    def ticket_context(context: dg.AssetExecutionContext, embeddings: EmbeddingResource, warehouse: WarehouseResource):
        """Retrieves each ticket's nearest knowledge-base chunks and gathers the customer's memory."""
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            has_kb = _check_inputs(context, conn, embeddings.model)
            tickets = with_row_key(read(conn, RAW_TICKETS, days))
            memory = with_row_key(customer_memory(conn, days))
        nearest, stats = pl.DataFrame(schema=NEAREST_SCHEMA), StepMetrics()
        if has_kb and tickets.height:
            vectors, stats, _ = embed_with(embeddings, ticket_query_texts(tickets, embeddings), "query")
            with warehouse.get_connection() as conn:
                nearest = top_k_chunks(conn, tickets["row_key"].to_list(), vectors, embeddings.top_k)
        rows = memory.join(nearest, on="row_key", how="left").with_columns(
            pl.col("chunk_ids", "article_ids", "scores").fill_null([]), embed_model=pl.lit(embeddings.model)
        )
        context.log.info(f"Context for {rows.height} tickets: top {embeddings.top_k} chunks each; {stats.to_dict()}")
        meta = {
            "embed_model": embeddings.model,
            "mean_top_score": float(rows["top_score"].mean() or 0.0),
            "with_history": int((rows["previous_ticket_count"] > 0).sum()),
            **llm_metadata(context, stats, embeddings),
        }
        yield from warehouse.write({TICKET_CONTEXT: rows}, days, {TICKET_CONTEXT: meta})

    return ticket_context


def _check_inputs(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, embed_model: str) -> bool:
    """Whether there are knowledge-base embeddings to search. Missing reference data degrades the
    context, loudly; a KB embedded with another model than the one set would give meaningless
    scores, so it stops."""
    for table in (CUSTOMERS, KB_EMBEDDINGS):
        if not row_count(conn, table):
            context.log.warning(
                f"{table.name} is empty: the context has none of it. "
                "Materialise reference_data_job, then this partition again."
            )
    built_with = {model for (model,) in conn.execute("SELECT DISTINCT embed_model FROM kb_embeddings").fetchall()}
    if built_with and built_with != {embed_model}:
        raise dg.Failure(
            f"kb_embeddings was built with {sorted(built_with)}, but AI_ASSETS_EMBED_MODEL is now {embed_model}: "
            "materialise kb_embeddings again (reference_data_job), then this partition."
        )
    return bool(built_with)
