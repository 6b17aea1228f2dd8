"""Every landing record accounted for: a poison record costs itself, an unreadable file is one
quarantine row with the reason, CSV headers are checked, byte-order marks are stripped, a bad byte
costs its line, and every file a reader does not read is reported (quarantine row, step log and
landing sensor)."""

from __future__ import annotations

import gzip
import json
import logging
import os
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.config import Settings
from ai_assets.definitions import build_definitions
from ai_assets.defs.landing.assets import build_raw_tickets_asset
from ai_assets.defs.outbox.assets import review_decisions
from ai_assets.defs.reference.assets import customers, kb_articles
from ai_assets.extract.crm import read_customers
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.extract.reviews import read_review_decisions
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.partitions import Daily
from ai_assets_tests.conftest import DAY_1, DAY_2, configure_env

DAY = date.fromisoformat(DAY_1)
GOOD = {
    "ticket_id": "T-1",
    "customer_id": "C-1",
    "created_at": f"{DAY_1}T08:00:00Z",
    "channel": "web",
    "subject": "Where is my parcel?",
    "body": "It has not arrived.",
}
HEADER = ",".join(GOOD)
BOM = b"\xef\xbb\xbf"
CRM_HEADER = "customer_id,name,email,tier,region,signup_date\n"
# Deeper than any recursion limit: json.loads raises RecursionError on it.
NESTED = b"[" * 100_000 + b"]" * 100_000


def _ticket(ticket_id: str, **changes) -> dict:
    return {**GOOD, "ticket_id": ticket_id, **changes}


def _jsonl(*records: dict | bytes) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def _csv_row(ticket_id: str, body: str = "b") -> str:
    return f"{ticket_id},C-1,{DAY_1}T09:00:00Z,chat,s,{body}\n"


def _day_dir(landing: Path, day: str = DAY_1) -> Path:
    day_dir = landing / "tickets" / day
    day_dir.mkdir(parents=True, exist_ok=True)
    return day_dir


def _where(result) -> dict[tuple[str, int], str | None]:
    """(file name, line) -> quarantine reason, or None for a ticket; every record once."""
    rows = [((r["source_file"].split("/")[-1], r["source_line"]), r["reason"]) for r in result.quarantine.to_dicts()]
    rows += [((r["source_file"].split("/")[-1], r["source_line"]), None) for r in result.tickets.to_dicts()]
    assert len(rows) == len(dict(rows)) == result.records, "a record is missing or doubled"
    return dict(rows)


# --- a poison record costs that record only ---------------------------------------------------


def test_a_deeply_nested_json_record_is_quarantined_alone(tmp_path: Path):
    nested_field = b'{"ticket_id": "T-3", "body": ' + NESTED + b"}"
    (_day_dir(tmp_path) / "a.jsonl").write_bytes(_jsonl(_ticket("T-1"), NESTED, nested_field, _ticket("T-4")))

    where = _where(build_raw_tickets(tmp_path, DAY))

    assert where[("a.jsonl", 1)] is None and where[("a.jsonl", 4)] is None
    for line in (2, 3):
        assert where[("a.jsonl", line)].startswith("JSON nested too deeply to read (RecursionError)")


def test_a_deeply_nested_review_decision_is_rejected_alone(tmp_path: Path):
    (tmp_path / "batch.jsonl").write_bytes(
        _jsonl({"ticket_id": "T-1", "decision": "approve", "reviewer": "ana"}, NESTED)
    )
    decisions, rejects = read_review_decisions(tmp_path)
    assert decisions["ticket_id"].to_list() == ["T-1"]
    assert rejects.select("source_file", "source_line").rows() == [("batch.jsonl", 2)]
    assert "nested too deeply" in rejects["reason"].item()


