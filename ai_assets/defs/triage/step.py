"""The triage as an LLMStep (declared in defs.yaml beside this file): the component's runner, row
key, progress, lineage and metadata, with the cascade in front of the LLM.

The latest evaluation of the same task, model and cascade (eval_runs, from triage_eval) decides
which fields the proxy answers on every row, so eval_runs is upstream in the graph: materialising
everything evaluates first, an unchanged rerun asks nothing, and a new evaluation that changes the
plan (eval_runs' data version) marks the triage stale. With AI_ASSETS_EVAL_BLOCKING on, a task and
model whose latest evaluation is missing or below a target write nothing.
"""

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

from ai_assets.components.llm_step import LLMStep, StepPlan, StepResources
from ai_assets.components.loading import current
from ai_assets.defs.evals.tables import EVAL_RUNS
from ai_assets.defs.reference.tables import PRODUCTS, TICKET_LABELS
from ai_assets.defs.triage.cascade import CascadeSettings, plan_cascade
from ai_assets.defs.triage.tables import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.defs.triage.tasks import triage_task
from ai_assets.quality.evals import evaluated_plan, latest_eval, llm_accuracy_of, plan_version, triage_gate
from ai_assets.transform import entities
from ai_assets.transform.cascade import apply_proxy, fully_answered
from ai_assets.transform.llm_step import days_label
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import partition_days
from ai_assets.warehouse.tables import read


class TriageStep(LLMStep):
    """ticket_triage: each ticket's category, urgency, sentiment and language, by the cascade where it
    is sure and the LLM for the rest (a ticket the cascade answered whole costs no call), its order id
    and product by rules, with the project's triage settings."""

    _cascade: CascadeSettings | None = PrivateAttr(default=None)
    _eval_targets: dict[str, float] | None = PrivateAttr(default=None)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        settings = current().settings
        project = settings.project
        self._cascade = CascadeSettings.from_settings(project, settings.small_llm.describe())
        self._eval_targets = project.eval_targets if project.eval_blocking else None
        return super().build_defs(context)

    def _task(self, context, source):
        # triage_eval asks the same task: one definition (tasks.py), with AI_ASSETS_PROMPTS_DIR and
        # AI_ASSETS_TRIAGE_BATCH_SIZE applied.
        project = current().settings.project
        return triage_task(project.prompts_dir, project.triage_batch_size), []

    def _tables(self, source, fields):
        return TICKET_TRIAGE, TICKET_TRIAGE_FAILURES

    def _checks(self, source, output, failures, daily):
        return []  # defs/checks.py checks every packaged table, these two included

    def _upstream(self, source):
        return [TICKET_LABELS.name, EVAL_RUNS.name, PRODUCTS.name]

    def _code_version(self, task, model):
        # The evaluation's (it scores what the LLM and the cascade answer) and the rules' for the rest.
        return f"{self._cascade.code_version(task.prompt_version, model)}+{entities.RULES_VERSION}"

    def _label(self, days):
        return f"triage {days_label(days)}"

    def _plan(self, context: dg.AssetExecutionContext, rows: pl.DataFrame, step: StepResources) -> StepPlan:
        """The cascade's plan: the proxy answers the fields it is sure of, the LLM the rest, shown the
        nearest labelled tickets; where the latest evaluation found the LLM no better than the proxy,
        the proxy answers every row."""
        label, cascade, version = self._label(partition_days(context)), self._cascade, step.task.prompt_version
        with step.warehouse.get_connection() as conn:
            if self._eval_targets is not None:
                problem = triage_gate(conn, step.model, version, cascade.describe(), self._eval_targets)
                if problem:
                    raise dg.Failure(problem, allow_retries=False)
            labels = read(conn, TICKET_LABELS)
            evaluated = latest_eval(conn, step.model, version, cascade.describe())
            catalog = read(conn, PRODUCTS)["product_name"].to_list()
        # The cheapest plan that met the targets in the latest evaluation (quality/plans.py).
        chosen, why = evaluated_plan(evaluated, "no evaluation yet (triage_eval)")
        plan = plan_cascade(
            cascade, step.embeddings, labels, rows, llm_accuracy=llm_accuracy_of(evaluated), plan=chosen
        )
        eval_id = evaluated["eval_id"] if evaluated else "none"
        context.log.info(
            f"{label}: plan {chosen}: {why}; cascade {plan.stats}; thresholds {plan.thresholds}; evaluation "
            f"{eval_id} (eval_runs {plan_version(evaluated)})"
        )
        if not catalog:
            context.log.warning(
                f"{label}: the products table is empty, so no ticket's product is found: put the catalog in "
                "landing/catalog/products.csv (a product_name column) and run reference_data_job"
            )
        mentioned = entities.mentions(rows, catalog)

        def finish(answers: pl.DataFrame) -> pl.DataFrame:
            triaged = apply_proxy(answers, plan.lineage).join(
                plan.whole_confidence().rename({"confidence": "whole"}), on="row_key", how="left"
            )
            return (
                triaged.with_columns(confidence=pl.coalesce("confidence", "whole"))
                .drop("whole")
                .join(mentioned, on="row_key", how="left")
            )

        return StepPlan(
            plan.rows,
            finish=finish,
            metadata=lambda triaged: {
                "plan": chosen,
                "plan_reason": why,
                "eval_id": eval_id,
                **plan.stats,
                "order_ids_found": triaged["order_id"].count(),
                "products_found": triaged["product"].count(),
                "by_category": counts_by(triaged, "category"),
            },
            answered=fully_answered(plan.lineage),
            llm=step.llm_of(chosen),
        )
