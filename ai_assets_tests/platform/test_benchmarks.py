"""Every benchmark still runs: each script's `--quick` mode (small sizes, the fake server or embedder
in place of the embedded models) as a subprocess from the repository, as docs/benchmarks.md runs
them, printing its figures. Only that it runs and reports is checked: quick figures mean nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (script and its arguments before --quick, lines of its report that must appear in stdout), the
# longest runs first so that they start first.
QUICK_RUNS = [
    (
        ["llm_engine.py"],
        ["(a) naive sequential openai loop", "(d) cached rerun, 1000 rows", "(c) / (b) rows/s:", "(d) at 1000 rows:"],
    ),
    (
        ["cascade.py"],
        ["LLM alone ", "cascade, defaults ", "cascade, defaults: LLM calls saved", "answered without the LLM"],
    ),
    (["storage.py", "day"], ["daily_tickets_job          SUCCESS", "daily_tickets_job rerun    SUCCESS"]),
    (["outage.py"], ["healthy (baseline)     SUCCESS", "wrong key (401)        FAILURE"]),
    (["storage.py", "query"], ["ducklake (now)", "single DuckDB file (before)", "one day, every column"]),
    (["outbox_delivery.py", "race"], ["duplicate deliveries per round:", "rounds with duplicates:"]),
    (["retrieval_quality.py"], ["baseline bag-of-words            hit@1", "fake / baseline: hit@3"]),
    (["outbox_delivery.py", "hung"], ["hung: 10 actions to a webhook that never answers", "s per action due"]),
    (["grounding.py"], ["labelled sentences: 59", "threshold used below:", "hostile replies still auto-sent:"]),
    (["triage_quality.py"], ["category    64", "language    64", "model fake-model: 64 rows"]),
    (["shared_rate_limit.py"], ["1 worker ", "2 workers, shared limit ", "2 workers, own limits "]),
    (["language_id.py"], ["threshold whose 95% lower bound", "held-out (hand-written), whole"]),
    (["proxy_choice.py"], ["CV on the golden set: accuracy dup / scen", "chosen for sentiment:"]),
    (
        ["template_replies.py"],
        [
            "generated golden set (120 tickets)",
            "hand-written held-out set (64 tickets)",
            "drafting   replies",
            "template  ",
        ],
    ),
]
IDS = [" ".join(script) for script, _ in QUICK_RUNS]


def run_quick(script: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    command = [sys.executable, f"benchmarks/{script[0]}", *script[1:], "--quick"]
    # A bound far above a quick run, so a hung benchmark fails instead of stalling CI.
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def quick_runs(request) -> dict[str, Future]:
    """The selected quick runs, a few at a time from the first test on: one after another they take
    over a minute, mostly starting interpreters and waiting on servers and timeouts, which overlap."""
    selected = {item.callspec.id for item in request.session.items if item.module is request.module}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(run_quick, script) for key, (script, _) in zip(IDS, QUICK_RUNS) if key in selected}
        yield futures
        pool.shutdown(cancel_futures=True)  # the runs not started yet, if the tests were interrupted


@pytest.mark.parametrize("figures", [figures for _, figures in QUICK_RUNS], ids=IDS)
def test_the_benchmark_runs_quick_and_prints_its_figures(request, quick_runs, figures):
    key = request.node.callspec.id
    done, seconds = quick_runs[key].result()
    assert done.returncode == 0, f"{key} --quick failed:\n{done.stderr[-4000:]}"
    missing = [line for line in figures if line not in done.stdout]
    assert not missing, f"{key} --quick did not print {missing}; it printed:\n{done.stdout}"
    print(f"{key} --quick: {seconds:.1f} s")  # with -s: what each quick run costs
