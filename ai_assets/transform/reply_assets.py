"""Reply assets: a grounded reply per ticket from the bounded draft -> critique -> refine loop."""

import hashlib

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_backfill_policy, daily_partitions, partition_days
from ai_assets.llm.task import LLMTask
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.quality.schemas import REPLY_DRAFTS, REPLY_ROUNDS
from ai_assets.resources import LLMResource
from ai_assets.transform.assets import LLM_STEP_RETRY_POLICY, run_llm_step
from ai_assets.transform.reply_loop import run_reply_loop
from ai_assets.warehouse.tables import replace_rows, table_exists

_KINDS = {"duckdb", "polars", "openai"}

# Everything the loop needs per triaged ticket; the history and the chunks are rendered as text.
_LOOP_INPUT_SQL = """
SELECT r.created_date || '/' || r.ticket_id AS row_key, r.ticket_id, r.created_date, r.subject, r.body,
       coalesce(c.chunk_ids, []) AS retrieved_chunk_ids,
       'tier ' || coalesce(c.customer_tier, 'unknown') || ', ' || c.previous_ticket_count || ' earlier tickets'
         || coalesce(': ' || list_aggregate(list_transform(c.history,
              h -> h.created_at::DATE || ' ' || coalesce(h.category, 'untriaged') || ' - ' || coalesce(h.summary, h.subject)), 'string_agg', '; '), '')
         AS customer_context,
       coalesce((SELECT string_agg('[' || k.chunk_id || '] ' || k.text, chr(10) || chr(10) ORDER BY u.rank)
                 FROM unnest(c.chunk_ids) WITH ORDINALITY AS u(chunk_id, rank) JOIN kb_chunks k ON k.chunk_id = u.chunk_id),
                '(no knowledge-base excerpt found)') AS knowledge
FROM raw_tickets r
JOIN ticket_triage t USING (ticket_id, created_date)
JOIN ticket_context c USING (ticket_id, created_date)
WHERE list_contains($days, r.created_date)
"""

_UNTRIAGED_SQL = """
SELECT r.ticket_id, r.created_date, 'triage failed: ' || f.reason AS reason
FROM raw_tickets r JOIN ticket_triage_failures f USING (ticket_id, created_date)
WHERE list_contains($days, r.created_date)
"""


def loop_version(tasks: tuple[LLMTask, ...], model: str, max_refinements: int) -> str:
    material = "|".join([*(t.prompt_version for t in tasks), model, str(max_refinements)])
    return f"reply_loop@{hashlib.sha256(material.encode()).hexdigest()[:12]}"


