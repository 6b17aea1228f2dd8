"""Sensors: new or changed landing files start a run for exactly their day (tickets, and reviewer
decisions for the days of the tickets they decide); failed runs are recorded."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition  # no public name

from ai_assets.config import Settings
from ai_assets.extract.landing import ticket_files
from ai_assets.extract.reviews import read_review_decisions, review_files
from ai_assets.warehouse.sql import sql_file
from ai_assets.warehouse.tables import query_read_only


def day_fingerprints(tickets_dir: Path) -> dict[str, str]:
    """day -> a hash of its landing files' names, sizes and modification times."""
    fingerprints = {}
    if not tickets_dir.is_dir():
        return fingerprints
    for day_dir in sorted(p for p in tickets_dir.iterdir() if p.is_dir()):
        stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in ticket_files(day_dir)]
        if stats:
            fingerprints[day_dir.name] = hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]
    return fingerprints


def _file_fingerprints(files: list[Path]) -> dict[str, str]:
    return {f.name: f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files}


def build_sensors(
    settings: Settings, daily_tickets_job: UnresolvedAssetJobDefinition, reviews_job: UnresolvedAssetJobDefinition
) -> list[dg.SensorDefinition]:
    """The landing-files, reviews and run-failure sensors, watching the settings' data directory."""

    @dg.sensor(
        job=daily_tickets_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a daily_tickets_job run for each landing/tickets/<day>/ whose files are new or changed.",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext):
        tickets_dir = settings.landing_dir / "tickets"
        seen = json.loads(context.cursor) if context.cursor else {}
        current = day_fingerprints(tickets_dir)
        daily_partitions = daily_tickets_job.partitions_def
        valid_days = set(daily_partitions.get_partition_keys())
        for day, fingerprint in current.items():
            if seen.get(day) == fingerprint:
                continue
            if day not in valid_days:
                context.log.warning(f"landing/tickets/{day}/ is not a partition of {daily_partitions}; skipped")
                continue
            # The run key includes the fingerprint: the same files never run twice, changed files run again.
            yield dg.RunRequest(
                partition_key=day, run_key=f"{day}:{fingerprint}", tags={"ai_assets/trigger": "landing_files"}
            )
        context.update_cursor(json.dumps(current, sort_keys=True))

    @dg.sensor(
        job=reviews_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a reviews_job run for each day whose tickets got a new or changed decision "
        "in landing/reviews/.",
    )
    def reviews_sensor(context: dg.SensorEvaluationContext):
        reviews_dir = settings.landing_dir / "reviews"
        seen = json.loads(context.cursor) if context.cursor else {}
        current = _file_fingerprints(review_files(reviews_dir))
        changed = {name for name, fingerprint in current.items() if seen.get(name) != fingerprint}
        if not changed:
            return
        decisions, _ = read_review_decisions(reviews_dir)
        decided = decisions.filter(pl.col("source_file").is_in(list(changed))).unique(["ticket_id", "created_date"])
        days: list[str] = []
        if decided.height and settings.warehouse_path.exists():
            params = {"ticket_ids": decided["ticket_id"].to_list(), "days": decided["created_date"].to_list()}
            named = query_read_only(settings.warehouse_path, sql_file(__file__, "decided_days"), params)
            days = sorted(set(named["days"].explode().drop_nulls().to_list()))
            unknown = named.filter(pl.col("days").list.len() == 0).height
            if unknown:
                context.log.warning(
                    f"{unknown} reviewed tickets are not in raw_tickets; they decide nothing (see review_decisions)"
                )
        batch = hashlib.sha256(json.dumps(sorted((n, current[n]) for n in changed)).encode()).hexdigest()[:16]
        for day in days:
            yield dg.RunRequest(
                partition_key=day, run_key=f"reviews:{day}:{batch}", tags={"ai_assets/trigger": "reviews"}
            )
        context.update_cursor(json.dumps(current, sort_keys=True))

    @dg.run_failure_sensor(
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Appends every failed run to <data_dir>/logs/run_failures.jsonl and logs it as an error.",
    )
    def run_failures_sensor(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        record = {
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": run.run_id,
            "job": run.job_name,
            "partition": run.tags.get("dagster/partition"),
            "error": context.failure_event.message,
        }
        log_path = settings.data_dir / "logs" / "run_failures.jsonl"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        context.log.error(f"Run {run.run_id} of {run.job_name} failed ({record['partition']}): {record['error']}")

    return [landing_files_sensor, reviews_sensor, run_failures_sensor]
