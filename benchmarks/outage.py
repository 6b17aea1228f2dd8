"""How fast an outage fails a day: one day of `daily_tickets_job` against a healthy endpoint (the
baseline), an endpoint that rejects the key, and an endpoint nothing listens on.

    .venv/bin/python benchmarks/outage.py [--tickets 60]
    .venv/bin/python benchmarks/outage.py --quick   # 10 tickets, no unreachable endpoint: seconds, for CI

Each scenario is a real Dagster run (in process, the step retry policy included) on its own data
directory and sample day. Prints per scenario: the run's outcome, wall seconds, requests the
endpoint received (or the engine sent, for the unreachable one), and the first line of the
failure, then each outage's wall time against the baseline's.

--quick leaves the unreachable endpoint out: its run waits out the LLM steps' retry policy
(`LLM_STEP_RETRY_POLICY`, about 30 s of delays whatever the day's size), which a run in process
cannot shorten.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from ai_assets.config import load_settings  # noqa: E402
from ai_assets.definitions import build_definitions  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets_tests.fakes.broken_endpoints import KeyEchoingServer, closed_port_url  # noqa: E402
from ai_assets_tests.fakes.llm_server import FakeLLMServer  # noqa: E402

DAY = "2026-11-01"


def run_day(base_url: str, tickets: int) -> tuple[bool, float, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="outage_"))
    os.environ.update(
        AI_ASSETS_DATA_DIR=str(data_dir),
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY="sk-benchmark-key-0000000000",
        AI_ASSETS_CHAT_MODEL="fake-model",
    )
    settings = load_settings()
    generate_sample_data(settings.data_dir, days=1, tickets_per_day=tickets, golden_size=20, handwritten=False)
    defs = build_definitions(settings)
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_tickets_job").execute_in_process(
            instance=instance, partition_key=DAY, raise_on_error=False
        )
    wall = time.perf_counter() - started
    failure = next((e.step_failure_data.error.message for e in result.all_events if e.is_step_failure), "")
    return result.success, wall, failure.splitlines()[0][:160] if failure else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="10 tickets, and not the unreachable endpoint")
    args = parser.parse_args()
    if args.quick:
        args.tickets = 10  # the sample generator's least
    rows = []
    with FakeLLMServer(model_name="fake-model") as healthy:
        ok, wall, failure = run_day(healthy.base_url, args.tickets)
        rows.append(("healthy (baseline)", ok, wall, healthy.call_count, failure))
    with KeyEchoingServer() as rejecting:
        ok, wall, failure = run_day(rejecting.base_url, args.tickets)
        rows.append(("wrong key (401)", ok, wall, rejecting.requests, failure))
    if not args.quick:
        ok, wall, failure = run_day(closed_port_url(), args.tickets)
        rows.append(("unreachable endpoint", ok, wall, "n/a", failure))

    baseline = rows[0][2]
    print(f"{'scenario':22} {'run':8} {'wall s':>7} {'x base':>7} {'requests':>9}  failure")
    for name, ok, wall, requests, failure in rows:
        outcome = "SUCCESS" if ok else "FAILURE"
        print(f"{name:22} {outcome:8} {wall:7.1f} {wall / baseline:7.2f} {requests!s:>9}  {failure}")
    if args.quick:
        print("unreachable endpoint   left out by --quick (it waits out the step retry policy's ~30 s)")


if __name__ == "__main__":
    main()
