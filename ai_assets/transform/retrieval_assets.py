"""Retrieval assets: knowledge-base embeddings, and each ticket's context (top-k chunks + memory)."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_backfill_policy, daily_partitions, partition_days
from ai_assets.llm.embeddings import EmbeddingStats, embed_texts
from ai_assets.llm.redaction import redact_expr
from ai_assets.metadata import markdown_preview
from ai_assets.quality.schemas import KB_EMBEDDINGS, TICKET_CONTEXT
from ai_assets.resources import EmbeddingResource
from ai_assets.transform.retrieval import customer_memory, top_k_chunks
from ai_assets.warehouse.tables import read_table, replace_rows, rewrite_table, table_exists

_KINDS = {"duckdb", "polars", "openai"}


def build_retrieval_assets(embed_model: str) -> list[dg.AssetsDefinition]:
    @dg.asset(
        deps=["kb_chunks"],
        group_name="transform",
        kinds=_KINDS,
        # A new embedding model re-embeds every chunk (the vectors are not comparable).
        code_version=embed_model,
    )
    def kb_embeddings(
        context: dg.AssetExecutionContext, embeddings: EmbeddingResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        """One row per knowledge-base chunk with its embedding (a fixed-size FLOAT array); a chunk
        whose text did not change is never embedded again."""
        with duckdb.get_connection() as conn:
            chunks = read_table(conn, "kb_chunks")
        embedder, cache = embeddings.embedder(), embeddings.open_cache()
        try:
            vectors, stats = embed_texts(chunks["text"].to_list(), "passage", embedder, cache)
        finally:
            cache.close()
        rows = chunks.select("chunk_id", "article_id", "category", "content_hash").with_columns(
            embed_model=pl.lit(embedder.model),
            embedding=pl.Series(vectors) if chunks.height else pl.lit(None, pl.List(pl.Float32)),
        )
        KB_EMBEDDINGS.validate(rows)
        with duckdb.get_connection() as conn:
            rewrite_table(conn, "kb_embeddings", rows)
        context.log.info(f"Embedded {stats.embedded} chunks, reused {stats.cached} with {embedder.model}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows.height,
                "embed_model": embedder.model,
                "dimensions": int(vectors.shape[1]),
                **stats.to_dict(),
            }
        )

    @dg.asset(
        deps=["raw_tickets", "ticket_triage", "customers", "kb_embeddings"],
        partitions_def=daily_partitions,
        backfill_policy=daily_backfill_policy,
        group_name="transform",
        kinds=_KINDS,
        code_version=embed_model,
        metadata={"partition_expr": PARTITION_COLUMN},
    )
    def ticket_context(
        context: dg.AssetExecutionContext, embeddings: EmbeddingResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        """One row per ticket: its top-k knowledge-base chunks by cosine similarity (ids, articles,
        scores, best first) and the customer's memory: CRM tier and region, and earlier tickets
        with their triage outcome."""
        days = partition_days(context)
        embedder = embeddings.embedder()
        with duckdb.get_connection() as conn:
            has_crm, has_kb = _check_inputs(context, conn, embedder.model)
            tickets = read_table(conn, "raw_tickets", partition_column=PARTITION_COLUMN, partitions=days)
            memory = customer_memory(conn, days, has_crm=has_crm)
        text = pl.concat_str("subject", "body", separator="\n").str.slice(0, embeddings.max_input_chars)
        queries = tickets.select(
            row_key=pl.format("{}/{}", PARTITION_COLUMN, "ticket_id"),
            text=redact_expr(text) if embeddings.redact_pii else text,
        )
        nearest, stats = _no_chunks(), EmbeddingStats()
        if has_kb and tickets.height:
            cache = embeddings.open_cache()
            try:
                vectors, stats = embed_texts(queries["text"].to_list(), "query", embedder, cache)
            finally:
                cache.close()
            with duckdb.get_connection() as conn:
                nearest = top_k_chunks(conn, queries["row_key"].to_list(), vectors, embeddings.top_k)
        rows = (
            memory.with_columns(row_key=pl.format("{}/{}", PARTITION_COLUMN, "ticket_id"))
            .join(nearest, on="row_key", how="left")
            .with_columns(pl.col("chunk_ids", "article_ids").fill_null([]), pl.col("scores").fill_null([]))
            .with_columns(embed_model=pl.lit(embedder.model))
            .select(list(TICKET_CONTEXT.columns))
        )
        TICKET_CONTEXT.validate(rows)
        with duckdb.get_connection() as conn:
            replace_rows(conn, "ticket_context", rows, partition_column=PARTITION_COLUMN, partitions=days)
        context.log.info(f"Context for {rows.height} tickets: top {embeddings.top_k} chunks each; {stats.to_dict()}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows.height,
                "days": len(days),
                "embed_model": embedder.model,
                "top_k": embeddings.top_k,
                "mean_top_score": float(rows["top_score"].mean() or 0.0),
                "with_history": int((rows["previous_ticket_count"] > 0).sum()),
                **stats.to_dict(),
                "preview": markdown_preview(
                    rows.select("ticket_id", "customer_tier", "article_ids", "top_score", "previous_ticket_count")
                ),
            }
        )

    return [kb_embeddings, ticket_context]


def _check_inputs(context: dg.AssetExecutionContext, conn, embed_model: str) -> tuple[bool, bool]:
    """(has CRM, has KB embeddings). Missing reference data degrades the context, loudly; a KB
    embedded with another model than the one set would give meaningless scores, so it stops."""
    if not table_exists(conn, "ticket_triage"):
        raise dg.Failure("Table ticket_triage does not exist yet: materialise this day's ticket_triage first.")
    has_crm, has_kb = table_exists(conn, "customers"), table_exists(conn, "kb_embeddings")
    for table, present in (("customers", has_crm), ("kb_embeddings", has_kb)):
        if not present:
            context.log.warning(
                f"No {table} table yet: the context has none of it. Materialise reference_data_job, then this partition again."
            )
    if has_kb:
        built_with = {model for (model,) in conn.execute("SELECT DISTINCT embed_model FROM kb_embeddings").fetchall()}
        if built_with and built_with != {embed_model}:
            raise dg.Failure(
                f"kb_embeddings was built with {sorted(built_with)}, but AI_ASSETS_EMBED_MODEL is now {embed_model}: "
                "materialise kb_embeddings again (reference_data_job), then this partition."
            )
        has_kb = bool(built_with)
    return has_crm, has_kb


def _no_chunks() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "row_key": pl.Utf8,
            "chunk_ids": pl.List(pl.Utf8),
            "article_ids": pl.List(pl.Utf8),
            "scores": pl.List(pl.Float64),
            "top_score": pl.Float64,
        }
    )
