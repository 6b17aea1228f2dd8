"""`ai-assets`: run the pipeline end to end, generate sample data, start the UI, query the warehouse."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ai_assets.config import ProjectSettings, Settings, load_settings
from ai_assets.settings import environment

if TYPE_CHECKING:  # polars is imported by the commands that use it: `--help` stays fast
    import polars as pl

EXAMPLE_QUERIES = (
    "select category, count(*) as tickets, round(avg(confidence), 2) as confidence from ticket_triage"
    " group by all order by tickets desc",
    "select reason, count(*) from raw_tickets_quarantine group by all order by 2 desc",
    "select * from ticket_kpis_daily order by created_date, tickets desc limit 10",
    "select priority, ticket_id, reasons, status from review_queue order by priority, ticket_id limit 10",
    "select action_type, status, count(*) from outbox_deliveries group by all",
)


def _ticket_days(settings: Settings) -> list[str]:
    """The day folders of landing/tickets that hold ticket files, in order (empty folders are no day)."""
    from ai_assets.extract.landing import ticket_files

    tickets = settings.landing_dir / "tickets"
    if not tickets.is_dir():
        return []
    return sorted(p.name for p in tickets.iterdir() if p.is_dir() and ticket_files(p))


def _other_landing_data(settings: Settings) -> list[str]:
    """The landing folders besides tickets that hold files: data of the user's own, not to overwrite."""
    landing = settings.landing_dir
    if not landing.is_dir():
        return []
    return sorted(p.name for p in landing.iterdir() if p.name != "tickets" and any(f.is_file() for f in p.rglob("*")))


# The embedded model triages about 0.45 tickets/s and drafts 0.2 replies/s on 2 cores: the demo's day
# is sized for a first run in minutes (`ai-assets sample-data` writes the full week of 150 a day).
EMBEDDED_DEMO_TICKETS_PER_DAY = 12
# The demo evaluates the triage on the labelled tickets first (about 0.3 rows/s on the embedded
# model): 42 labels, 6 per category, rather than the sample's 120.
EMBEDDED_DEMO_LABELS = 42
SAMPLE_TICKETS_PER_DAY = 150
SAMPLE_DAYS = 7


def partitions_from_the_data(settings: Settings) -> Settings:
    """Unless AI_ASSETS_PARTITIONS_START is set, the daily partitions start at the first day landed in
    landing/tickets/ (exported for the Dagster processes `ai-assets` starts), so the UI shows the days
    there are, not weeks of "Missing" before them."""
    days = _ticket_days(settings)
    if os.environ.get("AI_ASSETS_PARTITIONS_START") or not days:
        return settings
    os.environ["AI_ASSETS_PARTITIONS_START"] = days[0]
    # Read back as the variable is, so a folder named like no day stops here with its message.
    return replace(settings, project=ProjectSettings.from_env(environment()))


def sample_start(settings: Settings, days: int) -> date:
    """The first day of a sample of `days` days ending yesterday (UTC), so a fresh demo is fresh: the
    last complete day is in. Never before the first partition."""
    first = datetime.now(UTC).date() - timedelta(days=days)
    return max(first, date.fromisoformat(settings.project.partitions_start))


