"""The reply evaluation asset: retrieval quality on the labelled tickets, grounding of the drafts, and
the reviewers' agreement with the loop's approvals, recorded with a history."""

import dagster as dg
import polars as pl

from ai_assets.defs.evals.tables import REPLY_EVAL_RUNS
from ai_assets.defs.reference.tables import KB_EMBEDDINGS, TICKET_LABELS
from ai_assets.defs.retrieval.assets import embed_with, ticket_query_texts
from ai_assets.defs.retrieval.search import top_k_chunks
from ai_assets.quality.evals import labels_hash
from ai_assets.quality.reply_evals import draft_scores, reply_eval_run, retrieval_scores
from ai_assets.resources import EmbeddingResource
from ai_assets.transform.llm_step import with_row_key
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read, row_count


def build_reply_eval(embed_model: str) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="reply_eval",
        specs=[
            REPLY_EVAL_RUNS.spec(
                deps=[TICKET_LABELS.name, KB_EMBEDDINGS.name, "reply_drafts", "ticket_context", "review_decisions"]
            )
        ],
        group_name="evals",
        code_version=embed_model,
    )
    def reply_eval(context: dg.AssetExecutionContext, embeddings: EmbeddingResource, warehouse: WarehouseResource):
        """Retrieves the knowledge base for every labelled ticket with an expected article (hit@k, MRR),
        and scores the drafts of every day: citing only retrieved chunks, and overruled by a reviewer
        after the loop approved them. No LLM call; ticket vectors come from the embedding cache."""
        with warehouse.get_connection() as conn:
            labels = with_row_key(read(conn, TICKET_LABELS))
            expected = labels.filter(pl.col("kb_article_id").is_not_null())
            has_kb = row_count(conn, KB_EMBEDDINGS) > 0
        if expected.height and not has_kb:
            context.log.warning("kb_embeddings is empty: retrieval is not scored. Materialise reference_data_job.")
            expected = expected.head(0)
        nearest = pl.DataFrame(schema={"row_key": pl.Utf8, "article_ids": pl.List(pl.Utf8)})
        if expected.height:
            vectors, _, _ = embed_with(embeddings, ticket_query_texts(expected, embeddings), "query")
            with warehouse.get_connection() as conn:
                nearest = top_k_chunks(conn, expected["row_key"].to_list(), vectors, embeddings.top_k)
        retrieval = retrieval_scores(expected.select("row_key", "kb_article_id"), nearest)
        with warehouse.get_connection() as conn:
            run = reply_eval_run(embeddings.model, embeddings.top_k, labels_hash(labels), retrieval, draft_scores(conn))
            run_id = run["eval_id"][0]
            if read(conn, REPLY_EVAL_RUNS).filter(pl.col("eval_id") == run_id).is_empty():
                warehouse.upsert({REPLY_EVAL_RUNS: run})
                context.log.info(f"Recorded reply evaluation {run_id}")
            else:
                context.log.info(f"Reply evaluation {run_id} is already recorded: nothing changed since")
            total = row_count(conn, REPLY_EVAL_RUNS)
        summary = run.row(0, named=True)
        scores = {k: v for k, v in summary.items() if k not in ("eval_id", "evaluated_at") and v is not None}
        context.log.info(f"Reply evaluation: {scores}")
        return dg.MaterializeResult(
            asset_key=REPLY_EVAL_RUNS.name, metadata={"dagster/row_count": total, "eval_id": run_id, **scores}
        )

    return reply_eval
