"""Evaluations of the triage on the labelled tickets: the per-ticket predictions, the one-row summary
of an evaluation, and whether a model and prompt version meet their accuracy targets.

An evaluation is identified by what decides its outcome: the task, the model, the prompt version,
the cascade settings, the labelled tickets themselves and the accuracy targets, which choose the plan
the triage runs (`eval_id`). The same evaluation run
again gets the same id, so its row in `eval_runs` is never duplicated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import duckdb
import polars as pl

from ai_assets.defs.evals.tables import EVAL_PREDICTIONS, EVAL_RUNS
from ai_assets.defs.reference.tables import TICKET_LABELS
from ai_assets.quality.metrics import accuracy, macro_f1
from ai_assets.quality.vocabulary import LABEL_FIELDS, PROXIED_FIELDS
from ai_assets.transform.cascade import PROXY_LLM
from ai_assets.warehouse.tables import read

TASK = "ticket_triage"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def labels_hash(labels: pl.DataFrame) -> str:
    """A hash of the labelled tickets (their text and expected answers), independent of row order."""
    columns = [c for c in TICKET_LABELS.column_names if c not in ("source_file", "source_line", "labelled_at")]
    return _digest(labels.select(columns).sort("created_date", "ticket_id").write_ndjson())


def eval_id(model: str, prompt_version: str, cascade: str, labels_digest: str, targets: Mapping[str, float]) -> str:
    return _digest(json.dumps([TASK, model, prompt_version, cascade, labels_digest, describe_targets(targets)]))


def describe_targets(targets: Mapping[str, float]) -> str:
    """`field=share,...` as AI_ASSETS_EVAL_TARGETS takes them, in field order."""
    return ",".join(f"{field}={share:g}" for field, share in sorted(targets.items()))


def _proxied_count() -> pl.Expr:
    """Per row, how many of the proxy's fields it answered (`language` in proxy_fields is the
    language identifier's)."""
    return pl.col("proxy_fields").list.set_intersection(list(PROXIED_FIELDS)).list.len()


def eval_predictions(
    labels: pl.DataFrame, outputs: pl.DataFrame, failures: pl.DataFrame, run_id: str, prompt_version: str
) -> pl.DataFrame:
    """One row per labelled ticket (keyed by `row_key` in all three frames): expected and predicted
    value and agreement per field, and who answered (`proxy_fields` from the cascade: the proxy; the
    rest: the LLM). A failed ticket has null predictions, counts as wrong, and says why."""
    lineage = ("model", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "cache_hit", "proxy_fields")
    proxied = _proxied_count()
    answered = outputs.select(
        "row_key",
        *(pl.col(f).alias(f"predicted_{f}") for f in LABEL_FIELDS),
        *lineage,
        answered_by=pl.when(proxied == 0)
        .then(pl.lit("llm"))
        .when(proxied >= len(PROXIED_FIELDS))
        .then(pl.lit("proxy"))
        .otherwise(pl.lit("both")),
    )
    failed = failures.select("row_key", failed_model=pl.col("model"), error=pl.format("{}: {}", "error_type", "reason"))
    joined = labels.join(answered, on="row_key", how="left").join(failed, on="row_key", how="left")
    return joined.with_columns(
        *(pl.col(f).alias(f"expected_{f}") for f in LABEL_FIELDS),
        *(
            pl.when(pl.col(f).is_null())
            .then(None)
            .otherwise((pl.col(f) == pl.col(f"predicted_{f}")).fill_null(False))
            .alias(f"{f}_correct")
            for f in LABEL_FIELDS
        ),
        eval_id=pl.lit(run_id),
        model=pl.coalesce("model", "failed_model"),
        prompt_version=pl.lit(prompt_version),
        prompt_tokens=pl.col("prompt_tokens").fill_null(0),
        completion_tokens=pl.col("completion_tokens").fill_null(0),
        cost_usd=pl.col("cost_usd").fill_null(0.0),
        latency_ms=pl.col("latency_ms").fill_null(0.0),
        cache_hit=pl.col("cache_hit").fill_null(False),
        proxy_fields=pl.col("proxy_fields").fill_null(pl.lit([], pl.List(pl.Utf8))),
    ).select(EVAL_PREDICTIONS.column_names)


