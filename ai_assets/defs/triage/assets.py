"""The triage assets: each ticket classified by the LLM, or dead-lettered with the reason."""

from collections.abc import Mapping

import dagster as dg

from ai_assets.defs.evals.tables import EVAL_RUNS
from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.reference.tables import TICKET_LABELS
from ai_assets.defs.triage.cascade import CascadeSettings, apply_proxy, plan_cascade
from ai_assets.defs.triage.tables import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.llm.task import LLMTask
from ai_assets.quality.evals import latest_eval, llm_accuracy_of, plan_version, triage_gate
from ai_assets.resources import EmbeddingResource, LLMResource
from ai_assets.transform.llm_step import (
    LLM_POOL,
    LLM_STEP_RETRY_POLICY,
    LLMRunConfig,
    days_label,
    llm_metadata,
    run_llm_step,
    with_row_key,
)
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read


def build_ticket_triage(
    task: LLMTask,
    model: str,
    daily: Daily,
    cascade: CascadeSettings,
    eval_targets: Mapping[str, float] | None = None,
) -> dg.AssetsDefinition:
    """The triage assets for one task (prompt, schema, parameters), model and cascade. The latest
    evaluation of the same (eval_runs, from triage_eval) decides which fields the proxy answers on
    every row, so eval_runs is upstream in the graph: materialising everything evaluates first, an
    unchanged rerun asks nothing, and a new evaluation that changes the plan (eval_runs' data version)
    marks the triage stale. With `eval_targets` (AI_ASSETS_EVAL_BLOCKING on), a task and model whose
    latest evaluation is missing or below a target write nothing."""

    @dg.multi_asset(
        name="ticket_triage",
        specs=[
            TICKET_TRIAGE.spec(deps=["raw_tickets", TICKET_LABELS.name, EVAL_RUNS.name]),
            TICKET_TRIAGE_FAILURES.spec(deps=["raw_tickets"]),
        ],
        group_name="triage",
        code_version=cascade.code_version(task.prompt_version, model),
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
        **daily.asset_args(),
    )
    def ticket_triage(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        embeddings: EmbeddingResource,
        warehouse: WarehouseResource,
    ):
        """Triages each of the days' raw tickets: the cascade's proxy answers the fields it is sure of,
        the LLM the rest; unchanged tickets come from the caches."""
        days = partition_days(context)
        label = f"triage {days_label(days)}"
        if eval_targets is not None:
            with warehouse.get_connection() as conn:
                problem = triage_gate(conn, model, task.prompt_version, cascade.describe(), eval_targets)
            if problem:
                raise dg.Failure(problem, allow_retries=False)
        with warehouse.get_connection() as conn:
            tickets = with_row_key(read(conn, RAW_TICKETS, days))
            labels = read(conn, TICKET_LABELS)
            evaluated = latest_eval(conn, model, task.prompt_version, cascade.describe())
        # Where the latest evaluation found the LLM no better than the proxy, the proxy answers every row.
        plan = plan_cascade(cascade, embeddings, labels, tickets, llm_accuracy=llm_accuracy_of(evaluated))
        context.log.info(
            f"{label}: cascade {plan.stats}; thresholds {plan.thresholds}; evaluation "
            f"{evaluated['eval_id'] if evaluated else 'none'} (eval_runs {plan_version(evaluated)})"
        )
        result = run_llm_step(context, llm, config, task, plan.rows, label)
        keys = tickets.select("row_key", "ticket_id", "created_date")
        triaged = apply_proxy(result.outputs, plan.lineage).join(keys, on="row_key")
        failures = result.failures.join(keys, on="row_key")
        context.log.info(f"{label}: triaged {triaged.height}, failed {failures.height}; {result.metrics.to_dict()}")
        stats = {
            "model": model,
            "prompt_version": task.prompt_version,
            "eval_id": evaluated["eval_id"] if evaluated else "none",
            **llm_metadata(context, result.metrics, llm),
            **plan.stats,
            "by_category": counts_by(triaged, "category"),
        }
        yield from warehouse.write(
            {TICKET_TRIAGE: triaged, TICKET_TRIAGE_FAILURES: failures}, days, {TICKET_TRIAGE: stats}
        )

    return ticket_triage
