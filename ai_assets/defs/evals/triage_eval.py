"""The triage evaluation: the production triage run on the labelled tickets, scored, with a history."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from ai_assets.defs.evals.tables import EVAL_PLANS, EVAL_PREDICTIONS, EVAL_RUNS
from ai_assets.defs.reference.tables import TICKET_LABELS
from ai_assets.defs.triage.cascade import (
    CascadeSettings,
    audit_ticket_labels,
    llm_accuracy,
    plan_cascade,
)
from ai_assets.llm.engine import TaskResult
from ai_assets.llm.task import LLMTask
from ai_assets.quality.evals import (
    describe_targets,
    eval_id,
    eval_predictions,
    eval_run,
    labels_hash,
    latest_eval,
    plan_version,
    shortfalls,
)
from ai_assets.quality.metrics import confusion_markdown
from ai_assets.quality.plans import (
    choose_plan,
    plans_frame,
    plans_markdown,
    score_plan,
    small_llm_answers,
    unmeasured,
)
from ai_assets.quality.vocabulary import CASCADE_PLANS, LABEL_FIELDS, PROXIED_FIELDS
from ai_assets.resources import EmbeddingResource, LLMResource, SmallLLMResource
from ai_assets.transform.cascade import (
    LLM_ALONE,
    PROXY_LLM,
    PROXY_ONLY,
    PROXY_SMALL_LLM,
    fully_answered,
    plan_answers,
    plan_thresholds,
)
from ai_assets.transform.llm_step import (
    LLM_POOL,
    LLM_STEP_RETRY_POLICY,
    LLMRunConfig,
    llm_metadata,
    run_llm_step,
    with_row_key,
)
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import materializations, read, row_count

ACCURACY_CHECK = "triage_accuracy_meets_target"
LABELS_CHECK = "ticket_labels_are_trustworthy"


def build_triage_eval(
    task: LLMTask, model: str, cascade: CascadeSettings, targets: dict[str, float], blocking: bool
) -> dg.AssetsDefinition:
    """The evaluation assets of the triage task (prompt, schema, parameters), model and cascade, and the
    check of their accuracy against `targets` (ERROR and blocking when `blocking`, else WARN)."""
    goal = ", ".join(f"{field} {target:g}" for field, target in targets.items())
    check = dg.AssetCheckSpec(
        ACCURACY_CHECK,
        asset=EVAL_RUNS.name,
        blocking=blocking,
        description=f"The triage's accuracy on ticket_labels meets every target (AI_ASSETS_EVAL_TARGETS: {goal}).",
    )
    # Not blocking: the triage protects itself (the proxy stops answering a distrusted field).
    labels_check = dg.AssetCheckSpec(
        LABELS_CHECK,
        asset=EVAL_RUNS.name,
        description="No triage field of ticket_labels has more suspect labels (a ticket clearly nearer another "
        "category's description in the triage prompt than its label's: quality/label_trust.py) than "
        f"AI_ASSETS_LABEL_MAX_SUSPECT_SHARE ({cascade.max_suspect_share:g}); the proxy answers no field that has.",
    )

    @dg.multi_asset(
        name="triage_eval",
        specs=[table.spec(deps=[TICKET_LABELS.name]) for table in (EVAL_PREDICTIONS, EVAL_RUNS, EVAL_PLANS)],
        check_specs=[check, labels_check],
        group_name="evals",
        # ticket_triage's, and the targets, which choose its plan
        code_version=f"{cascade.code_version(task.prompt_version, model)}+{describe_targets(targets)}",
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
    )
    def triage_eval(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        small_llm: SmallLLMResource,
        embeddings: EmbeddingResource,
        warehouse: WarehouseResource,
    ):
        """Triages every labelled ticket as ticket_triage does (same cascade, task, engine and caches: an
        unchanged rerun makes no call; the proxy answers each ticket held out, never from its own label)
        and records the evaluation once per model, prompt, cascade and label set."""
        with warehouse.get_connection() as conn:
            labels = with_row_key(read(conn, TICKET_LABELS))
        if labels.is_empty():
            raise dg.Failure(
                "ticket_labels is empty: put labelled tickets in landing/labels/ (or reviewer corrections in "
                "landing/reviews/) and materialise ticket_labels first",
                allow_retries=False,
            )
        # The LLM asked about every ticket (examples are the same under every plan), the proxy's held-out
        # answers beside: every plan is scored on these (`lineage_of`).
        held_out = plan_cascade(cascade, embeddings, labels, labels, rows_are_labels=True)
        # Judged even with the cascade off: the labels are also what the evaluation scores against.
        audit = held_out.audit or audit_ticket_labels(cascade, embeddings, labels)
        label = f"triage eval of {labels.height} labelled tickets"
        result = run_llm_step(context, llm, config, task, held_out.rows, label)
        problem = unmeasured(result.outputs.height, result.failures, labels.height, llm.max_failure_share, "tickets")
        if problem:
            raise dg.Failure(problem, allow_retries=False)
        digest, settings = labels_hash(labels), cascade.describe()
        run_id = eval_id(model, task.prompt_version, settings, digest, targets)

        def scored_plan(plan: str, answers: TaskResult, by_llm: dict[str, float], asked_model: str = ""):
            """The plan scored on its LLM's answers to every ticket (`by_llm`: that LLM's own accuracy)
            and the proxy's held out, with its predictions."""
            lineage = held_out.lineage_of(plan, by_llm)
            predictions = eval_predictions(
                labels, plan_answers(answers.outputs, lineage), answers.failures, run_id, task.prompt_version
            )
            # From the cascade's answers, not the outputs: a ticket whose LLM call failed here is answered
            # whole all the same.
            llm_call_share = 1 - len(fully_answered(lineage)) / labels.height
            score = score_plan(plan, predictions, llm_call_share, answers.outputs, targets, model=asked_model)
            return score, predictions, by_llm

        by_main = llm_accuracy(result.outputs, labels)
        if held_out.fitted is None:
            scored = {LLM_ALONE: scored_plan(LLM_ALONE, result, by_main)}
        else:
            scored = {plan: scored_plan(plan, result, by_main) for plan in CASCADE_PLANS if plan != PROXY_SMALL_LLM}
        # The small model (AI_ASSETS_SMALL_LLM) asked only where its plan could be chosen.
        proxy_only = scored[PROXY_ONLY][0] if PROXY_ONLY in scored else None
        small, small_note = small_llm_answers(
            context, small_llm, llm, config, task, held_out.rows, label, "tickets", proxy_only
        )
        if small is not None:
            by_small = llm_accuracy(small.outputs, labels)
            scored[PROXY_SMALL_LLM] = scored_plan(PROXY_SMALL_LLM, small, by_small, small_llm.served_model)
        # In the order of CASCADE_PLANS: the first of equally cheap plans runs.
        scored = {plan: scored[plan] for plan in CASCADE_PLANS if plan in scored}
        chosen, reason = choose_plan([score for score, *_ in scored.values()], targets)
        context.log.info(f"Plan {reason}")
        # by_llm: the accuracy of the LLM the plan asks, which decides the plan's thresholds.
        _, predictions, by_llm = scored[chosen.plan]
        plan = chosen.plan
        by_proxy, calibration = {}, {}
        if held_out.fitted is not None:
            by_proxy = {f: c.top_vote_accuracy for f, c in held_out.fitted.calibration.items()}
            # At the thresholds the triage applies (the plan's; none where the labels are distrusted), not
            # only at the calibrated ones.
            thresholds = plan_thresholds(plan, held_out.fitted.calibration, by_llm)
            applied = held_out.fitted.calibration_at(held_out.applied(thresholds))
            calibration = {f: c.to_dict() for f, c in applied.items()}
        run = eval_run(
            predictions,
            run_id,
            model,
            task.prompt_version,
            settings,
            digest,
            by_llm,
            by_proxy,
            calibration,
            chosen.llm_calls_per_1k / 1000,
            (plan, reason),
            targets,
        ).with_columns(cost_per_1k_usd=pl.lit(chosen.cost_per_1k_usd))
        plans = plans_frame(run_id, model, [score for score, *_ in scored.values()], plan, run["evaluated_at"][0])
        with warehouse.get_connection() as conn:
            recorded = read(conn, EVAL_RUNS).filter(pl.col("eval_id") == run_id)
            # Recorded once; again only if this run answered tickets that failed before (its latencies
            # are the first run's: a rerun is answered from the cache).
            if recorded.is_empty() or recorded["coverage"][0] < run["coverage"][0]:
                warehouse.upsert({EVAL_PREDICTIONS: predictions, EVAL_RUNS: run, EVAL_PLANS: plans})
                context.log.info(f"Recorded evaluation {run_id}")
            else:
                run = recorded
                plans = read(conn, EVAL_PLANS).filter(pl.col("eval_id") == run_id)
                latest = latest_eval(conn, model, task.prompt_version, settings)
                if latest is not None and latest["eval_id"] != run_id:
                    # Evaluated again after another one (other labels or targets): the latest again, so
                    # the triage follows it, with the first run's figures.
                    now = pl.lit(datetime.now(UTC).replace(tzinfo=None))
                    run, plans = run.with_columns(evaluated_at=now), plans.with_columns(evaluated_at=now)
                    warehouse.upsert({EVAL_RUNS: run, EVAL_PLANS: plans})
                    context.log.info(f"Evaluation {run_id}, recorded before {latest['eval_id']}, is the latest again")
                else:
                    context.log.info(f"Evaluation {run_id} is already recorded; eval_runs unchanged")
            tables = (EVAL_PREDICTIONS, EVAL_RUNS, EVAL_PLANS)
            totals = {table: {"dagster/row_count": row_count(conn, table)} for table in tables}
            # What ticket_triage will read from eval_runs, as its data version: staleness follows the plan.
            version = plan_version(latest_eval(conn, model, task.prompt_version, settings))
        summary = run.row(0, named=True)
        scores = {
            f"accuracy_{f}": summary[f"accuracy_{f}"] for f in LABEL_FIELDS if summary[f"accuracy_{f}"] is not None
        }
        context.log.info(
            f"Evaluation {run_id}: n={summary['n']}, coverage {summary['coverage']:.3f}, "
            + ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
        )
        metadata = {
            "eval_id": run_id,
            "model": model,
            "prompt_version": task.prompt_version,
            "n": summary["n"],
            **scores,
            "coverage": summary["coverage"],
            "cascade": settings,
            "proxy_share": summary["proxy_share"],
            "llm_call_share": summary["llm_call_share"],
            "plan": summary["plan"] or PROXY_LLM,
            "plan_reason": summary["plan_reason"] or "recorded before plans were compared",
            "plans": dg.MetadataValue.md(plans_markdown(plans, targets)),
            **{
                f"{who}_accuracy_{f}": summary[f"{who}_accuracy_{f}"]
                for who in ("llm", "proxy")
                for f in PROXIED_FIELDS
                if summary[f"{who}_accuracy_{f}"] is not None
            },
            "n_reviewed": summary["n_reviewed"],
            **{
                f"accuracy_{f}_{source}": summary[f"accuracy_{f}_{source}"]
                for source in ("reviewed", "imported")
                for f in LABEL_FIELDS
                if summary[f"accuracy_{f}_{source}"] is not None
            },
            # Why the proxy answered fewer fields than it could: labels the audit distrusts.
            "label_audit": audit.describe(),
            **audit.to_metadata(),
            "cost_per_1k_usd": summary["cost_per_1k_usd"],
            **{
                f"confusion_{f}": dg.MetadataValue.md(
                    confusion_markdown(predictions[f"expected_{f}"], predictions[f"predicted_{f}"])
                )
                for f in LABEL_FIELDS
            },
            **llm_metadata(context, result.metrics, llm),
            **(small_metadata(small, scored[PROXY_SMALL_LLM][2], small_note) if small else {}),
            **({"small_llm": small_note} if small_note and not small else {}),
        }
        metadata_by_table = {
            EVAL_PREDICTIONS: totals[EVAL_PREDICTIONS],
            EVAL_RUNS: {**totals[EVAL_RUNS], **metadata},
            EVAL_PLANS: totals[EVAL_PLANS],
        }
        yield from materializations(
            {EVAL_PREDICTIONS: predictions, EVAL_RUNS: run, EVAL_PLANS: plans}, metadata_by_table, {EVAL_RUNS: version}
        )
        problems = shortfalls(summary, targets)
        yield dg.AssetCheckResult(
            check_name=ACCURACY_CHECK,
            asset_key=EVAL_RUNS.name,
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            description="; ".join(problems) or f"every field meets its target ({goal})",
            metadata={**scores, **{f"target_{field}": target for field, target in targets.items()}},
        )
        yield dg.AssetCheckResult(
            check_name=LABELS_CHECK,
            asset_key=EVAL_RUNS.name,
            passed=not audit.distrusted,
            severity=dg.AssetCheckSeverity.WARN,
            description=audit.describe(),
            metadata={"labels": labels.height, **audit.to_metadata()},
        )

    return triage_eval


def small_metadata(small: TaskResult, accuracy: dict[str, float], described: str) -> dict:
    """What the small model did in an evaluation: its own accuracy per field, calls and tokens."""
    return {
        "small_llm": described,
        **{f"small_llm_accuracy_{f}": score for f, score in accuracy.items()},
        "small_llm_calls": small.metrics.calls,
        "small_llm_tokens": small.metrics.prompt_tokens + small.metrics.completion_tokens,
    }
