"""`ai-assets demo` on a landing folder without ticket files: a clear message, or sample data; never a crash."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ai_assets.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path / "data"))
    # The demo exports DAGSTER_HOME for the runs it starts; monkeypatch restores it afterwards.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused_dagster_home"))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AI_ASSETS_CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


@pytest.mark.parametrize("day_folders", [[], ["2026-11-01", "2026-11-02"]])
def test_no_ticket_files_beside_own_crm_data_says_what_to_do(data_dir: Path, day_folders: list[str], capsys):
    tickets = data_dir / "landing" / "tickets"
    tickets.mkdir(parents=True)
    for day in day_folders:
        (tickets / day).mkdir()
    crm = data_dir / "landing" / "crm" / "customers.csv"
    crm.parent.mkdir(parents=True)
    crm.write_text("customer_id,name\nC-1,Our own customer\n")

    assert main(["demo"]) == 1

    message = capsys.readouterr().err
    assert f"No ticket files in {tickets}" in message
    assert "landing/tickets/YYYY-MM-DD/*.jsonl" in message and "ai-assets sample-data" in message
    assert "landing/crm" in message  # what sample data would overwrite
    # Nothing generated, overwritten or run: no ticket files, the CRM export as it was, no Dagster home.
    assert [p for p in tickets.rglob("*") if p.is_file()] == []
    assert crm.read_text() == "customer_id,name\nC-1,Our own customer\n"
    assert not (data_dir / "dagster_home").exists()


def test_only_empty_day_folders_and_nothing_else_generates_sample_data(data_dir: Path, monkeypatch, capsys):
    import ai_assets.cli
    import ai_assets.definitions
    import ai_assets.pipeline

    (data_dir / "landing" / "tickets" / "2026-10-31").mkdir(parents=True)
    materialized = []
    monkeypatch.setattr(
        ai_assets.pipeline,
        "materialize_pipeline",
        lambda instance, days, *args, **kwargs: materialized.append(days) or [],
    )
    monkeypatch.setattr(ai_assets.cli, "print_summary", lambda settings: None)

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a remote model: the full sample week
    assert main(["demo", "--days", "2"]) == 0

    assert (data_dir / "landing" / "crm" / "customers.csv").exists()
    # The sample week ends yesterday (a fresh demo is fresh); the empty folder is no day: the run gets
    # the first two days that have ticket files.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first, second = (str(yesterday - timedelta(days=n)) for n in (6, 5))
    assert materialized == [[first, second]]
    assert f"Materialising the pipeline for 2 days ({first} .. {second})" in capsys.readouterr().out


def test_a_negative_day_count_is_refused(data_dir: Path, capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--days", "-1"])
    assert "not a number of days" in capsys.readouterr().err


def _records_generated(output: str) -> int:
    (line,) = [line for line in output.splitlines() if line.startswith("Generated sample data")]
    return int(re.search(r"(\d+) ticket records", line).group(1))


def test_the_embedded_demo_day_is_small_and_sample_data_writes_the_full_week(data_dir: Path, monkeypatch, capsys):
    import ai_assets.cli
    import ai_assets.definitions
    import ai_assets.pipeline

    monkeypatch.setattr(ai_assets.pipeline, "materialize_pipeline", lambda *args, **kwargs: [])
    monkeypatch.setattr(ai_assets.cli, "print_summary", lambda settings: None)

    assert main(["demo"]) == 0  # no endpoint set: the embedded model, one day sized for it, yesterday
    output = capsys.readouterr().out
    small = _records_generated(output)
    assert ": 1 day (" in output and sorted(p.name for p in (data_dir / "landing" / "tickets").iterdir()) == [
        str(datetime.now(UTC).date() - timedelta(days=1))
    ]
    labels = (data_dir / "landing" / "labels" / "golden.jsonl").read_text().splitlines()
    assert len(labels) == ai_assets.cli.EMBEDDED_DEMO_LABELS  # the demo evaluates on them first
    assert main(["sample-data"]) == 0
    full = _records_generated(capsys.readouterr().out)
    assert full >= 7 * ai_assets.cli.SAMPLE_TICKETS_PER_DAY and small < full / 5
    with pytest.raises(SystemExit):
        main(["sample-data", "--tickets-per-day", "5"])
    assert "at least 10 tickets a day" in capsys.readouterr().err