def _read_inputs(conn: duckdb.DuckDBPyConnection, days: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    sql = (
        _LOOP_INPUT_SQL
        if table_exists(conn, "kb_chunks")
        else _LOOP_INPUT_SQL.replace(
            "JOIN kb_chunks k", "JOIN (SELECT NULL::VARCHAR AS chunk_id, NULL::VARCHAR AS text WHERE false) k"
        )
    )
    return conn.execute(sql, {"days": days}).pl(), conn.execute(_UNTRIAGED_SQL, {"days": days}).pl()


def build_reply_drafts(
    tasks: tuple[LLMTask, LLMTask, LLMTask], model: str, max_refinements: int
) -> dg.AssetsDefinition:
    version = loop_version(tasks, model, max_refinements)

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                "reply_drafts",
                deps=["ticket_context", "ticket_triage", "ticket_triage_failures", "kb_chunks"],
                description=(
                    "One row per ticket: the reply the loop settled on, its cited chunks, the rounds it took, "
                    "and the outcome: approved (critic and rule checks passed) or needs_human with the reason."
                ),
                kinds=_KINDS,
                metadata={"partition_expr": PARTITION_COLUMN},
            ),
            dg.AssetSpec(
                "reply_rounds",
                deps=["ticket_context", "ticket_triage", "kb_chunks"],
                description="One row per ticket and round of the loop, for audit: the draft, the critique (grounded, policy, tone, problems), the verdict, tokens and cost.",
                kinds=_KINDS,
                metadata={"partition_expr": PARTITION_COLUMN},
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=daily_backfill_policy,
        group_name="transform",
        # The three prompts, the model and the bound: a change to any marks the replies unsynced.
        code_version=version,
        pool="llm_provider",
        retry_policy=LLM_STEP_RETRY_POLICY,
    )
    def reply_drafts(context: dg.AssetExecutionContext, llm: LLMResource, duckdb: DuckDBResource):
        """Drafts a reply grounded in each triaged ticket's context, has a critic check it, refines
        what fails (at most AI_ASSETS_REPLY_MAX_REFINEMENTS times); untriaged tickets go to a human."""
        days = partition_days(context)
        with duckdb.get_connection() as conn:
            tickets, untriaged = _read_inputs(conn, days)
        context.log.info(f"Reply loop for {tickets.height} triaged tickets ({untriaged.height} untriaged go to review)")

        def run_step(task: LLMTask, rows: pl.DataFrame, label: str):
            return run_llm_step(context, llm, task, rows, label)

        loop = run_reply_loop(
            tickets.select("row_key", "customer_context", "knowledge", "subject", "body", "retrieved_chunk_ids"),
            tasks,
            run_step,
            max_refinements,
        )
        keys = tickets.select("row_key", "ticket_id", PARTITION_COLUMN)
        # A failed step made no answer: it counts no tokens (its retries are in the run's metadata).
        rounds = (
            loop.rounds.join(keys, on="row_key")
            .with_columns(
                pl.col("prompt_tokens", "completion_tokens").fill_null(0),
                pl.col("cost_usd").fill_null(0.0),
                pl.col("cache_hit").fill_null(False),
            )
            .select(list(REPLY_ROUNDS.columns))
        )
        totals = loop.rounds.group_by("row_key").agg(
            pl.col("model").drop_nulls().first(),
            pl.col("draft_prompt_version").drop_nulls().first(),
            pl.col("critique_prompt_version").drop_nulls().first(),
            pl.col("prompt_tokens").sum(),
            pl.col("completion_tokens").sum(),
            pl.col("cost_usd").sum(),
            pl.col("cache_hit").fill_null(False).all(),
        )
        drafted = loop.outcomes.join(keys, on="row_key").join(totals, on="row_key", how="left")
        to_human = untriaged.with_columns(
            cited_chunk_ids=pl.lit([], pl.List(pl.Utf8)), rounds=pl.lit(0), outcome=pl.lit("needs_human")
        )
        drafts = (
            pl.concat([drafted, to_human], how="diagonal_relaxed")
            .with_columns(
                pl.col("prompt_tokens", "completion_tokens").fill_null(0),
                pl.col("cost_usd").fill_null(0.0),
                pl.col("cache_hit").fill_null(True),
                prompt_version=pl.lit(version),
            )
            .select(list(REPLY_DRAFTS.columns))
        )
        REPLY_DRAFTS.validate(drafts)
        with duckdb.get_connection() as conn:
            replace_rows(conn, "reply_drafts", drafts, partition_column=PARTITION_COLUMN, partitions=days)
            replace_rows(conn, "reply_rounds", rounds, partition_column=PARTITION_COLUMN, partitions=days)

        outcomes = counts_by(drafts, "outcome")
        context.log.info(
            f"Replies: {outcomes}; {rounds.height} rounds, {rounds.filter(pl.col('step') == 'refine').height} refinements"
        )
        yield dg.MaterializeResult(
            asset_key="reply_drafts",
            metadata={
                "dagster/row_count": drafts.height,
                "by_outcome": outcomes,
                "max_refinements": max_refinements,
                "llm_tokens": int(rounds["prompt_tokens"].sum() or 0) + int(rounds["completion_tokens"].sum() or 0),
                "cost_usd": float(rounds.filter(~pl.col("cache_hit").fill_null(False))["cost_usd"].sum() or 0.0),
                "preview": markdown_preview(drafts.select("ticket_id", "outcome", "rounds", "reason", "reply")),
            },
        )
        yield dg.MaterializeResult(
            asset_key="reply_rounds",
            metadata={
                "dagster/row_count": rounds.height,
                "by_verdict": counts_by(rounds, "verdict"),
                "by_step": counts_by(rounds, "step"),
            },
        )

    return reply_drafts
