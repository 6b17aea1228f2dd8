"""An LLMStep's evaluation, declared with its cascade: the step's task and proxy run over the
labelled table (each labelled row answered by a proxy fitted without it), scored per field against
the labels, recorded in `<step>_evals` once per model, prompt, cascade and label set, and checked
against the targets.

    eval:
      targets: {tone: 0.9}
      blocking: true     # the step writes nothing while its latest evaluation misses a target

The evaluation is an asset of its own (`<step>_eval`, group evals): an unchanged rerun asks nothing
(the caches) and records nothing new; with `blocking` it is upstream of the step, so a new
evaluation marks the step stale.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dagster as dg
import pandera.polars as pa
import polars as pl
from pydantic import Field

from ai_assets.components.cascade import CascadeRows, StepCascade, labelled_rows, plan_rows
from ai_assets.llm.engine import output_schema
from ai_assets.llm.task import LLMTask
from ai_assets.quality.columns import count_column, text_column
from ai_assets.quality.evals import shortfalls
from ai_assets.quality.metrics import accuracy
from ai_assets.quality.plans import PlanScore, choose_plan, score_plan, small_llm_answers, unmeasured
from ai_assets.quality.vocabulary import CASCADE_PLANS
from ai_assets.transform.cascade import (
    LLM_ALONE,
    PROXY_LLM,
    PROXY_ONLY,
    PROXY_SMALL_LLM,
    apply_proxy,
    fully_answered,
    plan_answers,
)
from ai_assets.transform.llm_step import as_prompt_text, keyed, run_llm_step
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.tables import materializations, read, row_count


class EvalOption(dg.Model, dg.Resolvable):
    """What an LLMStep's answers must reach on its cascade's labels."""

    targets: dict[str, float] = Field(
        default_factory=dict, description="Per field: the accuracy its answers must reach on the labelled rows."
    )
    blocking: bool = Field(
        default=False,
        description="On: the step writes nothing while its latest evaluation (this model, prompt and cascade) is "
        "missing or misses a target, and the check fails as an ERROR; off: a WARN.",
    )


def evals_table(step: str, fields: tuple[str, ...]) -> Table:
    """`<step>_evals`: one row per evaluation, appended, so the step's quality has a history."""
    per_field = {}
    notes = {}
    for name in fields:
        per_field[f"accuracy_{name}"] = pa.Column(pl.Float64, nullable=True)
        per_field[f"llm_accuracy_{name}"] = pa.Column(pl.Float64, nullable=True)
        notes[f"accuracy_{name}"] = f"share of labelled rows whose {name} the step (proxy, then LLM) got right"
        notes[f"llm_accuracy_{name}"] = f"the LLM's own, before the proxy's answers replace any of {name}"
    return Table(
        f"{step}_evals",
        f"One row per evaluation of {step} on its cascade's labelled rows: accuracy per field, the LLM's own, "
        "the proxy's share; appended, never replaced.",
        {
            "eval_id": text_column(),
            "evaluated_at": pa.Column(pl.Datetime("us")),
            "model": text_column(),
            "prompt_version": text_column(),
            "cascade": text_column(),
            "labels_hash": text_column(),
            "n": count_column(),
            "failures": count_column(),
            "proxy_share": pa.Column(pl.Float64, nullable=True),
            "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
            "plan": pa.Column(pl.Utf8, pa.Check.isin(CASCADE_PLANS), nullable=True),
            "plan_reason": text_column(nullable=True),
            "llm_calls_per_1k": pa.Column(pl.Float64, nullable=True),
            **per_field,
        },
        key=("eval_id",),
        llm=True,
        preview=("evaluated_at", "model", "prompt_version", "n", *per_field),
        notes={
            "eval_id": "hash of model, prompt version, cascade, labels and targets: the same evaluation, the same id",
            "evaluated_at": "UTC",
            "model": "the model that answered",
            "prompt_version": "`<prompt>@<hash>` of the prompt, output schema and sampling parameters",
            "cascade": "the cascade's settings",
            "labels_hash": "hash of the labelled rows",
            "n": "labelled rows evaluated",
            "failures": "of them, rows the LLM failed to answer (counted wrong)",
            "proxy_share": "share of the fields the proxy answered",
            "cost_usd": "what the evaluation's calls cost (0 from the caches)",
            "plan": "how the step answers after this evaluation: the cheapest plan (proxy_only, proxy_small_llm "
            "with AI_ASSETS_SMALL_LLM, proxy_llm, llm_alone) that meets every target, or the closest; proxy_llm "
            "without targets; the accuracies here are its; null: recorded before this column",
            "plan_reason": "why that plan: each plan's LLM calls and cost per 1,000 rows and the targets it misses",
            "llm_calls_per_1k": "LLM calls per 1,000 rows under that plan (a row the proxy answers whole needs none)",
            **notes,
        },
    )


