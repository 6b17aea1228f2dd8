"""What the warehouse's storage costs: one day of the pipeline end to end, and analysts' queries over a month.

    .venv/bin/python benchmarks/storage.py day [--tickets 2000] [--keep]
    .venv/bin/python benchmarks/storage.py query [--days 30] [--rows-per-day 2000] [--repeats 5] [--keep]
    .venv/bin/python benchmarks/storage.py day|query --quick   # QUICK's sizes: seconds, for CI

day: a data directory with one sample day of --tickets tickets; the reference data (CRM, knowledge
base, labels, embeddings) loaded by `reference_data_job` first, then `daily_tickets_job` on that day
against a fake OpenAI-compatible server on loopback (no latency), then the same day again, unchanged
(every answer from the response cache: no LLM requests). Each is a real Dagster run in process on an
ephemeral instance. Prints per run: outcome, wall seconds, tickets/s, chat and embedding requests
the server received, the process's peak RSS so far, and each step's duration; then the size on disk
of what the data directory holds.

query: --days days of `ticket_triage` (--rows-per-day rows each, synthetic but valid under the
table's contract, no LLM) written through the warehouse's write one day per call, as the pipeline
writes day by day (a DuckLake transaction per day); and, as the baseline in the same run, the
same frames written as the single-file version did (a DuckDB table, each day's rows deleted and
inserted in one transaction). Prints each write's seconds, days/s and rows/s and the size on disk.
Then the queries below (QUERIES: the same text as before the storage change), each --repeats
times on a fresh read-only connection, as an analyst opens the warehouse (for the lake: an
in-memory session that loads the extensions and attaches the lake read-only): median milliseconds to
open the connection, of the first run of the query on it (cold: DuckDB's buffers empty; the OS page
cache is not dropped) and of a second run on the same connection (warm), for both, with the ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from ai_assets.config import load_settings  # noqa: E402
from ai_assets.definitions import build_definitions  # noqa: E402
from ai_assets.defs.triage.tables import TICKET_TRIAGE  # noqa: E402
from ai_assets.quality.tables import TABLES  # noqa: E402
from ai_assets.sample_data.generator import generate_sample_data  # noqa: E402
from ai_assets.warehouse.catalog import prepare  # noqa: E402
from ai_assets.warehouse.contract import allowed_values  # noqa: E402
from ai_assets.warehouse.lake import Lake  # noqa: E402
from ai_assets.warehouse.resource import WarehouseResource  # noqa: E402
from ai_assets_tests.fakes.llm_server import FakeLLMServer  # noqa: E402

DAY = "2026-11-01"  # the sample data's first day
FIRST_DAY = date.fromisoformat(DAY)
QUERY_DAY = "2026-11-15"  # the one-day queries' day: mid-month with the default --days 30
# --quick: sizes that run in seconds; 15 days still reach QUERY_DAY, so every query finds rows.
QUICK = {"day": {"tickets": 10}, "query": {"days": 15, "rows_per_day": 100, "repeats": 1}}

# The analyst's queries, kept verbatim so the version after the storage change runs the same text.
QUERIES = {
    "month by day and category": (
        "SELECT created_date, category, count(*) AS tickets, avg(confidence) AS avg_confidence "
        "FROM ticket_triage GROUP BY ALL ORDER BY ALL"
    ),
    "one day by category": (
        "SELECT category, urgency, count(*) AS tickets, avg(confidence) AS avg_confidence "
        f"FROM ticket_triage WHERE created_date = DATE '{QUERY_DAY}' GROUP BY ALL ORDER BY ALL"
    ),
    "one day, every column": f"SELECT * FROM ticket_triage WHERE created_date = DATE '{QUERY_DAY}'",
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def disk_mb(path: Path) -> float:
    """Bytes allocated on disk (not apparent size) under `path`, in MiB."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_blocks * 512 for p in files) / 2**20


def print_sizes(data_dir: Path) -> None:
    """Size on disk of every entry of the data directory: the warehouse, whatever form it takes, among them."""
    print(f"\non disk under {data_dir}:")
    for entry in sorted(data_dir.iterdir()):
        print(f"  {entry.name + ('/' if entry.is_dir() else ''):32} {disk_mb(entry):9.2f} MiB")


# --- day -------------------------------------------------------------------------------------


@dataclass
class Run:
    ok: bool
    wall_s: float
    steps: dict[str, float]  # step key -> seconds from its start to its end
    rows: dict[str, int]  # asset -> rows its materialisation reported


def run_job(defs: dg.Definitions, job: str, partition: str | None = None) -> Run:
    """Runs `job` in process on an ephemeral instance, timed from launch to the end of the run."""
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False
        )
        wall = time.perf_counter() - started
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                steps[entry.step_key] = entry.timestamp - starts.get(entry.step_key, entry.timestamp)
    rows = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        count = materialization.metadata.get("dagster/row_count")
        if count is not None:
            rows[materialization.asset_key.to_user_string()] = int(count.value)
    if not result.success:
        failure = next((e.step_failure_data.error.message for e in result.all_events if e.is_step_failure), "")
        print(f"  {job} FAILED: {failure.splitlines()[0][:200] if failure else 'no step failure recorded'}")
    return Run(result.success, wall, steps, rows)


