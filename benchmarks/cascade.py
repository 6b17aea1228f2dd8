"""The triage cascade through the real pipeline, on the hand-written held-out set.

    .venv/bin/python benchmarks/cascade.py            # the embedded default (llama.cpp + e5), ~10 minutes
    .venv/bin/python benchmarks/cascade.py --fake     # the loopback fake server (calls and tokens), seconds
    .venv/bin/python benchmarks/cascade.py --quick    # the same as --fake, the name every benchmark takes for CI

The sample's labels are in landing/labels, as the generator writes them: the golden set (generated from
templates, 120 tickets) and 110 hand-written training tickets (ai_assets/sample_data/
handwritten_labels.jsonl, decontaminated against the held-out set: HANDWRITTEN.md); the variants marked
"generated labels" leave the hand-written ones out (the labels before them, the baseline of this run).
The held-out tickets (benchmarks/heldout/triage_labels.jsonl: written by hand, in other words and six
languages, never used as examples or to calibrate) are landed as one day of tickets without their labels
(an empty subject or customer id, which the ticket contract quarantines, is filled with "(no subject)" /
"C-UNKNOWN" so that all 64 are triaged). Each variant is a fresh data directory (fresh caches, so every
call is counted) where `reference_data_job` lands the labels and `ticket_triage` triages the day, as
`make run` does:

- LLM alone: AI_ASSETS_CASCADE=off;
- cascade, defaults: the settings a user of this endpoint gets (on the embedded model the proxy
  answers every proxied field: target 0; elsewhere target 0.9);
- cascade, target 0.9 (embedded only): the LLM gets the fields the proxy is unsure of, with the
  three nearest labelled tickets as examples;
- target 0.9, eval's plan: `eval_job` first, as `make run` does: it measures proxy only, proxy + LLM and
  LLM alone on the golden set (eval_plans, printed) and the triage runs the cheapest that meets
  AI_ASSETS_EVAL_TARGETS.

Prints per variant the accuracy per field against the hand labels, the proxy's share of the
category/urgency/sentiment answers, LLM calls, prompt and completion tokens and wall time; then
the grid over the golden set (held out by group) that chose the proxy and its setting.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import numpy as np  # noqa: E402

from ai_assets.config import load_settings  # noqa: E402
from ai_assets.definitions import build_definitions  # noqa: E402
from ai_assets.llm.embeddings import LocalE5Embedder  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets.transform import cascade  # noqa: E402
from ai_assets_tests.fakes.llm_server import FakeLLMServer  # noqa: E402

DAY = "2026-11-01"
HELDOUT = ROOT / "benchmarks" / "heldout" / "triage_labels.jsonl"
FIELDS = ("category", "urgency", "sentiment", "language")
TRIAGE = [dg.AssetKey(k) for k in ("raw_tickets", "raw_tickets_quarantine", "ticket_triage", "ticket_triage_failures")]


def land(data_dir: Path, heldout: list[dict], handwritten: bool) -> None:
    """The sample data (its labels in landing/labels), with the held-out tickets as the only day."""
    start = datetime.date.fromisoformat(DAY)
    generate_sample_data(data_dir, days=1, start=start, tickets_per_day=10, handwritten=handwritten)
    day_dir = data_dir / "landing" / "tickets" / DAY
    for path in day_dir.iterdir():
        path.unlink()
    tickets = [
        {
            **{k: t[k] for k in t if k != "labels"},
            "created_at": f"{DAY}T{t['created_at'][11:]}",
            # The ticket contract wants both (a chat has neither): filled so every ticket is triaged.
            "subject": t.get("subject") or "(no subject)",
            "customer_id": t.get("customer_id") or "C-UNKNOWN",
        }
        for t in heldout
    ]
    (day_dir / "heldout.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tickets))


def run_variant(
    name: str, heldout: list[dict], environ: dict[str, str], evaluate: bool = False, handwritten: bool = True
) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="cascade_bench_"))
    for key in [k for k in os.environ if k.startswith(("AI_ASSETS_", "OPENAI_"))]:
        del os.environ[key]
    os.environ.update(AI_ASSETS_DATA_DIR=str(data_dir), **environ)
    settings = load_settings()
    land(data_dir, heldout, handwritten)
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        reference = defs.resolve_job_def("reference_data_job").execute_in_process(instance=instance)
        if evaluate:  # as `make run` does: the evaluation on the golden set chooses the triage's plan
            assert defs.resolve_job_def("eval_job").execute_in_process(instance=instance).success
        started = time.perf_counter()
        result = defs.resolve_job_def("daily_tickets_job").execute_in_process(
            instance=instance, partition_key=DAY, asset_selection=TRIAGE, raise_on_error=False
        )
        wall = time.perf_counter() - started
    assert reference.success and result.success, f"{name}: a run failed"
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("ticket_triage")
        if m.asset_key == dg.AssetKey("ticket_triage")
    ]
    meta = {k: v.value for k, v in materialization.metadata.items()}
    with settings.warehouse.lake.connect(read_only=True) as conn:
        rows = conn.execute(f"select ticket_id, {', '.join(FIELDS)}, proxy_fields from ticket_triage").fetchall()
        plans = conn.execute(
            "select plan, accuracy_category, accuracy_urgency, accuracy_sentiment, accuracy_language, "
            "llm_calls_per_1k, meets_targets, chosen from eval_plans order by plan desc"
        ).fetchall()
    answers = {row[0]: row[1:5] for row in rows}
    answered_without_llm = {row[0]: set(row[5]) for row in rows}
    accuracy = {
        field: float(np.mean([answers.get(t["ticket_id"], (None,) * 4)[i] == t["labels"][field] for t in heldout]))
        for i, field in enumerate(FIELDS)
    }
    # The cascade's own answers (the proxy's, the language identifier's), scored alone.
    own = {
        field: [
            answers[t["ticket_id"]][i] == t["labels"][field]
            for t in heldout
            if field in answered_without_llm.get(t["ticket_id"], ())
        ]
        for i, field in enumerate(FIELDS)
    }
    return {
        "name": name,
        **accuracy,
        "proxy_share": meta.get("proxy_share", 0.0),
        "calls": meta["llm_calls"],
        "calls_per_1k": meta["llm_calls"] / len(heldout) * 1000,
        "without_llm": meta.get("rows_without_llm", 0),
        "prompt_tokens": meta["prompt_tokens"],
        "completion_tokens": meta["completion_tokens"],
        "wall_s": wall,
        "cascade": meta.get("cascade"),
        "own": {field: (float(np.mean(hits)), len(hits)) for field, hits in own.items() if hits},
        "plans": plans,
        "plan": meta.get("plan"),
    }


def print_variants(rows: list[dict]) -> None:
    print(f"{'variant':<30} {'category':>8} {'urgency':>7} {'sentiment':>9} {'language':>8} {'proxy':>6} "
          f"{'calls':>5} {'per 1k':>6} {'prompt tok':>10} {'compl tok':>9} {'wall s':>7}  cascade")  # fmt: skip
    base = rows[0]
    for r in rows:
        print(
            f"{r['name']:<30} {r['category']:>8.2f} {r['urgency']:>7.2f} {r['sentiment']:>9.2f} {r['language']:>8.2f} "
            f"{r['proxy_share']:>6.2f} {r['calls']:>5} {r['calls_per_1k']:>6.0f} {r['prompt_tokens']:>10} "
            f"{r['completion_tokens']:>9} "
            f"{r['wall_s']:>7.1f}  {r['cascade']}"
        )
    for r in rows[1:]:
        saved = 1 - r["calls"] / base["calls"] if base["calls"] else 0.0
        tokens = (r["prompt_tokens"] + r["completion_tokens"]) / max(
            1, base["prompt_tokens"] + base["completion_tokens"]
        )
        print(
            f"{r['name']}: LLM calls saved {saved:.0%} ({r['without_llm']} tickets answered whole by the cascade); "
            f"tokens x{tokens:.2f} of the LLM alone"
        )
        own = ", ".join(f"{field} {score:.2f} of {n}" for field, (score, n) in r["own"].items())
        print(f"  answered without the LLM (accuracy of those answers on the held-out tickets): {own or 'none'}")
        if r["plans"]:
            print(f"  eval_job measured the plans on the golden set; the triage ran {r['plan']}:")
            for plan, *scores, per_1k, meets, chosen in r["plans"]:
                cells = " ".join(f"{score:.2f}" for score in scores)
                runs = "  <- runs" if chosen else ""
                print(f"    {plan:<11} {cells}  {per_1k:>6,.0f} calls/1k  meets targets {meets}{runs}")


def print_grid() -> None:
    """Held out by group over the golden set: what chose the linear proxy and its penalty."""
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_data(Path(tmp), days=1, tickets_per_day=10)
        golden = [json.loads(line) for line in (Path(tmp) / "eval" / "golden_tickets.jsonl").read_text().splitlines()]
    texts = [f"{t['subject']}\n{t['body']}" for t in golden]
    vectors, _ = LocalE5Embedder().embed(texts, "query")
    labels = {f: [t["labels"][f] for t in golden] for f in cascade.CASCADE_FIELDS}
    print(f"\nthe golden set ({len(golden)} tickets), held out by group: top answer accuracy; at target 0.9: coverage")
    grid = [("linear", {"penalty": p}) for p in (0.01, 0.03, 0.1, 0.3, 1.0)]
    grid += [("knn", {"k": k, "weighted": True}) for k in (5, 10, 15)]
    for proxy, options in grid:
        calibration, _ = cascade.calibrate(vectors, labels, proxy, 0.9, **options)
        cells = "  ".join(f"{f} {c.top_vote_accuracy:.2f} / {c.answered / c.rows:.2f}" for f, c in calibration.items())
        mean = np.mean([c.top_vote_accuracy for c in calibration.values()])
        print(f"  {proxy:<6} {json.dumps(options):<32} {cells}   mean {mean:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake", action="store_true", help="the loopback fake server instead of the embedded model")
    parser.add_argument("--quick", action="store_true", help="--fake: seconds, for CI")
    args = parser.parse_args()
    args.fake = args.fake or args.quick
    heldout = [json.loads(line) for line in HELDOUT.read_text().splitlines() if line.strip()]
    print(f"{len(heldout)} held-out tickets; machine: {os.cpu_count()} cores\n")
    server = FakeLLMServer(model_name="fake-model") if args.fake else nullcontext()
    with server:
        endpoint = server.environ() if args.fake else {}
        target = {"AI_ASSETS_CASCADE_TARGET_ACCURACY": "0.9"}
        # (name, settings, evaluate first, with the hand-written labels)
        variants = [
            ("LLM alone", {"AI_ASSETS_CASCADE": "off"}, False, True),
            ("defaults, generated labels", {}, False, False),
            ("cascade, defaults", {}, False, True),
        ]
        if not args.fake:
            variants.append(("cascade, target 0.9", target, False, True))
        # The plan an evaluation chooses: at target 0.9 the cascade alone would ask the LLM about most tickets.
        variants.append(("eval's plan, generated labels", target, True, False))
        variants.append(("target 0.9, eval's plan", target, True, True))
        rows = [run_variant(name, heldout, {**endpoint, **env}, *how) for name, env, *how in variants]
    print_variants(rows)
    if not args.fake:
        print_grid()


if __name__ == "__main__":
    main()
