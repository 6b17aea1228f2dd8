"""Triage accuracy per field on the hand-written held-out set, next to a majority-class baseline.

    .venv/bin/python benchmarks/triage_quality.py                  # the embedded model (default)
    .venv/bin/python benchmarks/triage_quality.py --base-url URL --model NAME   # any OpenAI-compatible
        server; the key, if it needs one, comes from OPENAI_API_KEY
    [--labels PATH]                                                # default benchmarks/heldout/triage_labels.jsonl
    .venv/bin/python benchmarks/triage_quality.py --cascade        # the cascade: proxy votes, then the LLM

Runs the production triage task (prompt, schema, parameters, input limits, redaction) through
the production engine, with the settings `config.py` gives that kind of endpoint, and a fresh
response cache, so every ticket is really asked. For category, urgency, sentiment and language
it prints n, accuracy and macro-F1, and the same for the majority-class baseline (the set's most
frequent label predicted for every ticket); then the category confusion matrix and what the run
cost. A dead-lettered ticket counts as wrong in every field.

With `--cascade` it measures the cascade (`ai_assets/transform/cascade.py`): the labelled
examples are the sample golden set (generated, 120 tickets), embedded with the bundled e5 model
as tickets are ("query"). It prints the leave-one-out grid over the golden set that chose the
defaults (k, weighted votes), the calibrated thresholds, then on the held-out set per field: the
proxy's coverage and accuracy at its threshold, the top vote on every row (the proxy alone), the
LLM alone, the cascade (proxy, the LLM for the rest), and the cascade with the rule that a field
goes to the LLM only where the LLM beat the top vote on the golden set (so the LLM triages the
golden set too); how many LLM calls the cascade needs; and the LLM on the rows the cascade gives
it, with and without the 3 nearest golden tickets as few-shot examples before the ticket.

The held-out set is for measuring only: never use it as prompt, training or proxy examples.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from ai_assets.config import load_settings
from ai_assets.llm.cache import EmbeddingCache, ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.embeddings import LocalE5Embedder, embed_texts
from ai_assets.llm.engine import Limits, run_task
from ai_assets.llm.local_chat_server import EmbeddedModelServer
from ai_assets.llm.task import LLMTask
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.transform import cascade
from ai_assets.transform.triage import triage_task

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("category", "urgency", "sentiment", "language")
FAILED = "(failed)"  # the prediction of a dead-lettered ticket: never a label, so always wrong


# --- metrics: pure functions over lists of labels -------------------------------------------


def accuracy(truth: list[str], predicted: list[str | None]) -> float:
    return sum(t == p for t, p in zip(truth, predicted)) / len(truth) if truth else 0.0


def macro_f1(truth: list[str], predicted: list[str | None]) -> float:
    """Unweighted mean of per-label F1 over every label in the truth or the predictions (as
    scikit-learn does), so a label the model invents counts as a class it scores 0 on. A missing
    prediction (None) is no label: it only costs its true label's recall."""
    labels = set(truth) | {p for p in predicted if p is not None}
    scores = []
    for label in labels:
        hits = sum(t == p == label for t, p in zip(truth, predicted))
        guessed, actual = sum(p == label for p in predicted), sum(t == label for t in truth)
        scores.append(2 * hits / (guessed + actual) if guessed + actual else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def majority_baseline(truth: list[str]) -> tuple[str, list[str]]:
    """The most frequent label (ties: the one met first) and that label predicted for every row."""
    label = Counter(truth).most_common(1)[0][0]
    return label, [label] * len(truth)


def confusion_matrix(truth: list[str], predicted: list[str | None]) -> dict[str, Counter]:
    """{true label: Counter of predicted labels}; a missing prediction is counted as FAILED."""
    matrix: dict[str, Counter] = {}
    for t, p in zip(truth, predicted):
        matrix.setdefault(t, Counter())[p if p is not None else FAILED] += 1
    return matrix


# --- running the model ----------------------------------------------------------------------


def read_labels(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def with_few_shots(task: LLMTask) -> LLMTask:
    """The production task with an `examples` column put before the ticket in the user message:
    an experiment until the triage prompt carries few-shot examples itself."""
    user = "Labelled tickets similar to this one, for reference:\n{examples}\n\n" + task.prompt.user
    return replace(task, prompt=replace(task.prompt, user=user), input_columns=(*task.input_columns, "examples"))


def settings_for(args):
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    if args.base_url:
        # The settings a user of this endpoint gets; the key stays in the environment for the client.
        environ |= {"OPENAI_BASE_URL": args.base_url, "AI_ASSETS_CHAT_MODEL": args.model}
    return load_settings(environ)


def triage(tickets: list[dict], args, workdir: Path, few_shots: list[str] | None = None):
    """Runs the production triage task over the tickets; returns the engine's TaskResult and the model.
    With `few_shots` (one text per ticket) the user message starts with them (`with_few_shots`)."""
    settings = settings_for(args)
    rows = pl.DataFrame(
        [{k: t[k] for k in ("ticket_id", "channel", "subject", "body")} for t in tickets],
        schema={"ticket_id": pl.Utf8, "channel": pl.Utf8, "subject": pl.Utf8, "body": pl.Utf8},
    )
    task = triage_task(settings)
    if few_shots is not None:
        rows, task = rows.with_columns(examples=pl.Series(few_shots, dtype=pl.Utf8)), with_few_shots(task)
    embedded = settings.uses_embedded_model
    server = EmbeddedModelServer(workdir / "embedded_llm.log") if embedded else nullcontext()
    with server:
        endpoint = Endpoint(
            server.base_url if embedded else settings.base_url,
            settings.chat_model,
            settings.llm_timeout_s,
            settings.llm_max_retries,
            settings.response_format,
        )
        cache = ResponseCache(workdir / "llm_cache.sqlite")
        try:
            result = run_task(
                task,
                rows,
                endpoint=endpoint,
                cache=cache,
                id_column="ticket_id",
                limits=Limits(concurrency=settings.llm_concurrency, breaker_failures=settings.llm_breaker_failures),
                max_input_chars=settings.max_input_chars,
                redact_pii=settings.redacts_for(embedded),
            )
        finally:
            cache.close()
    return result, settings.chat_model


# --- report ---------------------------------------------------------------------------------


def print_report(tickets: list[dict], result, model: str, seconds: float) -> None:
    answers = {row["ticket_id"]: row for row in result.outputs.iter_rows(named=True)}
    ids = [t["ticket_id"] for t in tickets]
    print(
        f"{'field':<10} {'n':>3}  {'accuracy':>8}  {'macro-F1':>8}   majority baseline: {'label':<9} accuracy  macro-F1"
    )
    for field in FIELDS:
        truth = [t["labels"][field] for t in tickets]
        predicted = [answers[i][field] if i in answers else None for i in ids]
        label, baseline = majority_baseline(truth)
        print(
            f"{field:<10} {len(truth):>3}  {accuracy(truth, predicted):>8.2f}  {macro_f1(truth, predicted):>8.2f}"
            f"   {'':<19}{label:<9} {accuracy(truth, baseline):>8.2f}  {macro_f1(truth, baseline):>8.2f}"
        )
    print(f"failed rows (dead-lettered, counted wrong in every field): {result.failures.height}", end="")
    reasons = Counter(result.failures["error_type"].to_list()) if result.failures.height else {}
    print(f" {dict(reasons)}" if reasons else "")

    truth = [t["labels"]["category"] for t in tickets]
    matrix = confusion_matrix(truth, [answers[i]["category"] if i in answers else None for i in ids])
    columns = sorted({p for row in matrix.values() for p in row})
    print("\ncategory confusion (rows: true label, columns: predicted)")
    print(f"{'':<10}" + "".join(f"{c[:9]:>10}" for c in columns))
    for true_label in sorted(matrix):
        print(f"{true_label:<10}" + "".join(f"{matrix[true_label][c] or '.':>10}" for c in columns))

    m = result.metrics
    print(
        f"\nmodel {model}: {m.rows} rows, {m.calls} calls ({m.requests} requests), {m.prompt_tokens} prompt + "
        f"{m.completion_tokens} completion tokens; triage {m.wall_s:.1f} s wall, {m.rows / m.wall_s:.2f} rows/s "
        f"({seconds:.1f} s with the server's start-up)"
    )


# --- the cascade (--cascade) ----------------------------------------------------------------

FEW_SHOTS = 3  # nearest labelled tickets in a few-shot prompt
GRID = [(k, weighted) for k in (5, 10, 15) for weighted in (False, True)]


def golden_examples(workdir: Path) -> list[dict]:
    """The sample golden set: the labelled examples and the only calibration data."""
    generate_sample_data(workdir / "sample", days=1, tickets_per_day=10)
    return read_labels(workdir / "sample" / "eval" / "golden_tickets.jsonl")


def embed_tickets(tickets: list[dict], max_chars: int, workdir: Path) -> np.ndarray:
    frame = pl.DataFrame([{"subject": t["subject"], "body": t["body"]} for t in tickets])
    texts = frame.select(text=cascade.ticket_text(max_chars))["text"].to_list()
    embeddings = EmbeddingCache(workdir / "embeddings.sqlite")
    try:
        vectors, _ = embed_texts(texts, "query", LocalE5Embedder(), embeddings)
    finally:
        embeddings.close()
    return vectors


def labels_of(tickets: list[dict], fields=cascade.CASCADE_FIELDS) -> dict[str, list[str]]:
    return {field: [t["labels"][field] for t in tickets] for field in fields}


def keys_of(tickets: list[dict]) -> list[str]:
    return [cascade.text_key(t["subject"], t["body"]) for t in tickets]


def print_grid(vectors: np.ndarray, examples: list[dict]) -> None:
    """Leave-one-out over the golden set for every (k, weighted): what chose the defaults."""
    labels, keys = labels_of(examples), keys_of(examples)
    print("leave-one-out over the golden set, target accuracy 0.9: threshold / coverage / accuracy at it; top vote")
    print(f"{'k':>3} {'weighted':<9}" + "".join(f"{field:<34}" for field in labels) + "mean coverage")
    for k, weighted in GRID:
        calibration = cascade.calibrate(vectors, labels, keys, k, weighted=weighted)
        cells = [_calibration_cell(c) for c in calibration.values()]
        coverage = sum(c.answered / c.rows for c in calibration.values()) / len(calibration)
        chosen = " <- defaults" if (k, weighted) == (cascade.DEFAULT_K, cascade.DEFAULT_WEIGHTED) else ""
        print(f"{k:>3} {str(weighted):<9}" + "".join(f"{cell:<34}" for cell in cells) + f"{coverage:.2f}{chosen}")


def _calibration_cell(c: cascade.FieldCalibration) -> str:
    if c.threshold is None:
        return f"none / 0.00 / -    ; {c.top_vote_accuracy:.2f}"
    return f"{c.threshold:.2f} / {c.answered / c.rows:.2f} / {c.accuracy:.2f} ; {c.top_vote_accuracy:.2f}"


def llm_answers(tickets: list[dict], args, workdir: Path, few_shots: list[str] | None = None) -> dict[str, dict]:
    result, model = triage(tickets, args, workdir, few_shots)
    m = result.metrics
    print(f"  LLM {model}: {m.rows} rows, {m.calls} calls, {result.failures.height} failed, {m.wall_s:.0f} s")
    return {row["ticket_id"]: row for row in result.outputs.iter_rows(named=True)}


def print_cascade(tickets: list[dict], args) -> None:
    with tempfile.TemporaryDirectory(prefix="triage_cascade_") as tmp:
        workdir = Path(tmp)
        settings = settings_for(args)
        examples = golden_examples(workdir)
        started = time.perf_counter()
        example_vectors = embed_tickets(examples, settings.max_input_chars, workdir)
        vectors = embed_tickets(tickets, settings.max_input_chars, workdir)
        embed_ms = (time.perf_counter() - started) * 1000 / (len(examples) + len(tickets))
        print(f"{len(examples)} golden examples (labelled examples and calibration); e5 {embed_ms:.0f} ms a ticket\n")
        print_grid(example_vectors, examples)

        fitted = cascade.fit_cascade(example_vectors, labels_of(examples), keys_of(examples))
        started = time.perf_counter()
        votes = fitted.votes(vectors)
        vote_ms = (time.perf_counter() - started) * 1000 / len(tickets)
        print("\nthe LLM on the golden set (for the rule), on the held-out set, and with few-shot examples on")
        print("the held-out rows the cascade leaves a proxy field of to the LLM:")
        golden_llm = llm_answers(examples, args, workdir / "golden")
        heldout_llm = llm_answers(tickets, args, workdir / "heldout")
        answers = cascade.answers_at_thresholds(votes, fitted.thresholds, len(tickets))
        rest = [i for i, a in enumerate(answers) if set(a.to_llm) & set(cascade.CASCADE_FIELDS)]
        frame = pl.DataFrame(examples).select(
            "subject", "body", **{f: pl.col("labels").struct.field(f) for f in FIELDS}
        )
        shots = cascade.few_shot_examples(example_vectors, frame, vectors[rest], FEW_SHOTS)
        few_shot_llm = llm_answers(
            [tickets[i] for i in rest], args, workdir / "few_shot", [few_shot_text(s) for s in shots]
        )
    llm_on_golden = {
        field: accuracy(truth, [golden_llm.get(t["ticket_id"], {}).get(field) for t in examples])
        for field, truth in labels_of(examples).items()
    }
    print_heldout(tickets, fitted, votes, heldout_llm, llm_on_golden, vote_ms)
    print_few_shot(tickets, answers, heldout_llm, few_shot_llm)


def print_heldout(tickets, fitted, votes, llm: dict[str, dict], llm_on_golden: dict[str, float], vote_ms) -> None:
    ids = [t["ticket_id"] for t in tickets]
    answers = cascade.answers_at_thresholds(votes, fitted.thresholds, len(tickets))
    rule_thresholds = cascade.thresholds_against_llm(fitted.calibration, llm_on_golden)
    ruled = cascade.answers_at_thresholds(votes, rule_thresholds, len(tickets))
    print(
        f"\nheld-out set ({len(tickets)} tickets, never examples): k={fitted.k}, weighted={fitted.weighted}, "
        f"target 0.9; votes {vote_ms:.2f} ms a ticket"
    )
    header = f"{'field':<10} {'threshold':>9} {'coverage':>8} {'proxy acc':>9} {'top vote':>8} {'LLM alone':>9}"
    print(header + f" {'cascade':>8}   {'rule: LLM on golden':>19} {'rule threshold':>14} {'rule cascade':>12}")
    for field in FIELDS:
        truth = [t["labels"][field] for t in tickets]
        alone = [llm[i][field] if i in llm else None for i in ids]
        if field not in fitted.calibration:
            llm_only = f"{accuracy(truth, alone):>9.2f} {accuracy(truth, alone):>8.2f}"
            print(f"{field:<10} {'-':>9} {'-':>8} {'-':>9} {'-':>8} {llm_only}   (not a proxy field: the LLM's)")
            continue
        threshold = fitted.thresholds[field]
        answered = [field in a.answered for a in answers]
        proxy_right = [a.answered[field][0] == t for a, t in zip(answers, truth) if field in a.answered]
        combined, rule = cascaded(answers, ids, llm, field), cascaded(ruled, ids, llm, field)
        print(
            f"{field:<10} {_number(threshold):>9} {sum(answered) / len(truth):>8.2f} "
            f"{_number(sum(proxy_right) / len(proxy_right) if proxy_right else None):>9} "
            f"{accuracy(truth, votes[field].labels):>8.2f} {accuracy(truth, alone):>9.2f} "
            f"{accuracy(truth, combined):>8.2f}   {llm_on_golden[field]:>19.2f} {_number(rule_thresholds[field]):>14} "
            f"{accuracy(truth, rule):>12.2f}"
        )
    print(
        "coverage: share of rows the proxy answers at the threshold; proxy acc: accuracy on those rows; "
        "top vote: the proxy answering every row (no LLM)\ncascade: proxy at threshold, LLM for the rest; "
        "rule: a field goes to the LLM only where the LLM beat the top vote on the golden set (else threshold 0)"
    )
    print(
        "LLM calls, counted per row: a row needs a call when any proxy field is left to the LLM. "
        "Language, summary,\norder_id and product are always the LLM's, so today's triage task still calls "
        "for every row; the saving below\nis real once the call for a fully answered row asks only for those."
    )
    for name, chosen in (("cascade", answers), ("rule cascade", ruled)):
        saved = sum(not a.answered.keys() ^ set(cascade.CASCADE_FIELDS) for a in chosen)
        fields = sum(len(a.answered) for a in chosen)
        print(
            f"{name}: {saved}/{len(chosen)} rows ({saved / len(chosen):.0%}) need no call for the proxy fields; "
            f"{fields}/{len(chosen) * len(cascade.CASCADE_FIELDS)} proxy-field answers come from the proxy"
        )


def few_shot_text(shots: list[dict]) -> str:
    return "\n".join(
        f"Subject: {s['subject']}\n<<<EXAMPLE\n{s['body']}\nEXAMPLE>>>\n" + ", ".join(f"{f}: {s[f]}" for f in FIELDS)
        for s in shots
    )


def cascaded(answers: list[cascade.ProxyAnswer], ids: list[str], llm: dict[str, dict], field: str) -> list:
    """A field's answers: the proxy's where it answered, the LLM's for the rest."""
    return [a.answered[field][0] if field in a.answered else llm.get(i, {}).get(field) for i, a in zip(ids, answers)]


def print_few_shot(tickets, answers, plain: dict[str, dict], few_shot: dict[str, dict]) -> None:
    """The cascade with the LLM's answers for the rest from the prompt with few-shot examples."""
    ids = [t["ticket_id"] for t in tickets]
    rest = [i for i, a in zip(ids, answers) if set(a.to_llm) & set(cascade.CASCADE_FIELDS)]
    print(f"\nthe LLM with {FEW_SHOTS} nearest golden tickets as few-shot examples, on the {len(rest)} rows it gets:")
    print(f"{'field':<10} {'LLM plain':>9} {'few-shot':>8}   {'cascade':>7} {'+ few-shot':>10}  (LLM: on those rows)")
    for field in cascade.CASCADE_FIELDS:
        truth = {t["ticket_id"]: t["labels"][field] for t in tickets}
        on_rest = [
            accuracy([truth[i] for i in rest], [llm.get(i, {}).get(field) for i in rest]) for llm in (plain, few_shot)
        ]
        everywhere = [accuracy(list(truth.values()), cascaded(answers, ids, llm, field)) for llm in (plain, few_shot)]
        print(f"{field:<10} {on_rest[0]:>9.2f} {on_rest[1]:>8.2f}   {everywhere[0]:>7.2f} {everywhere[1]:>10.2f}")


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", choices=("embedded",), default="embedded", help="the embedded llama.cpp model")
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of the embedded model")
    parser.add_argument("--model", help="the model name to ask at --base-url")
    parser.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "heldout" / "triage_labels.jsonl")
    parser.add_argument("--cascade", action="store_true", help="the cascade: nearest labelled tickets, then the LLM")
    args = parser.parse_args()
    if bool(args.base_url) != bool(args.model):
        parser.error("--base-url and --model go together")

    tickets = read_labels(args.labels)
    languages = Counter(t["labels"]["language"] for t in tickets)
    print(f"{len(tickets)} labelled tickets from {args.labels}; languages {dict(languages.most_common())}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    if args.cascade:
        print_cascade(tickets, args)
        return
    with tempfile.TemporaryDirectory(prefix="triage_quality_") as tmp:
        started = time.perf_counter()
        result, model = triage(tickets, args, Path(tmp))
        seconds = time.perf_counter() - started
    print_report(tickets, result, model, seconds)


if __name__ == "__main__":
    main()
