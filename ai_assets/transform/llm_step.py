"""What every LLM step shares: its row key, its retry policy, and running a task with the
resource's endpoint, cache and limits while logging progress to the run."""

from collections.abc import Sequence
from dataclasses import replace

import dagster as dg
import polars as pl
from pydantic import Field

from ai_assets.llm.engine import Limits, TaskResult, run_task
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.task import LLMTask
from ai_assets.resources import EmbeddingResource, LLMResource
from ai_assets.warehouse.contract import PARTITION_COLUMN

# A whole LLM step retried (the engine already retries each call): for an endpoint that was down.
LLM_STEP_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Caps the LLM steps hitting the provider at once across all runs (each step also has its own
# AI_ASSETS_LLM_CONCURRENCY); the limit is the instance's pool limit.
LLM_POOL = "llm_provider"


class LLMRunConfig(dg.Config):
    """An LLM step's knobs for one run, set in the Launchpad (`ops: <step>: config:`) or a run's config:
    a budget other than the llm resource's. Schedules and sensors leave them unset."""

    max_tokens: int | None = Field(
        default=None,
        ge=0,
        description="This run's token budget of each engine call of the step (docs/llm-engine.md); "
        "unset: AI_ASSETS_LLM_MAX_TOKENS_PER_RUN; 0: no limit.",
    )
    max_cost_usd: float | None = Field(
        default=None,
        ge=0,
        description="This run's cost budget in USD of each engine call of the step; "
        "unset: AI_ASSETS_LLM_MAX_COST_PER_RUN_USD; 0: no limit.",
    )

    def limits(self, context: dg.AssetExecutionContext, llm: LLMResource) -> Limits:
        """The resource's limits with this run's budget, said in the run log when it is not the resource's."""
        limits = llm.limits()
        if self.max_tokens is not None:
            limits = replace(limits, max_tokens_per_run=self.max_tokens or None)
        if self.max_cost_usd is not None:
            limits = replace(limits, max_cost_per_run_usd=self.max_cost_usd or None)
        if limits != llm.limits():
            tokens, cost = limits.max_tokens_per_run, limits.max_cost_per_run_usd
            context.log.info(
                f"this run's budget (run config): {tokens or 'no limit on'} tokens, "
                + (f"{cost:g} USD" if cost else "no limit on cost")
            )
        return limits


def with_row_key(tickets: pl.DataFrame) -> pl.DataFrame:
    """Adds `row_key`, `<created_date>/<ticket_id>`: a ticket id is unique within its day only, and
    one engine call may cover several days."""
    return keyed(tickets, (PARTITION_COLUMN, "ticket_id"))


def keyed(rows: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """Adds `row_key`, the `key` columns' values joined by "/": what the engine answers a row by."""
    return rows.with_columns(row_key=pl.concat_str([pl.col(c).cast(pl.Utf8) for c in key], separator="/"))


def as_prompt_text(rows: pl.DataFrame, task: LLMTask) -> pl.DataFrame:
    """The task's input columns as text: a date or a number reads in the prompt as it prints."""
    return rows.with_columns(pl.col(c).cast(pl.Utf8) for c in task.input_columns)


def days_label(days: list) -> str:
    return f"{days[0]}" + (f"..{days[-1]}" if len(days) > 1 else "")


def llm_metadata(
    context: dg.AssetExecutionContext, metrics: StepMetrics, resource: LLMResource | EmbeddingResource
) -> dict:
    """The step's LLM metrics in the vocabulary every LLM asset shares (StepMetrics.metadata), and a
    warning, in the run log and the metadata, when a paid model has no prices set."""
    metadata: dict = metrics.metadata()
    note = resource.unpriced_note()
    if note:
        context.log.warning(note)
        metadata["cost_note"] = note
    return metadata


def run_llm_step(
    context: dg.AssetExecutionContext,
    llm: LLMResource,
    config: LLMRunConfig,
    task: LLMTask,
    rows: pl.DataFrame,
    label: str,
    answered_without_call: int = 0,
) -> TaskResult:
    """Runs `task` over `rows` (keyed by `row_key`) with the resource's endpoint, cache and limits
    (with the run's budget, `config`),
    logging progress lines to the run. Fails the step (dg.Failure) when its circuit breaker stopped
    it or more than the allowed share of its rows failed (`rows` and the `answered_without_call` by a
    cascade): an outage is never a successful day."""
    endpoint = llm.endpoint()
    context.log.info(f"{label}: {rows.height} rows, model {endpoint.model}, {task.prompt_version}")

    def log_progress(done: int, metrics: StepMetrics) -> None:
        context.log.info(f"{label}: {metrics.progress_line(done)}")

    cache = llm.open_cache()
    try:
        result = run_task(
            task,
            rows.select("row_key", *task.input_columns),
            endpoint=endpoint,
            cache=cache,
            pricing=llm.pricing(),
            id_column="row_key",
            limits=config.limits(context, llm),
            max_input_chars=llm.max_input_chars,
            redact_pii=llm.redact_pii,
            on_progress=log_progress,
        )
    finally:
        cache.close()
    _fail_loud(context, result, label, llm.max_failure_share, answered_without_call)
    return result


def _fail_loud(
    context: dg.AssetExecutionContext,
    result: TaskResult,
    label: str,
    max_failure_share: float,
    answered_without_call: int = 0,
) -> None:
    metrics = result.metrics
    if not metrics.failures:
        return
    problem = metrics.why_failed(max_failure_share, answered_without_call)
    if problem is None:
        rows = metrics.rows + answered_without_call
        context.log.warning(f"{label}: {metrics.failures} of {rows} rows failed: {metrics.failure_reasons}")
        return
    raise dg.Failure(
        description=(
            f"{label}: {problem}. The {result.outputs.height} rows answered are cached: a rerun asks only the rest."
        ),
        metadata=metrics.to_dict(),
        # A wrong key stays wrong: retrying the step would only send the same requests again.
        allow_retries=metrics.retry_can_help(),
    )