def report_run(label: str, server: FakeLLMServer, run: Run) -> None:
    tickets = run.rows.get("raw_tickets")
    print(
        f"{label:26} {'SUCCESS' if run.ok else 'FAILURE':8} {run.wall_s:8.1f} {tickets or '':>8} "
        f"{f'{tickets / run.wall_s:.1f}' if tickets else '':>9} {server.call_count:9} "
        f"{len(server.embedding_requests):9} {peak_rss_mb():9.0f}"
    )


def day(args: argparse.Namespace, data_dir: Path) -> None:
    print(f"data dir {data_dir}, sample day {DAY} generated with {args.tickets} tickets")
    with FakeLLMServer(model_name="fake-model") as server:
        os.environ.update(
            AI_ASSETS_DATA_DIR=str(data_dir),
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="sk-benchmark-key-0000000000",
            AI_ASSETS_CHAT_MODEL="fake-model",
        )
        settings = load_settings()
        generate_sample_data(settings.data_dir, days=1, tickets_per_day=args.tickets, golden_size=20, handwritten=False)
        defs = build_definitions(settings)
        print(
            f"\n{'run':26} {'outcome':8} {'wall s':>8} {'tickets':>8} {'tickets/s':>9} "
            f"{'chat reqs':>9} {'emb reqs':>9} {'peak MiB':>9}"
        )
        report_run("reference_data_job", server, run_job(defs, "reference_data_job"))
        step_times = {}
        for label in ("daily_tickets_job", "daily_tickets_job rerun"):
            server.reset_stats()
            run = run_job(defs, "daily_tickets_job", DAY)
            report_run(label, server, run)
            step_times[label] = run.steps
    first, rerun = step_times.values()
    names = sorted(first.keys() | rerun.keys(), key=lambda s: -first.get(s, 0.0))
    width = max(map(len, names), default=10)
    print(f"\n{'step seconds':{width + 2}} {'first':>8} {'rerun':>8}")
    for step in names:
        print(f"  {step:{width}} {first.get(step, float('nan')):8.2f} {rerun.get(step, float('nan')):8.2f}")
    print(f"  {'sum of steps':{width}} {sum(first.values()):8.2f} {sum(rerun.values()):8.2f}")
    print_sizes(data_dir)


# --- query -----------------------------------------------------------------------------------


def triage_frame(day_: date, rows: int, rng: np.random.Generator) -> pl.DataFrame:
    """`rows` synthetic triage rows of `day_`, valid under TICKET_TRIAGE (vocabularies from its checks)."""

    def pick(column: str) -> list[str]:
        values = allowed_values(TICKET_TRIAGE.columns[column])
        return [values[i] for i in rng.integers(0, len(values), rows)]

    numbers = rng.integers(100_000, 999_999, rows)
    has_order = rng.random(rows) < 0.4
    products = ("Nimbus 2 headphones", "AeroPress Go", "Kettle Pro", "Smart Plug", None, None, None)
    proxied = ([], [], [], ["category"], ["category", "sentiment"])
    prompt_tokens = rng.integers(300, 1500, rows)
    completion_tokens = rng.integers(40, 160, rows)
    frame = pl.DataFrame(
        {
            "ticket_id": [f"T-{day_:%Y%m%d}-{i:05d}" for i in range(rows)],
            "created_date": [day_] * rows,
            "category": pick("category"),
            "urgency": pick("urgency"),
            "sentiment": pick("sentiment"),
            "language": [("en", "en", "en", "de", "fr", "es")[i] for i in rng.integers(0, 6, rows)],
            "order_id": [f"ORD-{n}" if has else None for n, has in zip(numbers, has_order)],
            "product": [products[i] for i in rng.integers(0, len(products), rows)],
            "confidence": rng.random(rows).round(3),
            "proxy_fields": [proxied[i] for i in rng.integers(0, len(proxied), rows)],
            "model": ["fake-model"] * rows,
            "prompt_version": ["triage@3f9c2a71b0d4"] * rows,
            "input_hash": [rng.bytes(32).hex() for _ in range(rows)],
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": (prompt_tokens * 0.15 + completion_tokens * 0.6) / 1e6,
            "cache_hit": rng.random(rows) < 0.1,
            "latency_ms": rng.gamma(2.0, 400.0, rows).round(1),
            "input_truncated": rng.random(rows) < 0.01,
        },
        schema=TICKET_TRIAGE.polars_schema,
    )
    return frame


def timed_ms(action) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return (time.perf_counter() - started) * 1000, value


def write_single_file(database: Path, days: list[date], frames: list[pl.DataFrame]) -> float:
    """The baseline: what the single-file version did per day (delete the day, insert it, one transaction)."""
    with duckdb.connect(str(database)) as conn:
        conn.register("empty_frame", TICKET_TRIAGE.empty().to_arrow())
        conn.execute("CREATE TABLE ticket_triage AS SELECT * FROM empty_frame")
        started = time.perf_counter()
        for d, frame in zip(days, frames):
            TICKET_TRIAGE.validate(frame)
            conn.begin()
            conn.execute("DELETE FROM ticket_triage WHERE created_date = ?", [d])
            conn.register("incoming_frame", frame.to_arrow())
            conn.execute("INSERT INTO ticket_triage BY NAME SELECT * FROM incoming_frame")
            conn.commit()
        return time.perf_counter() - started


