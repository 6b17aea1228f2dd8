"""A day whose landing files are gone is never emptied: extracting a day with no landing folder
fails naming the path, a day with no files is never written over rows, and emptying a day is an
explicit run tag. For every partitioned landing source (tickets, orders); real materialisations."""

from __future__ import annotations

import json
import shutil

import dagster as dg

from ai_assets.config import Settings
from ai_assets.defs.landing.assets import build_orders_asset, build_raw_tickets_asset
from ai_assets.extract.folder_assets import ALLOW_EMPTY_DAY_TAG
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.partitions import Daily
from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline, configure_env

ALLOW_EMPTY_DAY = {ALLOW_EMPTY_DAY_TAG: "true"}


def _land(settings: Settings, day: str = DAY_1) -> None:
    tickets = settings.landing_dir / "tickets" / day
    orders = settings.landing_dir / "orders" / day
    for folder in (tickets, orders):
        folder.mkdir(parents=True, exist_ok=True)
    records = [
        {
            "ticket_id": f"T-{n}",
            "customer_id": "C-1",
            "created_at": f"{day}T0{n}:00:00Z",
            "channel": "web",
            "subject": "Where is my parcel?",
            "body": "It has not arrived.",
        }
        for n in range(1, 4)
    ]
    (tickets / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    order = {"order_id": "ORD-1", "customer_id": "C-1", "status": "shipped"}
    (orders / "orders.jsonl").write_text(json.dumps(order) + "\n")


def _extract(
    settings: Settings, day: str = DAY_1, tags: dict | None = None, landing: DataDirResource | None = None
) -> dg.ExecuteInProcessResult:
    daily = Daily.from_settings(settings.project)
    return dg.materialize(
        [build_raw_tickets_asset(daily), build_orders_asset(daily)],
        partition_key=day,
        tags=tags,
        raise_on_error=False,
        resources={
            "landing": landing or DataDirResource(data_dir=str(settings.data_dir)),
            "warehouse": settings.warehouse,
        },
    )


def _counts(settings: Settings) -> dict[str, int]:
    with settings.warehouse.lake.connect(read_only=True) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("raw_tickets", "orders")}


def _failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.step_key: e.step_failure_data.error.message for e in result.all_events if e.is_step_failure}


def test_a_day_whose_landing_folders_are_gone_fails_and_keeps_its_rows(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    _land(settings)
    assert _extract(settings).success and _counts(settings) == {"raw_tickets": 3, "orders": 1}

    # A retention job archives the day's files, folders and all.
    archive = tmp_path / "archive"
    for source in ("tickets", "orders"):
        shutil.move(settings.landing_dir / source / DAY_1, archive / source / DAY_1)
    result = _extract(settings)

    assert not result.success
    failures = _failures(result)
    for step, source, rows in (("raw_tickets", "tickets", 3), ("orders", "orders", 1)):
        assert f"no landing folder {settings.landing_dir / source / DAY_1}" in failures[step]
        assert f"holds {rows} rows of {DAY_1}" in failures[step] and "ai_assets/allow_empty_day=true" in failures[step]
    assert _counts(settings) == {"raw_tickets": 3, "orders": 1}  # nothing replaced

    # Files back: the day extracts again, as before.
    for source in ("tickets", "orders"):
        shutil.move(archive / source / DAY_1, settings.landing_dir / source / DAY_1)
    assert _extract(settings).success and _counts(settings) == {"raw_tickets": 3, "orders": 1}


def test_a_second_machine_on_the_same_lake_cannot_empty_a_day(tmp_path, monkeypatch, postgres):
    monkeypatch.setenv("AI_ASSETS_STATE_URL", postgres.new_database())  # the lake's catalog, shared
    first = configure_env(monkeypatch, tmp_path / "first", None)
    _land(first)
    assert _extract(first).success
    monkeypatch.setenv("AI_ASSETS_STORAGE_ROOT", first.warehouse.storage_root)
    second = configure_env(monkeypatch, tmp_path / "second", None)  # no landing/ of its own at all

    result = _extract(second)

    assert not result.success
    assert f"no landing folder {second.landing_dir / 'tickets' / DAY_1}" in _failures(result)["raw_tickets"]
    assert _counts(second) == _counts(first) == {"raw_tickets": 3, "orders": 1}


def test_an_emptied_folder_keeps_the_rows_and_the_run_tag_empties_the_day(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    _land(settings)
    assert _extract(settings).success
    for source in ("tickets", "orders"):  # the files go, the folders stay
        for path in (settings.landing_dir / source / DAY_1).iterdir():
            path.unlink()

    result = _extract(settings)
    assert not result.success
    assert "has no files but the warehouse holds 3 rows" in _failures(result)["raw_tickets"]
    assert _counts(settings) == {"raw_tickets": 3, "orders": 1}

    assert _extract(settings, tags=ALLOW_EMPTY_DAY).success  # emptied on purpose
    assert _counts(settings) == {"raw_tickets": 0, "orders": 0}


def test_a_day_never_landed_needs_its_folder(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    _land(settings)
    result = _extract(settings, DAY_2)
    assert not result.success
    assert f"no landing folder {settings.landing_dir / 'tickets' / DAY_2}" in _failures(result)["raw_tickets"]
    # Not every day has an order export: a day without its folder and without rows is an empty day.
    assert "orders" not in _failures(result)
    # An empty folder is a day with no tickets, on purpose.
    (settings.landing_dir / "tickets" / DAY_2).mkdir()
    assert _extract(settings, DAY_2).success


def test_orders_from_the_order_service_need_no_landing_folder(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    _land(settings)
    shutil.rmtree(settings.landing_dir / "orders")  # no export at all: the source is not used
    result = _extract(settings)
    assert result.success and _counts(settings) == {"raw_tickets": 3, "orders": 0}


def test_a_daily_run_over_a_day_whose_files_are_gone_leaves_the_day_whole(pipeline: Pipeline, tmp_path):
    """The reproduction: a day landed and materialised end to end, its landing folder archived, the
    same day run again: the run fails at extract and no table of the day loses a row."""
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    tables = ("raw_tickets", "ticket_triage", "reply_drafts", "ticket_outcomes")
    before = {t: pipeline.count(t, f"created_date = '{DAY_1}'") for t in tables}
    assert before["raw_tickets"] > 0
    shutil.move(pipeline.settings.landing_dir / "tickets" / DAY_1, tmp_path / DAY_1)

    result = pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, raise_on_error=False
    )

    assert not result.success
    assert "no landing folder" in _failures(result)["raw_tickets"]
    assert {t: pipeline.count(t, f"created_date = '{DAY_1}'") for t in tables} == before