def test_a_csv_cell_over_the_field_limit_costs_only_its_record(tmp_path: Path):
    # A quoted cell over csv's field limit, spread over many lines: the lines after the limit are
    # not records of their own, and the record after it is read as usual.
    huge = '"' + "\n".join("y" * 1000 for _ in range(200)) + '"'
    (_day_dir(tmp_path) / "b.csv").write_text(f"{HEADER}\n" + _csv_row("T-1", huge) + _csv_row("T-2"))

    result = build_raw_tickets(tmp_path, DAY)
    where = _where(result)

    assert result.records == 2 and result.tickets["ticket_id"].to_list() == ["T-2"]
    (reason,) = [r for r in where.values() if r is not None]
    assert reason.startswith("unreadable CSV record: field larger than field limit (131072)")
    assert result.quarantine["ticket_id"].to_list() == ["T-1"]  # still found by its id


def test_a_quote_never_closed_does_not_swallow_the_rest_of_the_file(tmp_path: Path):
    (_day_dir(tmp_path) / "b.csv").write_text(f"{HEADER}\n" + _csv_row("T-1", '"oops') + _csv_row("T-2"))

    result = build_raw_tickets(tmp_path, DAY)

    assert result.tickets.height == 0  # T-1's body is not "oops\nT-2,C-1,..."
    (row,) = result.quarantine.to_dicts()
    assert "a quoted field is never closed" in row["reason"] and "T-2" in row["raw_record"]


# --- whole files: headers, compression, unreadable files -----------------------------------


def test_a_csv_without_a_header_is_one_quarantine_row_for_the_file(tmp_path: Path):
    day_dir = _day_dir(tmp_path)
    (day_dir / "a.jsonl").write_bytes(_jsonl(_ticket("T-9")))
    (day_dir / "b.csv").write_text(_csv_row("T-1") + _csv_row("T-2"))

    result = build_raw_tickets(tmp_path, DAY)
    where = _where(result)

    assert result.tickets["ticket_id"].to_list() == ["T-9"]
    assert sorted(where) == [("a.jsonl", 1), ("b.csv", 0)]  # line 0: the file as a whole
    assert where[("b.csv", 0)] == (
        "header missing or unrecognised: expected columns ticket_id, customer_id, created_at, channel, subject, "
        f"body, got T-1, C-1, {DAY_1}T09:00:00Z, chat, s, b; the file is not read (1 row after the header)"
    )


def test_a_header_without_a_required_column_names_it(tmp_path: Path):
    (_day_dir(tmp_path) / "b.csv").write_text("ticket_id,customer_id,created_at,subject,body\nT-1,C-1,x,s,b\n")
    (reviews := tmp_path / "reviews").mkdir()
    (reviews / "r.csv").write_text("T-1,approve,ana\n")

    (row,) = build_raw_tickets(tmp_path, DAY).quarantine.to_dicts()
    decisions, rejects = read_review_decisions(reviews)

    assert row["source_line"] == 0 and "(missing channel)" in row["reason"]
    assert decisions.height == 0 and rejects["source_line"].to_list() == [0]
    assert rejects["reason"].item().startswith("header missing or unrecognised: expected columns ticket_id,")


def test_gzip_and_any_letter_case_are_read_and_a_broken_gzip_is_one_row(tmp_path: Path):
    day_dir = _day_dir(tmp_path)
    (day_dir / "a.JSONL").write_bytes(_jsonl(_ticket("T-1")))
    (day_dir / "b.jsonl.gz").write_bytes(gzip.compress(_jsonl(_ticket("T-2"))))
    (day_dir / "c.CSV.GZ").write_bytes(gzip.compress((HEADER + "\n" + _csv_row("T-3")).encode()))
    (day_dir / "d.jsonl.gz").write_bytes(gzip.compress(_jsonl(_ticket("T-4")))[:-12])  # cut short

    result = build_raw_tickets(tmp_path, DAY)
    where = _where(result)

    assert result.tickets["ticket_id"].to_list() == ["T-1", "T-2", "T-3"] and result.files == 4
    assert where[("d.jsonl.gz", 0)].startswith("cannot be read as gzip")