def time_queries(database: Path | Lake, repeats: int) -> dict[str, tuple[float, float, float, int]]:
    """Per query: median open, cold and warm milliseconds, and the rows it returned."""

    def connect() -> duckdb.DuckDBPyConnection:
        if isinstance(database, Lake):
            return database.connect(read_only=True)
        return duckdb.connect(str(database), read_only=True)

    timings = {}
    for name, sql in QUERIES.items():
        opens, colds, warms = [], [], []
        for _ in range(repeats):
            open_ms, conn = timed_ms(connect)
            try:
                cold_ms, result = timed_ms(lambda: conn.execute(sql).fetchall())  # noqa: B023
                warm_ms, _ = timed_ms(lambda: conn.execute(sql).fetchall())  # noqa: B023
            finally:
                conn.close()
            opens.append(open_ms)
            colds.append(cold_ms)
            warms.append(warm_ms)
        med = statistics.median
        timings[name] = (med(opens), med(colds), med(warms), len(result))
    return timings


def query(args: argparse.Namespace, data_dir: Path) -> None:
    days = [FIRST_DAY + timedelta(days=i) for i in range(args.days)]
    rng = np.random.default_rng(7)
    frames = [triage_frame(d, args.rows_per_day, rng) for d in days]
    print(f"data dir {data_dir}, {args.days} days x {args.rows_per_day} ticket_triage rows ({days[0]}..{days[-1]})")
    if not days[0] <= date.fromisoformat(QUERY_DAY) <= days[-1]:
        print(f"note: the one-day queries' day {QUERY_DAY} is not among the days written: they find no rows")

    warehouse = WarehouseResource(
        catalog_path=str(data_dir / "lake.sqlite"),
        storage_root=str(data_dir / "lake"),
        lock_dir=str(data_dir / "locks"),
    )
    prepare(warehouse.lake, TABLES)
    started = time.perf_counter()
    for d, frame in zip(days, frames):
        warehouse.write({TICKET_TRIAGE: frame}, [d])
    written = time.perf_counter() - started
    baseline_db = data_dir / "single_file_baseline.duckdb"
    baseline_written = write_single_file(baseline_db, days, frames)
    rows = args.days * args.rows_per_day
    print(f"\n{'write':28} {'seconds':>8} {'days/s':>8} {'rows/s':>10}")
    for label, seconds in (("ducklake (now)", written), ("single DuckDB file (before)", baseline_written)):
        print(f"{label:28} {seconds:8.2f} {args.days / seconds:8.1f} {rows / seconds:10,.0f}")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")
    print_sizes(data_dir)

    with warehouse.lake.connect(read_only=True) as check:
        count = check.execute("SELECT count(*) FROM ticket_triage").fetchone()[0]
    if count != rows:
        raise SystemExit(f"ticket_triage holds {count} rows, expected {rows}")

    now, before = time_queries(warehouse.lake, args.repeats), time_queries(baseline_db, args.repeats)
    print(f"\nmedian of {args.repeats}, ms: now (ducklake) / before (single file) = ratio")
    print(f"{'query':28} {'open':>22} {'cold':>22} {'warm':>22} {'rows':>6}")
    for name in QUERIES:
        cells = [f"{n:6.2f} /{b:6.2f} = {n / b:4.1f}x" for n, b in zip(now[name][:3], before[name][:3])]
        print(f"{name:28} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22} {now[name][3]:6}")
        if now[name][3] != before[name][3]:
            raise SystemExit(f"{name}: {now[name][3]} rows now, {before[name][3]} before")
    print("\nqueries:")
    for name, sql in QUERIES.items():
        print(f"  {name}: {sql}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    day_mode = modes.add_parser("day", help="one day of daily_tickets_job, then an unchanged rerun")
    day_mode.add_argument("--tickets", type=int, default=2000)
    query_mode = modes.add_parser("query", help="write --days days of ticket_triage, then time analysts' queries")
    query_mode.add_argument("--days", type=int, default=30)
    query_mode.add_argument("--rows-per-day", type=int, default=2000)
    query_mode.add_argument("--repeats", type=int, default=5)
    for name, mode in (("day", day_mode), ("query", query_mode)):
        mode.add_argument("--keep", action="store_true", help="keep the data directory (default: removed)")
        mode.add_argument("--quick", action="store_true", help=f"overrides the sizes with {QUICK[name]}")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK[args.mode])
    if args.mode == "query" and not (args.days >= 1 and args.rows_per_day >= 1 and args.repeats >= 1):
        parser.error("--days, --rows-per-day and --repeats must be at least 1")
    data_dir = Path(tempfile.mkdtemp(prefix=f"storage_{args.mode}_"))
    try:
        (day if args.mode == "day" else query)(args, data_dir)
    finally:
        if args.keep:
            print(f"\nkept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
