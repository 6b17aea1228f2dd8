"""Sensors: new or changed landing files start a run for exactly their day (tickets, and reviewer
decisions for the days of the tickets they decide); failed runs are recorded."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from ai_assets.config import ProjectSettings
from ai_assets.extract.landing import SkippedFile, scan_folder
from ai_assets.extract.remote_landing import Landing
from ai_assets.extract.reviews import read_review_decisions, review_files
from ai_assets.warehouse.partitions import Daily
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.sql import sql_file

# How long a reviewer's decision waits for its ticket to be extracted before the sensor gives it up.
PENDING_AGE = timedelta(days=7)


def _stat(path: Path) -> tuple[str, int, int] | None:
    """(name, size, modification time); a broken link by its own, an entry gone meanwhile as None."""
    try:
        stat = path.stat() if path.exists() else path.lstat()
    except OSError:
        return None
    return path.name, stat.st_size, stat.st_mtime_ns


def _fingerprint(paths: list[Path]) -> str | None:
    stats = [stat for stat in map(_stat, paths) if stat]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16] if stats else None


def landing_entries(tickets_dir: Path) -> dict[str, tuple[str, list[SkippedFile]]]:
    """Each entry of landing/tickets -> a hash of the names, sizes and modification times of what it
    holds, and what of it is not read: for a day folder, its files read and not read alike (a change
    to either runs the day again); for anything else, the entry itself (it is not read at all)."""
    entries = {}
    if not tickets_dir.is_dir():
        return entries
    for entry in sorted(tickets_dir.iterdir()):
        if entry.is_dir():
            folder = scan_folder(entry)
            fingerprint = _fingerprint(folder.files + [s.path for s in folder.skipped])
            skipped = folder.skipped
        else:
            fingerprint = _fingerprint([entry])
            skipped = [SkippedFile(entry, "not in a day folder (landing/tickets/YYYY-MM-DD/)")]
        if fingerprint:
            entries[entry.name] = (fingerprint, skipped)
    return entries


def _file_fingerprints(files: list[Path]) -> dict[str, str]:
    return {f.name: f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files}


def labels_fingerprint(landing_dir: Path) -> str | None:
    """A hash of what the labelled tickets are made of: landing/labels/ (read and not read) and the
    review decisions, which may carry corrections; None with neither."""
    labels = scan_folder(landing_dir / "labels") if (landing_dir / "labels").is_dir() else None
    files = [
        *(labels.files + [s.path for s in labels.skipped] if labels else []),
        *review_files(landing_dir / "reviews"),
    ]
    return _fingerprint(sorted(files))


def build_sensors(
    settings: ProjectSettings, warehouse: WarehouseResource, landing: Landing | None = None
) -> list[dg.SensorDefinition]:
    """The landing-files, reviews, labels and run-failure sensors, watching the landing folders
    (`landing`, which a bucket may fill; by default the settings' data directory)."""
    landing = landing or Landing(settings.landing_dir)

    @dg.sensor(
        job_name="daily_tickets_job",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a daily_tickets_job run for each landing/tickets/<day>/ whose files are new or changed "
        "(the files it reads and the ones it does not, which the run quarantines); warns about every file not read.",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext):
        tickets_dir = landing.refreshed() / "tickets"
        seen = json.loads(context.cursor) if context.cursor else {}
        current = landing_entries(tickets_dir)
        daily_partitions = Daily.from_settings(settings).partitions_def
        valid_days = set(daily_partitions.get_partition_keys())
        for day, (fingerprint, skipped) in current.items():
            if seen.get(day) == fingerprint:
                continue
            # Said once per change (the cursor keeps the fingerprint); in a day folder, the day's run
            # also quarantines each of them.
            for entry in skipped:
                where = entry.path.relative_to(settings.data_dir).as_posix()
                context.log.warning(f"{where} is not read: {entry.reason}")
            if not (tickets_dir / day).is_dir():
                continue
            if day not in valid_days:
                context.log.warning(f"landing/tickets/{day}/ is not a partition of {daily_partitions}; skipped")
                continue
            # The run key includes the fingerprint: the same files never run twice, changed files run again.
            yield dg.RunRequest(
                partition_key=day, run_key=f"{day}:{fingerprint}", tags={"ai_assets/trigger": "landing_files"}
            )
        context.update_cursor(json.dumps({name: entry[0] for name, entry in current.items()}, sort_keys=True))

    @dg.sensor(
        job_name="reviews_job",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a reviews_job run for each day whose tickets got a new or changed decision "
        "in landing/reviews/.",
    )
    def reviews_sensor(context: dg.SensorEvaluationContext):
        reviews_dir = landing.refreshed() / "reviews"
        cursor = json.loads(context.cursor) if context.cursor else {}
        seen, pending = cursor.get("files", cursor), cursor.get("pending", [])  # (an older cursor: files only)
        current = _file_fingerprints(review_files(reviews_dir))
        changed = {name for name, fingerprint in current.items() if seen.get(name) != fingerprint}
        if not changed and not pending:
            return
        decisions, _ = read_review_decisions(reviews_dir)
        decided = decisions.filter(pl.col("source_file").is_in(list(changed))).unique(["ticket_id", "created_date"])
        asked = decided.select("ticket_id", pl.col("created_date").cast(pl.Utf8)).rows()
        asked = sorted(set(asked) | {tuple(p[:2]) for p in pending}, key=str)
        days, unmatched = _decided_days(asked) if asked else ([], [])
        # A decision whose ticket is not extracted yet waits for it (a review may land before its
        # day's run), up to PENDING_AGE; logged when it starts waiting and when it is given up.
        since = {tuple(p[:2]): p[2] for p in pending}
        now = datetime.now(UTC)
        waiting, expired = [], 0
        for pair in unmatched:
            first_seen = since.get(pair, now.isoformat())
            if now - datetime.fromisoformat(first_seen) > PENDING_AGE:
                expired += 1
            else:
                waiting.append([*pair, first_seen])
        new = sum(pair not in since for pair in unmatched)
        if new:
            context.log.warning(
                f"{new} reviewed tickets name no single ticket of raw_tickets yet (not extracted, an unknown id, or an"
                f" id on several days decided without its created_date); they wait up to {PENDING_AGE.days} days"
            )
        if expired:
            context.log.warning(
                f"{expired} reviewed tickets named no ticket of raw_tickets for {PENDING_AGE.days} days: given up"
                " (see review_decisions)"
            )
        # The run key: these files and tickets (a decision that waited starts its own run when it matches).
        batch_of = [sorted((n, current[n]) for n in changed), asked]
        batch = hashlib.sha256(json.dumps(batch_of, default=str).encode()).hexdigest()[:16]
        for day in days:
            yield dg.RunRequest(
                partition_key=day, run_key=f"reviews:{day}:{batch}", tags={"ai_assets/trigger": "reviews"}
            )
        context.update_cursor(json.dumps({"files": current, "pending": waiting}, sort_keys=True))

    def _decided_days(asked: list[tuple[str, str | None]]) -> tuple[list[str], list[tuple[str, str | None]]]:
        """(the days of raw_tickets the decided (ticket_id, created_date) pairs name, the pairs that name none)."""
        if not warehouse.lake.has_table("raw_tickets"):
            return [], asked
        params = {"ticket_ids": [t for t, _ in asked], "days": [d for _, d in asked]}
        named = warehouse.query(sql_file(__file__, "decided_days"), params)
        days = sorted(set(named["days"].explode().drop_nulls().to_list()))
        unmatched = named.filter(pl.col("days").list.len() == 0)
        return days, unmatched.select("ticket_id", pl.col("created_date").cast(pl.Utf8)).rows()

    @dg.sensor(
        job_name="eval_job",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests an eval_job run when landing/labels/ or a reviewer decision changes: the labels are "
        "reloaded (the triage cascade learns from them from the next day on) and the triage re-evaluated.",
    )
    def labels_sensor(context: dg.SensorEvaluationContext):
        fingerprint = labels_fingerprint(landing.refreshed())
        if fingerprint is None or fingerprint == context.cursor:
            return
        context.update_cursor(fingerprint)
        # The run key is the content: the same labels are never evaluated twice by the sensor.
        yield dg.RunRequest(run_key=f"labels:{fingerprint}", tags={"ai_assets/trigger": "labels"})

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

    return [landing_files_sensor, reviews_sensor, labels_sensor, run_failures_sensor]


def build_kb_reviews_sensor(landing: Landing) -> dg.SensorDefinition:
    @dg.sensor(
        job_name="kb_updates_job",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a kb_updates_job run when landing/kb_reviews/ changes: the decisions are applied "
        "and approved article proposals published into landing/kb/.",
    )
    def kb_reviews_sensor(context: dg.SensorEvaluationContext):
        folder = scan_folder(landing.refreshed() / "kb_reviews")
        # Files not read count too: the run quarantines each of them, with the reason.
        fingerprint = _fingerprint(folder.files + [s.path for s in folder.skipped])
        if fingerprint is None or fingerprint == context.cursor:
            return
        context.update_cursor(fingerprint)
        # The run key is the folder's content: the same decisions never run twice.
        yield dg.RunRequest(run_key=f"kb_reviews:{fingerprint}", tags={"ai_assets/trigger": "kb_reviews"})

    return kb_reviews_sensor