def test_every_file_a_reader_does_not_read_is_one_quarantine_row_with_the_reason(tmp_path: Path):
    day_dir = _day_dir(tmp_path)
    (day_dir / "a.jsonl").write_bytes(_jsonl(_ticket("T-1")))
    (day_dir / "b.json").write_bytes(_jsonl(_ticket("T-2")))
    (day_dir / "notes.txt.gz").write_bytes(gzip.compress(b"hello"))
    (day_dir / "README").write_text("hello")
    (day_dir / "gone.jsonl").symlink_to(day_dir / "nowhere.jsonl")
    (day_dir / "later").mkdir()
    (day_dir / "later" / "c.jsonl").write_bytes(_jsonl(_ticket("T-3")))
    os.mkfifo(day_dir / "pipe.jsonl")  # never opened: reading it would wait forever

    result = build_raw_tickets(tmp_path, DAY)
    where = _where(result)

    expected = "landing files are .jsonl or .csv, optionally gzip-compressed (.jsonl.gz, .csv.gz), in any letter case"
    assert where == {
        ("a.jsonl", 1): None,
        ("b.json", 0): f"unsupported extension .json; {expected}",
        ("notes.txt.gz", 0): f"unsupported extension .txt.gz; {expected}",
        ("README", 0): f"no extension; {expected}",
        ("gone.jsonl", 0): f"a broken symbolic link (to {day_dir / 'nowhere.jsonl'}); nothing to read",
        ("later", 0): "a folder; only the files directly in the landing folder are read",
        ("pipe.jsonl", 0): "not a regular file (a pipe, socket or device); nothing to read",
    }
    assert set(result.quarantine["created_date"].to_list()) == {DAY}  # the day of the folder
    assert result.files == 1 and len(result.files_not_read) == 6


# --- the asset: real materialisations, step log, reruns ------------------------------------


def _materialize(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_raw_tickets_asset(Daily.from_settings(settings.project))],
        partition_key=DAY_1,
        instance=instance,
        resources={
            "landing": DataDirResource(data_dir=str(settings.data_dir)),
            "warehouse": settings.warehouse,
        },
    )


