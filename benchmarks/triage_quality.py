"""Triage accuracy per field on the hand-written held-out set, next to a majority-class baseline.

    .venv/bin/python benchmarks/triage_quality.py                  # the embedded model (default)
    .venv/bin/python benchmarks/triage_quality.py --base-url URL --model NAME   # any OpenAI-compatible
        server; the key, if it needs one, comes from OPENAI_API_KEY
    .venv/bin/python benchmarks/triage_quality.py --quick          # the tests' fake server: seconds, for CI
    [--labels PATH]                                                # default benchmarks/heldout/triage_labels.jsonl

Runs the production triage task (prompt, schema, parameters, input limits, redaction) through
the production engine, with the settings `config.py` gives that kind of endpoint, and a fresh
response cache, so every ticket is really asked. For category, urgency, sentiment and language
it prints n, accuracy and macro-F1, and the same for the majority-class baseline (the set's most
frequent label predicted for every ticket); then the category confusion matrix and what the run
cost. A dead-lettered ticket counts as wrong in every field.

The cascade (a proxy over labelled tickets before the LLM) is measured through the pipeline by
`benchmarks/cascade.py`.

`--quick` asks the tests' fake OpenAI-compatible server (keyword guesses): it shows the script
runs end to end in seconds, and its accuracy means nothing.

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
from pathlib import Path

import polars as pl

from ai_assets.config import load_settings
from ai_assets.defs.triage.tasks import triage_task
from ai_assets.llm.cache import ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.engine import Limits, run_task
from ai_assets.llm.local_chat_server import EmbeddedModelServer
from ai_assets_tests.fakes.llm_server import FakeLLMServer

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


def settings_for(args):
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    if args.base_url:
        # The settings a user of this endpoint gets; the key stays in the environment for the client.
        environ |= {"OPENAI_BASE_URL": args.base_url, "AI_ASSETS_CHAT_MODEL": args.model}
    return load_settings(environ)


def triage(tickets: list[dict], args, workdir: Path):
    """Runs the production triage task (the LLM alone: no cascade examples) over the tickets; returns
    the engine's TaskResult and the model."""
    settings = settings_for(args)
    rows = pl.DataFrame(
        [{k: t[k] for k in ("ticket_id", "channel", "subject", "body")} for t in tickets],
        schema={"ticket_id": pl.Utf8, "channel": pl.Utf8, "subject": pl.Utf8, "body": pl.Utf8},
    )
    rows = rows.with_columns(examples=pl.lit(""))
    task = triage_task(settings.project.prompts_dir, settings.project.triage_batch_size)
    llm = settings.llm
    embedded = llm.use_embedded_model
    server = EmbeddedModelServer(workdir / "embedded_llm.log") if embedded else nullcontext()
    with server:
        endpoint = Endpoint(
            server.base_url if embedded else llm.base_url,
            llm.chat_model,
            llm.timeout_s,
            llm.max_retries,
            llm.response_format,
        )
        cache = ResponseCache(workdir / "llm_cache.sqlite")
        try:
            result = run_task(
                task,
                rows,
                endpoint=endpoint,
                cache=cache,
                id_column="ticket_id",
                limits=Limits(concurrency=llm.concurrency, breaker_failures=llm.breaker_failures),
                max_input_chars=llm.max_input_chars,
                redact_pii=llm.redact_pii,
            )
        finally:
            cache.close()
    return result, llm.chat_model


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", choices=("embedded",), default="embedded", help="the embedded llama.cpp model")
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of the embedded model")
    parser.add_argument("--model", help="the model name to ask at --base-url")
    parser.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "heldout" / "triage_labels.jsonl")
    parser.add_argument("--quick", action="store_true", help="the tests' fake server: seconds, for CI")
    args = parser.parse_args()
    if bool(args.base_url) != bool(args.model):
        parser.error("--base-url and --model go together")
    if args.quick and args.base_url:
        parser.error("--quick brings its own server: leave out --base-url and --model")

    tickets = read_labels(args.labels)
    languages = Counter(t["labels"]["language"] for t in tickets)
    print(f"{len(tickets)} labelled tickets from {args.labels}; languages {dict(languages.most_common())}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    server = FakeLLMServer(model_name="fake-model") if args.quick else nullcontext()
    with tempfile.TemporaryDirectory(prefix="triage_quality_") as tmp, server:
        if args.quick:
            args.base_url, args.model = server.base_url, "fake-model"
        started = time.perf_counter()
        result, model = triage(tickets, args, Path(tmp))
        seconds = time.perf_counter() - started
    print_report(tickets, result, model, seconds)


if __name__ == "__main__":
    main()