def latest_eval(evals: pl.DataFrame, model: str, prompt_version: str, cascade: str) -> dict | None:
    runs = evals.filter(
        (pl.col("model") == model) & (pl.col("prompt_version") == prompt_version) & (pl.col("cascade") == cascade)
    )
    return runs.sort("evaluated_at").row(-1, named=True) if runs.height else None


def gate(evals: pl.DataFrame, step: str, model: str, task: LLMTask, cascade: StepCascade, targets) -> str | None:
    """Why the step may not write (no evaluation of this model, prompt and cascade, or one below a
    target), or None."""
    latest = latest_eval(evals, model, task.prompt_version, cascade.describe())
    if latest is None:
        return f"{step} has not been evaluated with {model} and {task.prompt_version}: materialise {step}_eval first"
    problems = shortfalls(latest, targets)
    return f"{step}'s latest evaluation {latest['eval_id']}: " + "; ".join(problems) if problems else None


def evaluate(
    context: dg.AssetExecutionContext,
    resources,
    config,
    name: str,
    cascade: StepCascade,
    table: Table,
    targets: dict[str, float],
    blocking: bool,
):
    """The evaluation's materialisation and check results (resources: the step's StepResources)."""
    with resources.warehouse.get_connection() as conn:
        labels = labelled_rows(cascade, read(conn, cascade.labels))
        recorded = read(conn, table)
    if labels.is_empty():
        raise dg.Failure(
            f"{cascade.labels.name} has no labelled rows: materialise it (every field of {list(cascade.fields)} "
            "answered) first",
            allow_retries=False,
        )
    key = list(cascade.labels.key)
    digest = _digest(labels.select(sorted(labels.columns)).sort(key).write_ndjson())
    labels = keyed(labels, key)
    # The LLM asked about every row (examples are the same under every plan), the proxy's held-out answers
    # beside: every plan is scored on these (`lineage_of`).
    planned = plan_rows(cascade, resources.embeddings, labels, labels, rows_are_labels=True)
    task = resources.task
    label = f"{name} eval of {labels.height} labelled rows"
    prompts = as_prompt_text(planned.rows, task)
    result = run_llm_step(context, resources.llm, config, task, prompts, label)
    problem = unmeasured(result.outputs.height, result.failures, labels.height, resources.llm.max_failure_share, "rows")
    if problem:
        raise dg.Failure(problem, allow_retries=False)
    llm = _predictions(labels, result.outputs, cascade.fields, how="inner")
    plans = [plan for plan in CASCADE_PLANS if plan != PROXY_SMALL_LLM] if planned.fitted is not None else [LLM_ALONE]
    scored = {plan: _scored_plan(plan, planned, labels, result.outputs, cascade, task, targets) for plan in plans}
    # The small model (AI_ASSETS_SMALL_LLM) asked only where its plan could be chosen.
    small_llm = resources.small_llm
    proxy_only = scored[PROXY_ONLY][0] if PROXY_ONLY in scored else None
    small, _ = small_llm_answers(context, small_llm, resources.llm, config, task, prompts, label, "rows", proxy_only)
    if small is not None:
        scored[PROXY_SMALL_LLM] = _scored_plan(
            PROXY_SMALL_LLM, planned, labels, small.outputs, cascade, task, targets, small_llm.served_model
        )
    chosen, reason, lineage = _choose_plan({plan: scored[plan] for plan in CASCADE_PLANS if plan in scored}, targets)
    context.log.info(f"Plan {reason}")
    settings = cascade.describe()
    identity = [name, resources.model, task.prompt_version, settings, digest, sorted(targets.items())]
    eval_id = _digest(json.dumps(identity))
    proxied = lineage["proxy_fields"].list.len().sum()
    run = {
        "eval_id": eval_id,
        "evaluated_at": datetime.now(UTC).replace(tzinfo=None),
        "model": resources.model,
        "prompt_version": task.prompt_version,
        "cascade": settings,
        "labels_hash": digest,
        "n": labels.height,
        "failures": result.failures.height,
        "proxy_share": proxied / (labels.height * len(cascade.fields)),
        "cost_usd": result.metrics.cost_usd,
        "plan": chosen.plan,
        "plan_reason": reason,
        "llm_calls_per_1k": chosen.llm_calls_per_1k,
        **{f"accuracy_{f}": chosen.accuracy[f] for f in cascade.fields},
        **{f"llm_accuracy_{f}": accuracy(llm[f"expected_{f}"], llm[f"predicted_{f}"]) for f in cascade.fields},
    }
    frame = pl.DataFrame([run], schema={c: table.columns[c].dtype.type for c in table.columns})
    latest = latest_eval(recorded, resources.model, task.prompt_version, settings)
    before = recorded.filter(pl.col("eval_id") == eval_id)
    # Recorded once; again only if this run answered rows that failed before, as triage_eval does.
    if before.is_empty() or before["failures"][0] > run["failures"]:
        resources.warehouse.upsert({table: frame})
        context.log.info(f"Recorded evaluation {eval_id} of {name}")
    elif latest is not None and latest["eval_id"] != eval_id:
        # Evaluated again after another one (other labels or targets): the latest again, with its first figures,
        # so that the step follows it.
        frame = before.with_columns(evaluated_at=pl.lit(run["evaluated_at"]))
        resources.warehouse.upsert({table: frame})
        context.log.info(f"Evaluation {eval_id} of {name}, recorded before {latest['eval_id']}, is the latest again")
    else:
        context.log.info(f"Evaluation {eval_id} of {name} is already recorded; {table.name} unchanged")
    scores = {f"accuracy_{f}": run[f"accuracy_{f}"] for f in cascade.fields if run[f"accuracy_{f}"] is not None}
    with resources.warehouse.get_connection() as conn:
        total = row_count(conn, table)
    metadata = {
        "eval_id": eval_id,
        "n": run["n"],
        **scores,
        "cascade": settings,
        "proxy_share": run["proxy_share"],
        "plan": chosen.plan,
        "plan_reason": reason,
    }
    # The evaluation's id as the table's data version: the same evaluation recorded again changes nothing
    # downstream; a new one marks a step it gates stale.
    yield from materializations({table: frame}, {table: {**metadata, "dagster/row_count": total}}, {table: eval_id})
    problems = shortfalls(run, targets)
    yield dg.AssetCheckResult(
        check_name=f"{name}_accuracy_meets_target",
        asset_key=table.name,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or "every field meets its target",
        metadata={**scores, **{f"target_{f}": t for f, t in targets.items()}},
    )