def eval_run(
    predictions: pl.DataFrame,
    run_id: str,
    model: str,
    prompt_version: str,
    cascade: str,
    digest: str,
    llm_accuracy: Mapping[str, float],
    proxy_accuracy: Mapping[str, float],
    proxy_calibration: Mapping[str, Mapping] | None = None,
    llm_call_share: float | None = None,
    plan: tuple[str, str] | None = None,
    targets: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """The one `eval_runs` row of an evaluation's predictions (at least one); `llm_accuracy` and
    `proxy_accuracy` are each one's own accuracy per proxied field (before the cascade combines them);
    `proxy_calibration` the proxy's threshold per field and the lower bound it guarantees
    (`FieldCalibration.to_dict`); `llm_call_share` the share of the labelled tickets the triage would
    still send to the LLM (the rest the cascade answers whole); `plan` the plan it runs, and why
    (quality/plans.py), chosen at `targets`."""
    calibration = proxy_calibration or {}
    n = predictions.height
    reviewed = predictions.filter(pl.col("source") == "review")
    imported = predictions.filter(pl.col("source") == "file")
    called = predictions.filter(pl.col("answered_by").is_not_null() & ~pl.col("cache_hit"))["latency_ms"]
    row = {
        "eval_id": run_id,
        "task": TASK,
        "model": model,
        "prompt_version": prompt_version,
        "cascade": cascade,
        "labels_hash": digest,
        "n": n,
        **{
            name: metric(predictions[f"expected_{field}"], predictions[f"predicted_{field}"])
            for field in LABEL_FIELDS
            for name, metric in ((f"accuracy_{field}", accuracy), (f"macro_f1_{field}", macro_f1))
        },
        **{f"llm_accuracy_{field}": llm_accuracy.get(field) for field in (*PROXIED_FIELDS, "language")},
        **{f"proxy_accuracy_{field}": proxy_accuracy.get(field) for field in PROXIED_FIELDS},
        **{
            f"proxy_{name}_{field}": calibration.get(field, {}).get(name)
            for field in PROXIED_FIELDS
            for name in ("threshold", "accuracy_bound")
        },
        "n_reviewed": reviewed.height,
        # Apart: imported labels may be poisoned along with the proxy fitted on them, and then agree with it.
        **{
            f"accuracy_{field}_{name}": accuracy(rows[f"expected_{field}"], rows[f"predicted_{field}"])
            for name, rows in (("reviewed", reviewed), ("imported", imported))
            for field in LABEL_FIELDS
        },
        "coverage": predictions["answered_by"].is_not_null().mean(),
        # Of the (ticket, proxied field) answers, the share the proxy gave.
        "proxy_share": predictions.select(_proxied_count().sum()).item() / (n * len(PROXIED_FIELDS)),
        "llm_call_share": llm_call_share,
        "plan": plan[0] if plan else None,
        "plan_reason": plan[1] if plan else None,
        "targets": describe_targets(targets) if targets is not None else None,
        "cost_per_1k_usd": predictions["cost_usd"].sum() / n * 1000,
        "latency_p50_ms": called.quantile(0.5, "linear") if called.len() else None,
        "latency_p95_ms": called.quantile(0.95, "linear") if called.len() else None,
        "evaluated_at": datetime.now(UTC).replace(tzinfo=None),
    }
    return pl.DataFrame([row], schema=EVAL_RUNS.polars_schema)


def short_fields(run: Mapping[str, object], targets: Mapping[str, float]) -> list[str]:
    """Every targeted field whose accuracy (`accuracy_<field>` of `run`) is below its target."""
    return [
        f for f, target in targets.items() if (run.get(f"accuracy_{f}") is not None) and run[f"accuracy_{f}"] < target
    ]


def shortfalls(run: Mapping[str, object], targets: Mapping[str, float]) -> list[str]:
    """Every field whose accuracy is below its target, as `<field> accuracy <score> < target <target>`."""
    return [
        f"{f} accuracy {run[f'accuracy_{f}']:.3f} is below its target {targets[f]:g}"
        for f in short_fields(run, targets)
    ]


def latest_eval(conn: duckdb.DuckDBPyConnection, model: str, prompt_version: str, cascade: str) -> dict | None:
    """The latest `eval_runs` row of the triage with this model, prompt version and cascade settings."""
    runs = read(conn, EVAL_RUNS).filter(
        (pl.col("task") == TASK)
        & (pl.col("model") == model)
        & (pl.col("prompt_version") == prompt_version)
        & (pl.col("cascade") == cascade)
    )
    return runs.sort("evaluated_at").row(-1, named=True) if runs.height else None


def evaluated_plan(run: Mapping[str, object] | None, without: str) -> tuple[str, str]:
    """The plan a step runs after its latest evaluation (`run`: an eval_runs or `<step>_evals` row),
    and why: the one the evaluation chose, or proxy_llm (the cascade as configured) for a row recorded
    before plans were compared, or for no evaluation at all (`without` says why)."""
    if run is None:
        return PROXY_LLM, without
    return run.get("plan") or PROXY_LLM, run.get("plan_reason") or f"the evaluation {run['eval_id']} compared no plans"


def llm_accuracy_of(run: Mapping[str, object] | None) -> dict[str, float]:
    """The LLM's own accuracy per proxied field in an `eval_runs` row (empty without one)."""
    if run is None:
        return {}
    return {f: run[f"llm_accuracy_{f}"] for f in PROXIED_FIELDS if run.get(f"llm_accuracy_{f}") is not None}


def plan_version(run: Mapping[str, object] | None) -> str:
    """What an evaluation tells ticket_triage (which evaluation, the plan it chose, and the LLM's
    accuracy per proxied field, which decides the fields the proxy answers on every row): eval_runs'
    data version, so a new evaluation that changes it marks ticket_triage stale, and one that does not
    leaves it fresh."""
    if run is None:
        return "no evaluation"
    return _digest(json.dumps([run["eval_id"], llm_accuracy_of(run), run.get("plan")], sort_keys=True))


def triage_gate(
    conn: duckdb.DuckDBPyConnection, model: str, prompt_version: str, cascade: str, targets: Mapping[str, float]
) -> str | None:
    """Why the triage with this model, prompt version and cascade may not write (None: it may)."""
    run = latest_eval(conn, model, prompt_version, cascade)
    if run is None:
        return (
            f"AI_ASSETS_EVAL_BLOCKING is on and {prompt_version} with model {model} has not been evaluated: "
            "materialise triage_eval (eval_job) first, or set AI_ASSETS_EVAL_BLOCKING=off"
        )
    problems = shortfalls(run, targets)
    if not problems:
        return None
    return (
        f"AI_ASSETS_EVAL_BLOCKING is on and the evaluation {run['eval_id']} of {prompt_version} with model {model} "
        f"is below target: {'; '.join(problems)}. Fix the prompt or model and rerun eval_job, or lower "
        "AI_ASSETS_EVAL_TARGETS"
    )