def _generate(
    settings: Settings,
    tickets_per_day: int = SAMPLE_TICKETS_PER_DAY,
    days: int = SAMPLE_DAYS,
    labels: int = 120,
    handwritten: bool = True,
) -> None:
    """Sample tickets and, for the demo's second domain (ai_assets/defs/reviews/), product reviews."""
    from ai_assets.sample_data.generator import generate_sample_data

    start = sample_start(settings, days)
    reviews = max(4, tickets_per_day // 5)
    summary = generate_sample_data(
        settings.data_dir,
        start=start,
        days=days,
        tickets_per_day=tickets_per_day,
        reviews_per_day=reviews,
        golden_size=labels,
        handwritten=handwritten,
    )
    span = f"{len(summary.days)} day{'s' if len(summary.days) > 1 else ''} ({summary.days[0]} .. {summary.days[-1]})"
    print(
        f"Generated sample data in {settings.landing_dir}: {span}, "
        f"{summary.tickets_written} ticket records, {summary.customers} customers, {summary.kb_articles} KB articles"
    )


def print_summary(settings: Settings) -> None:
    """What landed in the warehouse, queried read-only, and how to query it."""
    warehouse = settings.warehouse
    tables = warehouse.query(
        "select table_name, count(*) from information_schema.columns"
        " where table_catalog = 'lake' and table_schema = 'main' group by table_name order by table_name"
    )
    print(f"\nWarehouse: {warehouse.lake.describe()}")
    for name, columns in tables.iter_rows():
        rows = warehouse.query(f'select count(*) from "{name}"').item()
        print(f"  {name:<28} {rows:>7} rows  {columns:>3} columns")
    print("\nQuery it read-only, for example:")
    for sql in EXAMPLE_QUERIES:
        print(f'  ai-assets query "{sql}"')
    print(f'Or with any DuckDB client (it reads while runs write): duckdb -c "{warehouse.lake.attach_hint()}"')


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    days = _ticket_days(settings)
    if not days:
        others = _other_landing_data(settings)
        if others:
            # Sample data would overwrite the user's own CRM export and KB: they decide, not the demo.
            print(
                f"No ticket files in {settings.landing_dir / 'tickets'}: put them in "
                "landing/tickets/YYYY-MM-DD/*.jsonl (or .csv), or run `ai-assets sample-data` to generate a sample "
                f"week (it overwrites what is in landing/{', landing/'.join(others)}).",
                file=sys.stderr,
            )
            return 1
        if settings.llm.use_embedded_model:  # one small day, yesterday: what the demo does on this model
            # Without the hand-written labels: 110 more evaluation calls, and the demo's tickets are the
            # generator's, which its golden set covers.
            _generate(settings, EMBEDDED_DEMO_TICKETS_PER_DAY, days=1, labels=EMBEDDED_DEMO_LABELS, handwritten=False)
        else:
            _generate(settings)
        days = _ticket_days(settings)

    import dagster as dg

    from ai_assets.automation.instance import ensure_dagster_home
    from ai_assets.pipeline import materialize_pipeline

    settings = partitions_from_the_data(settings)
    ensure_dagster_home(settings.dagster_home)

    # The embedded model drafts about 0.2 replies/s on 2 cores: one day by default, not a week.
    limit = args.days if args.days is not None else (1 if settings.llm.use_embedded_model else 0)
    days = days[: limit or None]
    if args.days is None and settings.llm.use_embedded_model:
        print("On the embedded model the demo does the first landed day; `ai-assets demo --days 0` does them all.")
    model = (
        "the embedded local model (SmolLM2-135M via llama.cpp)"
        if settings.llm.use_embedded_model
        else settings.llm.chat_model
    )
    span = f"{len(days)} day{'s' if len(days) > 1 else ''} ({days[0]} .. {days[-1]})"
    print(f"Materialising the pipeline for {span} on {model}")
    log_path = settings.data_dir / "logs" / "demo.log"
    print(f"Dagster's full log goes to {log_path}; the runs are in the UI too (ai-assets dev)", flush=True)
    with dg.DagsterInstance.get() as instance:
        runs = materialize_pipeline(instance, days, {"daily_tickets_job"}, log_path)
    print_summary(settings)
    if not all(run.success for run in runs):
        print(
            f"\nA run failed: see its logs with `ai-assets dev` (DAGSTER_HOME={settings.dagster_home}).",
            file=sys.stderr,
        )
        return 1
    print("\nBrowse the runs and assets: ai-assets dev  (then open http://127.0.0.1:3000)")
    return 0


def cmd_sample_data(args: argparse.Namespace) -> int:
    _generate(load_settings(), args.tickets_per_day)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print_summary(load_settings())
    return 0


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text, which CSV cannot hold otherwise."""
    import polars as pl

    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    # Wrapped in a struct so polars' vectorised JSON encoder serialises the value, then unwrapped.
    return frame.with_columns(
        pl.struct(pl.col(name).alias("v")).struct.json_encode().str.json_path_match("$.v").alias(name)
        for name in nested
    )


def _snapshot(value: str) -> int | str:
    """A snapshot id, or a time as DuckDB reads a TIMESTAMPTZ (`2026-12-07 09:30:00+00`)."""
    return int(value) if value.isdigit() else value


def cmd_query(args: argparse.Namespace) -> int:
    import shutil

    import duckdb
    import polars as pl

    try:
        result = load_settings().warehouse.query(args.sql, at=args.at)
    except duckdb.Error as error:  # a typo, a forbidden statement, a limit: the message, not a traceback
        print(f"Query failed: {error}", file=sys.stderr)
        return 2
    if args.format == "csv":
        sys.stdout.write(_as_text(result).write_csv())
    elif args.format == "json":
        print(result.write_json())
    else:  # every column, wrapped to the terminal; `--limit` rows
        width = shutil.get_terminal_size((160, 24)).columns
        with pl.Config(tbl_rows=args.limit, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=width):
            print(result)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from ai_assets.automation.instance import ensure_dagster_home

    settings = partitions_from_the_data(load_settings())
    ensure_dagster_home(settings.dagster_home)
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(args.port), "-w", str(workspace)]
    print(f"DAGSTER_HOME={settings.dagster_home} {' '.join(command)}")
    os.execv(command[0], command)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from ai_assets.automation.backfills import submit_daily_backfill
    from ai_assets.definitions import build_definitions

    settings = partitions_from_the_data(load_settings())
    try:
        backfill_id = submit_daily_backfill(args.url, build_definitions(settings), args.first_day, args.last_day)
    except ValueError as refused:
        print(f"Backfill not submitted: {refused}", file=sys.stderr)
        return 1
    print(
        f"Submitted backfill {backfill_id} for {args.first_day}..{args.last_day} "
        f"({settings.project.backfill_days_per_run} days per run). The daemon runs it: keep `ai-assets dev` running "
        f"and follow it under Overview > Backfills ({args.url.rstrip('/')}/overview/backfills/{backfill_id})."
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ai_assets.cluster.celery import STEPS_QUEUE, broker_settings, worker_command

    try:
        broker_settings()
    except RuntimeError as missing:
        print(f"Worker not started: {missing}", file=sys.stderr)
        return 2
    load_settings()  # a bad setting fails here, not in the first step the worker takes
    command = worker_command(args.queue or [STEPS_QUEUE], args.concurrency, args.name)
    print(" ".join(command), flush=True)
    os.execv(command[0], command)
    return 0


def cmd_cluster_up(args: argparse.Namespace) -> int:
    import signal
    import time

    from ai_assets.cluster.local import DEFAULT_WORKERS, local_cluster
    from ai_assets.sample_data.generator import generate_sample_data

    root = Path(args.root)
    with local_cluster(root, DEFAULT_WORKERS[: args.workers]) as cluster:
        sample = root / "sample"  # landed in the bucket, where every machine reads it
        if not (sample / "landing").exists():
            generate_sample_data(sample, days=args.days, tickets_per_day=args.tickets_per_day)
        landed = cluster.land(sample / "landing")
        exports = {**cluster.env, "AI_ASSETS_DATA_DIR": str(cluster.data_dir("orchestrator"))}
        print(f"A cluster under {root.resolve()}: PostgreSQL (instance, state, lake catalog, Celery queue), an S3")
        print(
            f"server ({cluster.env['AI_ASSETS_STORAGE_ENDPOINT_URL']}: the lake, and {landed} sample landing files in"
        )
        print(f"{cluster.env['AI_ASSETS_LANDING_URL']}), and workers {', '.join(cluster.workers)}")
        print(f"(logs: {root.resolve()}/worker-*.log). In another shell, run the pipeline on it:\n")
        for name, value in exports.items():
            print(f"export {name}='{value}'")
        print("ai-assets dev   # or: dagster job execute -m ai_assets.definitions -j reference_data_job")
        print("\nCtrl-C stops the workers and the servers and deletes the database.", flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        try:
            while not stop and all(process.poll() is None for process in cluster.workers.values()):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        # Shutting down: a second Ctrl-C must not leave workers or the database behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        dead = [name for name, process in cluster.workers.items() if process.poll() is not None]
        if dead:
            print(f"Worker {', '.join(dead)} stopped: see its log under {root.resolve()}", file=sys.stderr)
            return 1
    return 0


def _day_count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days (0 or more)")
    return int(value)


def _tickets_per_day(value: str) -> int:
    if not value.isdigit() or int(value) < 10:
        raise argparse.ArgumentTypeError(f"{value!r}: the sample needs at least 10 tickets a day")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate sample data if none, materialise everything, print what landed")
    demo.add_argument(
        "--days",
        type=_day_count,
        default=None,
        help="only the first N landed days; 0 = all (default: all, or 1 on the embedded model)",
    )
    demo.set_defaults(run=cmd_demo)
    sample = sub.add_parser("sample-data", help="(re)generate the sample landing data: a week of tickets")
    sample.add_argument(
        "--tickets-per-day", type=_tickets_per_day, default=SAMPLE_TICKETS_PER_DAY, help="tickets a day (at least 10)"
    )
    sample.set_defaults(run=cmd_sample_data)
    sub.add_parser("summary", help="list the warehouse tables and row counts").set_defaults(run=cmd_summary)
    query = sub.add_parser("query", help="run a read-only SQL query on the warehouse")
    query.add_argument("sql")
    query.add_argument(
        "--at", type=_snapshot, help="the lake as it was: a snapshot id (ducklake_snapshots('lake')) or a time"
    )
    query.add_argument("--limit", type=int, default=25, help="rows the table shows (default 25); csv and json get all")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="how to print the result")
    query.set_defaults(run=cmd_query)
    backfill = sub.add_parser(
        "backfill", help="submit a backfill of a range of days (run by the daemon of `ai-assets dev`)"
    )
    backfill.add_argument("first_day", help="YYYY-MM-DD")
    backfill.add_argument("last_day", help="YYYY-MM-DD (inclusive)")
    backfill.add_argument(
        "--url",
        default="http://127.0.0.1:3000",
        help="the webserver of `ai-assets dev` (default http://127.0.0.1:3000)",
    )
    backfill.set_defaults(run=cmd_backfill)
    worker = sub.add_parser("worker", help="run steps sent to Celery (AI_ASSETS_EXECUTOR=celery) on this machine")
    worker.add_argument(
        "--queue", action="append", help="a queue to take steps from: dagster (default) or marts; repeat for both"
    )
    worker.add_argument("--concurrency", type=int, default=1, help="steps at once (default 1)")
    worker.add_argument("--name", default="worker", help="the worker's name in the run logs (default worker)")
    worker.set_defaults(run=cmd_worker)
    cluster = sub.add_parser("cluster", help="a cluster on this machine: PostgreSQL, S3, Celery workers")
    cluster_up = cluster.add_subparsers(dest="action", required=True).add_parser(
        "up", help="start it in the foreground (Ctrl-C stops it) and print how to run the pipeline on it"
    )
    cluster_up.add_argument("--root", default="cluster", help="its folder (default ./cluster)")
    cluster_up.add_argument("--workers", type=int, choices=(1, 2), default=2, help="workers (default 2)")
    cluster_up.add_argument("--days", type=int, default=3, help="sample days landed on each machine (default 3)")
    cluster_up.add_argument("--tickets-per-day", type=_tickets_per_day, default=30, help="(default 30)")
    cluster_up.set_defaults(run=cmd_cluster_up)
    dev = sub.add_parser("dev", help="start the Dagster UI on 127.0.0.1 with DAGSTER_HOME under the data directory")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(run=cmd_dev)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
