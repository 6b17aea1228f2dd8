"""Transform assets: LLM steps over the extracted tables."""

from datetime import date

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_partitions
from ai_assets.config import load_settings
from ai_assets.llm.engine import run_task
from ai_assets.llm.metrics import StepMetrics
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.quality.schemas import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.resources import LLMResource
from ai_assets.transform.triage import TRIAGE_TASK
from ai_assets.warehouse.tables import read_table, replace_rows

_KINDS = {"duckdb", "polars", "openai"}


def _progress_logger(context: dg.AssetExecutionContext, label: str):
    def log(done: int, metrics: StepMetrics) -> None:
        context.log.info(f"{label}: {metrics.progress_line(done)}")

    return log


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "ticket_triage",
            deps=["raw_tickets"],
            description=(
                "One row per ticket the LLM triaged: category, urgency, sentiment, language, summary, "
                "order id and product when mentioned, confidence, plus lineage (model, prompt_version, "
                "input_hash, tokens, cost_usd, cache_hit)."
            ),
            kinds=_KINDS,
            metadata={"partition_expr": PARTITION_COLUMN},
        ),
        dg.AssetSpec(
            "ticket_triage_failures",
            deps=["raw_tickets"],
            description="One row per ticket whose triage failed after retries (provider_error or invalid_output), with the reason and the raw answer.",
            kinds=_KINDS,
            metadata={"partition_expr": PARTITION_COLUMN},
        ),
    ],
    partitions_def=daily_partitions,
    group_name="transform",
    # Prompt, output schema, sampling parameters and model: a change to any marks the asset (and
    # its downstream) unsynced, and the rerun misses the cache for this step only.
    code_version=f"{TRIAGE_TASK.prompt_version}+{load_settings().chat_model}",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def ticket_triage(context: dg.AssetExecutionContext, llm: LLMResource, duckdb: DuckDBResource):
    """Classifies each of the day's raw tickets with the LLM; unchanged tickets come from the cache."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as conn:
        tickets = read_table(conn, "raw_tickets", partition_column=PARTITION_COLUMN, partition_value=day)
    endpoint = llm.endpoint()
    context.log.info(f"Triage of {tickets.height} tickets for {day} with model {endpoint.model} ({TRIAGE_TASK.prompt_version})")
    cache = llm.open_cache()
    try:
        result = run_task(
            TRIAGE_TASK,
            tickets.select("ticket_id", *TRIAGE_TASK.input_columns),
            endpoint=endpoint,
            cache=cache,
            pricing=llm.pricing(),
            id_column="ticket_id",
            limits=llm.limits(),
            max_input_chars=llm.max_input_chars,
            on_progress=_progress_logger(context, f"triage {day}"),
        )
    finally:
        cache.close()
    in_day = pl.lit(day).alias(PARTITION_COLUMN)
    triaged = result.outputs.with_columns(in_day).select(list(TICKET_TRIAGE.columns))
    failures = result.failures.with_columns(in_day).select(list(TICKET_TRIAGE_FAILURES.columns))
    TICKET_TRIAGE.validate(triaged)
    with duckdb.get_connection() as conn:
        replace_rows(conn, "ticket_triage", triaged, partition_column=PARTITION_COLUMN, partition_value=day)
        replace_rows(conn, "ticket_triage_failures", failures, partition_column=PARTITION_COLUMN, partition_value=day)

    metrics = result.metrics.to_dict()
    context.log.info(f"{day}: triaged {triaged.height}, failed {failures.height}; {metrics}")
    yield dg.MaterializeResult(
        asset_key="ticket_triage",
        metadata={
            "dagster/row_count": triaged.height,
            "model": endpoint.model,
            "prompt_version": TRIAGE_TASK.prompt_version,
            **{k: v for k, v in metrics.items() if k != "failure_reasons"},
            "failure_reasons": metrics["failure_reasons"],
            "by_category": counts_by(triaged, "category"),
            "preview": markdown_preview(triaged.select("ticket_id", "category", "urgency", "sentiment", "summary")),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ticket_triage_failures",
        metadata={
            "dagster/row_count": failures.height,
            "preview": markdown_preview(failures.select("ticket_id", "error_type", "reason"), empty="_no failures_"),
        },
    )