def _predictions(labels: pl.DataFrame, answers: pl.DataFrame, fields: Sequence[str], how: str = "left") -> pl.DataFrame:
    """`expected_<field>` and `predicted_<field>` per labelled row (a row the LLM failed: null predictions)."""
    return labels.select("row_key", *(pl.col(f).cast(pl.Utf8).alias(f"expected_{f}") for f in fields)).join(
        answers.select("row_key", *(pl.col(f).cast(pl.Utf8).alias(f"predicted_{f}") for f in fields)),
        on="row_key",
        how=how,
    )


def _scored_plan(
    plan: str,
    planned: CascadeRows,
    labels: pl.DataFrame,
    outputs: pl.DataFrame,
    cascade: StepCascade,
    task: LLMTask,
    targets: Mapping[str, float],
    model: str = "",
) -> tuple[PlanScore, pl.DataFrame]:
    """The plan scored on its LLM's answers to every labelled row (`outputs`; `model` that LLM when
    not the step's) and the proxy's held out, with its lineage."""
    fields = list(output_schema(task.output_model))
    # A row needs no call only when the proxy may answer every field of the step.
    can_skip = set(fields) <= set(cascade.fields)
    lineage = planned.lineage_of(plan, cascade.fields)
    skipped = len(fully_answered(lineage, fields)) if can_skip else 0
    answers = (plan_answers if can_skip else apply_proxy)(outputs, lineage, cascade.fields)
    predictions = _predictions(labels, answers, cascade.fields)
    share = 1 - skipped / labels.height
    return score_plan(plan, predictions, share, outputs, targets, cascade.fields, model), lineage


def _choose_plan(
    scored: Mapping[str, tuple[PlanScore, pl.DataFrame]], targets: Mapping[str, float]
) -> tuple[PlanScore, str, pl.DataFrame]:
    """The plan the step runs of those `scored` (in the order of CASCADE_PLANS; quality/plans.py),
    why, and its lineage. Without targets, proxy_llm: the cascade as declared (the cheapest plan
    would be the proxy alone however wrong)."""
    if targets or PROXY_LLM not in scored:
        chosen, reason = choose_plan([score for score, _ in scored.values()], targets)
    else:
        chosen, reason = scored[PROXY_LLM][0], f"{PROXY_LLM}: no eval targets to choose a cheaper plan by"
    return chosen, reason, scored[chosen.plan][1]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
