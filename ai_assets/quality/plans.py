"""The cheapest plan at a target: each way the triage can answer, measured on the labelled tickets, and
the one it runs.

An evaluation asks the LLM about every labelled ticket and answers each with the proxy held out, so
every plan (`cascade.PLANS`: proxy only, proxy + LLM, LLM alone) is scored on the labels from that one
run, at no extra call: its accuracy per field, and the LLM calls, tokens and cost per 1,000 tickets it
would take (a ticket the plan answers whole costs nothing, any other one call at the evaluation's mean
tokens and cost per call). The triage runs the cheapest plan that meets every target
(AI_ASSETS_EVAL_TARGETS): least cost per 1,000 tickets, then fewest calls, then the order of PLANS.
When none meets them, the one closest: fewest fields short, then the highest mean accuracy over the
targeted fields.

The LLM of proxy_llm and llm_alone is the evaluation's model. With a small model set
(AI_ASSETS_SMALL_LLM: the embedded model beside an endpoint, or a cheaper endpoint) the evaluation
asks it about every labelled ticket too, and scores proxy_small_llm on its answers: proxy + small
LLM and proxy + configured LLM in one choice, and the step asks the small model when it wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import polars as pl

from ai_assets.defs.evals.tables import EVAL_PLANS
from ai_assets.llm.engine import TaskResult
from ai_assets.llm.task import LLMTask
from ai_assets.quality.evals import short_fields, shortfalls
from ai_assets.quality.metrics import accuracy
from ai_assets.resources import LLMResource, SmallLLMResource
from ai_assets.transform.cascade import FIELDS
from ai_assets.transform.llm_step import LLMRunConfig, run_llm_step
from ai_assets.warehouse.metadata import counts_by


@dataclass(frozen=True)
class PlanScore:
    """One plan on the labelled tickets."""

    plan: str
    accuracy: dict[str, float | None]  # per triage field
    llm_calls_per_1k: float
    tokens_per_1k: float
    cost_per_1k_usd: float
    shortfalls: list[str]  # the targets it misses (`evals.shortfalls`)
    model: str = ""  # the LLM it asks, when not the evaluation's model (proxy_small_llm)

    @property
    def meets_targets(self) -> bool:
        return not self.shortfalls

    def mean_accuracy(self, fields: Sequence[str]) -> float:
        scores = [self.accuracy[f] for f in fields if self.accuracy.get(f) is not None]
        return sum(scores) / len(scores) if scores else 0.0


def score_plan(
    plan: str,
    predictions: pl.DataFrame,
    llm_call_share: float,
    calls: pl.DataFrame,
    targets: Mapping[str, float],
    fields: Sequence[str] = FIELDS,
    model: str = "",
) -> PlanScore:
    """`plan` scored from its predictions (`expected_<field>` and `predicted_<field>` per field of
    `fields`: `evals.eval_predictions` of the labels under it), the share of rows it sends to the
    LLM, and `calls`: the evaluation's LLM answers (one per row asked, with prompt_tokens,
    completion_tokens and cost_usd), which price a call."""
    scores = {f: accuracy(predictions[f"expected_{f}"], predictions[f"predicted_{f}"]) for f in fields}
    tokens = (calls["prompt_tokens"] + calls["completion_tokens"]).mean() if calls.height else 0.0
    cost = calls["cost_usd"].mean() if calls.height else 0.0
    per_1k = 1000 * llm_call_share
    return PlanScore(
        plan,
        scores,
        per_1k,
        per_1k * tokens,
        per_1k * cost,
        shortfalls({f"accuracy_{f}": score for f, score in scores.items()}, targets),
        model,
    )


def unmeasured(answered: int, failures: pl.DataFrame, n: int, max_failure_share: float, rows: str) -> str | None:
    """Why an evaluation's plans cannot be compared, or None: the LLM answered too few of its `n`
    labelled rows. Unlike a step's own failure share, rows over budget count: the LLM would be
    measured on a fraction, and the plans that need it judged on that."""
    if not n or (n - answered) / n <= max_failure_share:
        return None
    reasons = counts_by(failures, "error_type")
    return (
        f"The LLM answered {answered} of the {n} labelled {rows} (failed: {reasons}), so the plans cannot be "
        f"compared and nothing is recorded (more than AI_ASSETS_LLM_MAX_FAILURE_SHARE={max_failure_share:g} "
        "failed): check the endpoint (the run log has each error) and the budget (AI_ASSETS_LLM_MAX_TOKENS_PER_RUN, "
        "AI_ASSETS_LLM_MAX_COST_PER_RUN_USD or the run's max_cost_usd). A rerun asks only the rows not answered."
    )


def unbeatable(score: PlanScore) -> bool:
    """Whether no plan can be chosen over this one: it meets every target with no LLM call (no cost,
    no call; proxy_only, first of the plans). Then the small model need not be asked."""
    return score.meets_targets and score.llm_calls_per_1k == 0


def small_llm_answers(
    context: dg.AssetExecutionContext,
    small_llm: SmallLLMResource,
    llm: LLMResource,
    config: LLMRunConfig,
    task: LLMTask,
    rows: pl.DataFrame,
    label: str,
    what: str,
    proxy_only: PlanScore | None,
) -> tuple[TaskResult | None, str]:
    """The small model's answers to an evaluation's labelled `rows`, for proxy_small_llm to be scored
    on as the other plans are on the LLM's, and its description (with why it was not asked). None
    without a small model, without a proxy (`proxy_only` None), or when proxy_only is `unbeatable`.
    The evaluation fails, saying why, when it answered too few of them."""
    described = small_llm.describe()
    if not described or proxy_only is None:
        return None, described
    if unbeatable(proxy_only):
        described += ": not asked (proxy_only meets every target with no LLM call: no plan can be cheaper)"
        context.log.info(f"The small model {described}")
        return None, described
    small = small_llm.resource(llm)
    result = run_llm_step(context, small, config, task, rows, f"{label}, small model {small.chat_model}")
    problem = unmeasured(result.outputs.height, result.failures, rows.height, small.max_failure_share, what)
    if problem:
        raise dg.Failure(f"The small model {described} (AI_ASSETS_SMALL_LLM): {problem}", allow_retries=False)
    return result, described


def choose_plan(scores: Sequence[PlanScore], targets: Mapping[str, float]) -> tuple[PlanScore, str]:
    """The plan to run and why (for the run log and the UI's metadata)."""
    compared = "; ".join(
        f"{s.plan} {s.llm_calls_per_1k:,.0f} calls ${s.cost_per_1k_usd:.4f}"
        + ("" if s.meets_targets else f" ({len(s.shortfalls)} short)")
        for s in scores
    )
    meeting = [s for s in scores if s.meets_targets]
    if meeting:
        best = min(meeting, key=lambda s: (s.cost_per_1k_usd, s.llm_calls_per_1k))
        return best, (
            f"{best.plan}: the cheapest plan that meets every target (by cost, then LLM calls; per 1,000 rows: "
            f"{compared})"
        )
    best = min(scores, key=lambda s: (len(s.shortfalls), -s.mean_accuracy(list(targets))))
    return best, (
        f"{best.plan}: no plan meets every target, this one comes closest ({'; '.join(best.shortfalls)}; "
        f"per 1,000 rows: {compared})"
    )


def plans_frame(
    run_id: str, model: str, scores: Sequence[PlanScore], chosen: str, evaluated_at: datetime
) -> pl.DataFrame:
    """The `eval_plans` rows of an evaluation: one per plan measured."""
    rows = [
        {
            "eval_id": run_id,
            "plan": s.plan,
            "model": s.model or model,
            **{f"accuracy_{f}": s.accuracy.get(f) for f in FIELDS},
            "llm_calls_per_1k": s.llm_calls_per_1k,
            "tokens_per_1k": s.tokens_per_1k,
            "cost_per_1k_usd": s.cost_per_1k_usd,
            "meets_targets": s.meets_targets,
            "shortfall": "; ".join(s.shortfalls) or None,
            "chosen": s.plan == chosen,
            "evaluated_at": evaluated_at,
        }
        for s in scores
    ]
    return pl.DataFrame(rows, schema=EVAL_PLANS.polars_schema)


def plans_markdown(plans: pl.DataFrame, targets: Mapping[str, float]) -> str:
    """An evaluation's `eval_plans` rows side by side, for its metadata: each field's target in its
    header, and the fields a plan falls short of."""
    heads = [f"{f} (target {targets[f]:g})" if f in targets else f for f in FIELDS]
    lines = ["| plan | " + " | ".join(heads) + " | calls / 1k | $ / 1k | meets targets |"]
    lines.append("|" + "---|" * (len(FIELDS) + 4))
    for row in plans.iter_rows(named=True):
        cells = [f"{row[f'accuracy_{f}']:.3f}" if row[f"accuracy_{f}"] is not None else "" for f in FIELDS]
        short = short_fields(row, targets)
        name = f"**{row['plan']}** (runs)" if row["chosen"] else row["plan"]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {row['llm_calls_per_1k']:,.0f} | {row['cost_per_1k_usd']:.4f} | "
            f"{'no: ' + ', '.join(short) if short else 'yes'} |"
        )
    return "\n".join(lines)
