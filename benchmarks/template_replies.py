"""Replies that pass the checks on the embedded model: the LLM loop against template replies.

    .venv/bin/python benchmarks/template_replies.py [--tickets 20]   # the embedded default (llama.cpp + e5)
    .venv/bin/python benchmarks/template_replies.py --variants auto  # template replies alone (no 6-minute llm run)
    .venv/bin/python benchmarks/template_replies.py --variants none  # the guard's table alone (e5, ~30 s)
    .venv/bin/python benchmarks/template_replies.py --quick          # the tests' fake server: seconds, for CI

First the relevance guard (which top chunks a template may quote), measured with e5 on the generated
golden and the hand-written held-out tickets (`template_guard.py`). Then one sample day of --tickets
tickets through the real pipeline, as `make run` does it (`reference_data_job`, then
`daily_tickets_job` on the day), once per variant, each in a fresh data directory (fresh caches:
every call is made): with AI_ASSETS_REPLY_DRAFTING=llm (draft and critique by the model, as before
template replies) and with the default, auto (on the embedded model: template replies). Prints
per variant how the replies were made, the share of replies approved (every rule and the grounding
check passed; the rest go to review), the share auto-sent after routing, and the seconds of the
reply step and of the day's run.

`--quick` asks the tests' fake server (and its bag-of-words embeddings for the guard), where auto
means the LLM loop, so its second variant is AI_ASSETS_REPLY_DRAFTING=template; its figures mean
nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import nullcontext
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from storage import run_job  # noqa: E402
from template_guard import print_guards  # noqa: E402

from ai_assets.config import load_settings  # noqa: E402
from ai_assets.definitions import build_definitions  # noqa: E402
from ai_assets.llm.embeddings import LocalE5Embedder  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets_tests.fakes.embedder import FakeEmbedder  # noqa: E402
from ai_assets_tests.fakes.llm_server import FakeLLMServer  # noqa: E402

DAY = date(2026, 11, 1)


def run_variant(name: str, tickets: int, environ: dict[str, str]) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="template_replies_bench_"))
    for key in [k for k in os.environ if k.startswith(("AI_ASSETS_", "OPENAI_"))]:
        del os.environ[key]
    os.environ.update(AI_ASSETS_DATA_DIR=str(data_dir), AI_ASSETS_PARTITIONS_START=DAY.isoformat(), **environ)
    settings = load_settings()
    generate_sample_data(data_dir, days=1, start=DAY, tickets_per_day=tickets, golden_size=42, handwritten=False)
    defs = build_definitions(settings)
    reference = run_job(defs, "reference_data_job")
    day = run_job(defs, "daily_tickets_job", DAY.isoformat())
    assert reference.ok and day.ok, f"{name}: a run failed"
    with settings.warehouse.lake.connect(read_only=True) as conn:
        (replies, approved), *_ = conn.execute(
            "select count(*), count(*) filter (outcome = 'approved') from reply_drafts"
        ).fetchall()
        (sent,) = conn.execute("select count(*) from ticket_outcomes where status = 'auto_approved'").fetchone()
        steps = dict(conn.execute("select step, count(*) from reply_rounds group by all").fetchall())
    return {
        "name": name,
        "made": ", ".join(f"{step} {n}" for step, n in sorted(steps.items())) or "no rounds",
        "replies": replies,
        "approved": approved,
        "sent": sent,
        "reply_s": day.steps.get("reply_drafts", float("nan")),
        "day_s": day.wall_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20, help="tickets on the sample day")
    parser.add_argument(
        "--variants",
        default="llm,auto",
        help="sample-day runs, comma-separated: llm, auto (template with --quick); none",
    )
    parser.add_argument("--quick", action="store_true", help="the fake server and 10 tickets: seconds, for CI")
    args = parser.parse_args()
    tickets = 10 if args.quick else args.tickets
    print_guards(FakeEmbedder() if args.quick else LocalE5Embedder(), load_settings({}).embeddings.template_min_score)
    chosen = set(args.variants.split(","))
    if chosen <= {"none"}:
        return
    print(
        f"\na sample day ({DAY}) of {tickets} tickets and the generator's edge cases; machine: {os.cpu_count()} cores\n"
    )
    server = FakeLLMServer(model_name="fake-model") if args.quick else nullcontext()
    with server:
        # 0.34: the grounding threshold of the fake server's bag-of-words embeddings.
        endpoint = {**server.environ(), "AI_ASSETS_GROUNDING_MIN_SUPPORT": "0.34"} if args.quick else {}
        after = ("template", {"AI_ASSETS_REPLY_DRAFTING": "template"}) if args.quick else ("auto", {})
        variants = {"llm": ("llm", {"AI_ASSETS_REPLY_DRAFTING": "llm"}), "auto": after}
        rows = [
            run_variant(name, tickets, {**endpoint, **env}) for key, (name, env) in variants.items() if key in chosen
        ]
    header = ("drafting", "replies", "approved", "auto-sent", "reply step s", "day run s")
    print("{:<10} {:>7} {:>14} {:>14} {:>12} {:>9}  made by".format(*header))
    for r in rows:
        share = r["approved"] / r["replies"] if r["replies"] else 0.0
        sent = r["sent"] / r["replies"] if r["replies"] else 0.0
        print(
            f"{r['name']:<10} {r['replies']:>7} {r['approved']:>6} ({share:>5.0%}) {r['sent']:>6} ({sent:>5.0%}) "
            f"{r['reply_s']:>12.1f} {r['day_s']:>9.1f}  {r['made']}"
        )


if __name__ == "__main__":
    main()