def test_raw_tickets_quarantines_poison_and_unread_files_logs_them_and_never_doubles(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    day_dir = _day_dir(settings.landing_dir)
    (day_dir / "a.jsonl").write_bytes(_jsonl(_ticket("T-1"), NESTED))
    (day_dir / "b.json").write_bytes(_jsonl(_ticket("T-2")))
    (day_dir / "c.csv").write_text(_csv_row("T-3"))

    with dg.instance_for_test() as instance:
        for _ in range(2):  # a rerun replaces the day: nothing doubles
            result = _materialize(settings, instance)
            assert result.success
            with settings.warehouse.lake.connect(read_only=True) as conn:
                tickets = conn.execute("select ticket_id from raw_tickets").fetchall()
                quarantine = conn.execute(
                    "select created_date, source_file, source_line from raw_tickets_quarantine order by all"
                ).fetchall()
            assert tickets == [("T-1",)]
            assert quarantine == [
                (DAY, f"tickets/{DAY_1}/a.jsonl", 2),
                (DAY, f"tickets/{DAY_1}/b.json", 0),
                (DAY, f"tickets/{DAY_1}/c.csv", 0),
            ]
        warnings = [
            e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING and e.user_message
        ]
    for name, words in (("b.json", "unsupported extension .json"), ("c.csv", "header missing or unrecognised")):
        assert any(f"tickets/{DAY_1}/{name} not read: {words}" in w for w in warnings), warnings


# --- the landing sensor --------------------------------------------------------------------


def _evaluate_sensor(settings: Settings, cursor: str | None) -> tuple[list[dg.RunRequest], str | None, list[str]]:
    context = dg.build_sensor_context(cursor=cursor)
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    context.log.addHandler(handler)
    sensor = build_definitions(settings).resolve_sensor_def("landing_files_sensor")
    requests = list(sensor(context) or [])
    return requests, context.cursor, warnings


def test_the_landing_sensor_sees_the_files_it_does_not_read(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    tickets = settings.landing_dir / "tickets"
    (_day_dir(settings.landing_dir, DAY_1) / "export.json").write_bytes(_jsonl(_ticket("T-1")))
    (_day_dir(settings.landing_dir, DAY_2) / "gone.jsonl").symlink_to(tickets / "nowhere.jsonl")
    (tickets / "stray.jsonl").write_bytes(_jsonl(_ticket("T-2")))

    requests, cursor, warnings = _evaluate_sensor(settings, None)

    # Each day runs, so its unread files get their quarantine rows; the sensor says why it skips them.
    assert sorted(r.partition_key for r in requests) == [DAY_1, DAY_2]
    assert any(f"landing/tickets/{DAY_1}/export.json is not read: unsupported extension .json" in w for w in warnings)
    assert any(f"landing/tickets/{DAY_2}/gone.jsonl is not read: a broken symbolic link" in w for w in warnings)
    assert any("landing/tickets/stray.jsonl is not read: not in a day folder" in w for w in warnings), warnings

    assert _evaluate_sensor(settings, cursor)[::2] == ([], [])  # nothing new: no run, no repeated warning


# --- byte-order marks and bad bytes ---------------------------------------------------------


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.csv"])
def test_a_byte_order_mark_is_stripped(tmp_path: Path, name: str):
    data = BOM + (_jsonl(_ticket("T-1")) if ".jsonl" in name else f"{HEADER}\n{_csv_row('T-1')}".encode())
    (_day_dir(tmp_path) / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    result = build_raw_tickets(tmp_path, DAY)

    assert result.quarantine.height == 0 and result.tickets["ticket_id"].to_list() == ["T-1"]


def test_a_kb_article_with_a_byte_order_mark_keeps_its_front_matter(tmp_path: Path):
    (tmp_path / "refunds.md").write_bytes(
        BOM + b"---\narticle_id: kb-1\ntitle: Refunds\ncategory: billing\n---\n# Refunds\nWithin 30 days."
    )
    articles, rejected = read_kb_articles(tmp_path)
    assert rejected.height == 0 and articles.select("article_id", "category").rows() == [("kb-1", "billing")]


def test_a_cp1252_byte_in_a_csv_header_costs_no_row(tmp_path: Path):
    # An extra column the contract does not know, named in cp1252: ignored, like any unknown field.
    header = f"{HEADER},Qualit\xe4t\n".encode("cp1252")
    (_day_dir(tmp_path) / "b.csv").write_bytes(header + f"{_csv_row('T-1')}{_csv_row('T-2')}".encode())

    result = build_raw_tickets(tmp_path, DAY)

    assert result.quarantine.height == 0 and result.tickets["ticket_id"].to_list() == ["T-1", "T-2"]


def test_a_cp1252_byte_in_the_crm_export_costs_only_its_row(tmp_path: Path):
    crm = tmp_path / "crm"
    crm.mkdir()
    rows = "C-1,Ana,ana@example.com,pro,EMEA,2025-01-02\nC-2,Jos\xe9,jo@example.com,free,EMEA,\nC-3,Bo,,free,NA,\n"
    (crm / "customers.csv").write_bytes(BOM + (CRM_HEADER + rows).encode("cp1252"))

    customers, rejects = read_customers(crm / "customers.csv")

    assert customers["customer_id"].to_list() == ["C-1", "C-3"]  # nothing loaded mangled
    assert rejects.select("source_file", "source_line", "customer_id").rows() == [("crm/customers.csv", 3, "C-2")]
    assert rejects["reason"].item().startswith("not valid UTF-8 (byte 0xe9 at offset")


def test_a_kb_article_not_in_utf8_or_with_unreadable_front_matter_is_quarantined_alone(tmp_path: Path):
    (tmp_path / "good.md").write_text("---\narticle_id: kb-1\ntitle: Refunds\ncategory: billing\n---\n# R\nText.")
    (tmp_path / "latin.md").write_bytes("---\narticle_id: kb-2\ntitle: Caf\xe9\n---\n# Caf\xe9\nText.".encode("cp1252"))
    (tmp_path / "deep.md").write_text("---\narticle_id: " + "[" * 50_000 + "]" * 50_000 + "\n---\n# D\nText.")
    (tmp_path / "broken.md").write_text("---\narticle_id: kb-4\ntitle: [unclosed\n---\n# B\nText.")

    articles, rejected = read_kb_articles(tmp_path)
    reasons = dict(rejected.select("source_file", "reason").rows())

    assert articles["article_id"].to_list() == ["kb-1"]
    assert reasons[f"{tmp_path.name}/latin.md"].startswith("not valid UTF-8 (byte 0xe9 at offset")
    assert reasons[f"{tmp_path.name}/deep.md"].startswith("front matter nested too deeply to read")
    assert reasons[f"{tmp_path.name}/broken.md"].startswith("front matter is not valid YAML")


# --- knowledge base and CRM folders ---------------------------------------------------------


def test_kb_and_crm_folders_report_every_file_they_do_not_read(tmp_path: Path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "refunds.MD").write_text("---\narticle_id: kb-1\ntitle: Refunds\ncategory: billing\n---\n# R\nText.")
    (kb / "notes.txt").write_text("draft")
    (kb / "gone.md").symlink_to(kb / "nowhere.md")
    crm = tmp_path / "crm"
    crm.mkdir()
    (crm / "customers.csv").write_text(CRM_HEADER + "C-1,Ana,ana@example.com,pro,EMEA,2025-01-02\n")
    (crm / "customers (1).csv").write_text(CRM_HEADER)

    articles, kb_rejects = read_kb_articles(kb)
    customers, crm_rejects = read_customers(crm / "customers.csv")

    assert articles["article_id"].to_list() == ["kb-1"]
    assert dict(kb_rejects.select("source_file", "reason").rows()) == {
        "kb/gone.md": f"a broken symbolic link (to {kb / 'nowhere.md'}); nothing to read",
        "kb/notes.txt": "unsupported extension .txt; knowledge-base articles are .md files, in any letter case",
    }
    assert customers["customer_id"].to_list() == ["C-1"]
    assert crm_rejects.select("source_file", "source_line", "reason").rows() == [
        (
            "crm/customers (1).csv",
            0,
            "not the CRM export (landing/crm/customers.csv); nothing else in it is read",
        )
    ]


def test_a_crm_export_without_its_header_stops_the_step_saying_what_it_got(tmp_path: Path):
    (tmp_path / "customers.csv").write_text("C-1,Ana,ana@example.com,pro,EMEA,2025-01-02\n")
    with pytest.raises(ValueError, match="header missing or unrecognised: expected columns customer_id, .* got C-1"):
        read_customers(tmp_path / "customers.csv")


def test_reference_assets_log_each_file_they_do_not_load(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    landing = settings.landing_dir
    for folder, name in (("kb", "notes.txt"), ("crm", "customers.xlsx"), ("reviews", "batch.json")):
        (landing / folder).mkdir(parents=True)
        (landing / folder / name).write_text("not read")
    (landing / "crm" / "customers.csv").write_text(CRM_HEADER + "C-1,Ana,ana@example.com,pro,EMEA,2025-01-02\n")

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [customers, kb_articles, review_decisions],
            instance=instance,
            resources={
                "landing": DataDirResource(data_dir=str(settings.data_dir)),
                "warehouse": settings.warehouse,
            },
        )
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert result.success
    for words in (
        "kb/notes.txt not loaded: unsupported extension .txt",
        "crm/customers.xlsx not loaded: not the CRM",
        "batch.json not loaded: unsupported extension .json",
    ):
        assert any(words in w for w in warnings), (words, warnings)
