"""Transform assets: LLM steps over the extracted tables."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_backfill_policy, daily_partitions, partition_days
from ai_assets.llm.engine import TaskResult, run_task
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.task import LLMTask
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.quality.schemas import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.resources import LLMResource
from ai_assets.warehouse.tables import read_table, replace_rows

_KINDS = {"duckdb", "polars", "openai"}
# A whole LLM step retried (the engine already retries each call): for an endpoint that was down.
LLM_STEP_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def run_llm_step(
    context: dg.AssetExecutionContext, llm: LLMResource, task: LLMTask, rows: pl.DataFrame, label: str
) -> TaskResult:
    """Runs `task` over `rows` (keyed by `row_key`) with the resource's endpoint, cache and limits,
    logging progress lines to the run."""
    endpoint = llm.endpoint()
    context.log.info(f"{label}: {rows.height} rows, model {endpoint.model}, {task.prompt_version}")

    def log_progress(done: int, metrics: StepMetrics) -> None:
        context.log.info(f"{label}: {metrics.progress_line(done)}")

    cache = llm.open_cache()
    try:
        return run_task(
            task,
            rows.select("row_key", *task.input_columns),
            endpoint=endpoint,
            cache=cache,
            pricing=llm.pricing(),
            id_column="row_key",
            limits=llm.limits(),
            max_input_chars=llm.max_input_chars,
            redact_pii=llm.redact_pii,
            on_progress=log_progress,
        )
    finally:
        cache.close()


def build_ticket_triage(task: LLMTask, model: str) -> dg.AssetsDefinition:
    """The triage assets for one task (prompt, schema, parameters) and model."""

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
        backfill_policy=daily_backfill_policy,
        group_name="transform",
        # Prompt, output schema, sampling parameters and model: a change to any marks the asset (and
        # its downstream) unsynced, and the rerun misses the cache for this step only.
        code_version=f"{task.prompt_version}+{model}",
        # Caps the LLM steps hitting the provider at once across all runs (each step also has its
        # own AI_ASSETS_LLM_CONCURRENCY); the limit is the instance's pool limit.
        pool="llm_provider",
        retry_policy=LLM_STEP_RETRY_POLICY,
    )
    def ticket_triage(context: dg.AssetExecutionContext, llm: LLMResource, duckdb: DuckDBResource):
        """Classifies each of the days' raw tickets with the LLM; unchanged tickets come from the cache."""
        days = partition_days(context)
        label = f"triage {days[0]}" + (f"..{days[-1]}" if len(days) > 1 else "")
        with duckdb.get_connection() as conn:
            tickets = read_table(conn, "raw_tickets", partition_column=PARTITION_COLUMN, partitions=days)
        # One engine call for all the days, keyed by day and ticket: ids are unique within a day only.
        tickets = tickets.with_columns(row_key=pl.format("{}/{}", PARTITION_COLUMN, "ticket_id"))
        result = run_llm_step(context, llm, task, tickets, label)
        keys = tickets.select("row_key", "ticket_id", PARTITION_COLUMN)
        triaged = result.outputs.join(keys, on="row_key").select(list(TICKET_TRIAGE.columns))
        failures = result.failures.join(keys, on="row_key").select(list(TICKET_TRIAGE_FAILURES.columns))
        TICKET_TRIAGE.validate(triaged)
        with duckdb.get_connection() as conn:
            replace_rows(conn, "ticket_triage", triaged, partition_column=PARTITION_COLUMN, partitions=days)
            replace_rows(conn, "ticket_triage_failures", failures, partition_column=PARTITION_COLUMN, partitions=days)

        metrics = result.metrics.to_dict()
        context.log.info(f"{label}: triaged {triaged.height}, failed {failures.height}; {metrics}")
        yield dg.MaterializeResult(
            asset_key="ticket_triage",
            metadata={
                "dagster/row_count": triaged.height,
                "days": len(days),
                "model": model,
                "prompt_version": task.prompt_version,
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
                "preview": markdown_preview(
                    failures.select("ticket_id", "error_type", "reason"), empty="_no failures_"
                ),
            },
        )

    return ticket_triage
