"""Landing files split into tickets and quarantine: every physical record once, each problem with its reason."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from ai_assets.extract.landing import parse_csv, parse_jsonl
from ai_assets.extract.tickets import build_raw_tickets

DAY = date(2026, 11, 1)
GOOD = {
    "ticket_id": "T-1",
    "customer_id": "C-1",
    "created_at": "2026-11-01T08:00:00Z",
    "channel": "web",
    "subject": "Where is my parcel?",
    "body": "It has not arrived.",
}
HEADER = ",".join(GOOD)


def _line(**changes) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


# a.jsonl, line by line: what each line is.
JSONL_LINES = [
    _line(),  # 1: good, T-1
    b'{"ticket_id": "T-2", "body": ',  # 2: malformed JSON
    b"[1, 2]",  # 3: not an object
    _line(ticket_id="T-4", customer_id=42),  # 4: wrong type
    _line(ticket_id="T-5", created_at="yesterday"),  # 5: bad timestamp
    _line(ticket_id="T-6", body="caf\xe9").replace(b"caf\\u00e9", b"caf\xe9"),  # 6: Latin-1 byte, not UTF-8
    b"",  # 7: blank, not a record
    _line(ticket_id="T-1", body="a second copy"),  # 8: duplicate of line 1
    _line(ticket_id="T-9", created_at="2026-11-02T00:30:00Z"),  # 9: another day
    _line(ticket_id="T-10", unknown_field="ignored"),  # 10: good
]
# b.csv: header, then records (line numbers as csv counts them).
CSV_TEXT = (
    f"{HEADER}\n"
    "T-1,C-1,2026-11-01T09:00:00Z,web,s,copy in a later file\n"  # 2: duplicate of a.jsonl line 1
    "T-11,C-1,2026-11-01T09:00:00Z,chat,s,b,EXTRA\n"  # 3: one field too many
    "T-12,C-1,2026-11-01T09:00:00Z,chat,s,\xff\n"  # 4: not UTF-8
    'T-13,C-1,2026-11-01T09:00:00Z,email,s,"two\nlines"\n'  # 5-6: good, one record over two lines
)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    day_dir = tmp_path / "tickets" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "a.jsonl").write_bytes(b"\n".join(JSONL_LINES) + b"\n")
    (day_dir / "b.csv").write_bytes(CSV_TEXT.encode("utf-8").replace("\xff".encode(), b"\xff"))
    return tmp_path


def _reasons(landing: Path) -> dict[tuple[str, int], str]:
    quarantine = build_raw_tickets(landing, DAY).quarantine
    return {(r["source_file"].split("/")[-1], r["source_line"]): r["reason"] for r in quarantine.iter_rows(named=True)}


def test_every_physical_record_lands_once_in_tickets_or_quarantine(landing: Path):
    result = build_raw_tickets(landing, DAY)
    located = [
        (r["source_file"].split("/")[-1], r["source_line"])
        for frame in (result.tickets, result.quarantine)
        for r in frame.iter_rows(named=True)
    ]
    jsonl_records = [("a.jsonl", n) for n in range(1, 11) if n != 7]
    csv_records = [("b.csv", n) for n in (2, 3, 4, 6)]
    assert sorted(located) == sorted(jsonl_records + csv_records)
    assert result.records == len(located) and result.files == 2
    assert result.tickets["ticket_id"].to_list() == ["T-1", "T-10", "T-13"]
    assert result.tickets.filter(ticket_id="T-13")["body"].item() == "two\nlines"


@pytest.mark.parametrize(
    ("where", "words"),
    [
        (("a.jsonl", 2), "malformed JSON"),
        (("a.jsonl", 3), "expected a JSON object, got list"),
        (("a.jsonl", 4), "customer_id must be a string, got int 42"),
        (("a.jsonl", 5), "created_at 'yesterday' is not an ISO 8601 timestamp"),
        (("a.jsonl", 6), "not valid UTF-8 (byte 0xe9 at offset"),
        (("a.jsonl", 8), "duplicate ticket_id: kept the copy at tickets/2026-11-01/a.jsonl:1"),
        (("a.jsonl", 9), "created_at must fall on 2026-11-01"),
        (("b.csv", 2), "duplicate ticket_id: kept the copy at tickets/2026-11-01/a.jsonl:1"),
        (("b.csv", 3), "CSV row has 1 more fields than the header"),
        (("b.csv", 4), "not valid UTF-8 (byte 0xff at offset"),
    ],
)
def test_each_problem_is_quarantined_with_its_reason(landing: Path, where: tuple[str, int], words: str):
    assert words in _reasons(landing)[where]


def test_a_badly_encoded_line_costs_only_that_line(landing: Path):
    jsonl = {r.source_line: r for r in parse_jsonl(landing / "tickets" / DAY.isoformat() / "a.jsonl", "a.jsonl")}
    assert [n for n, r in jsonl.items() if r.reason and "UTF-8" in r.reason] == [6]
    assert "re-export the file as UTF-8" in jsonl[6].reason and "\\xe9" in jsonl[6].raw_record
    assert jsonl[1].fields["created_at"] == datetime(2026, 11, 1, 8, 0)  # naive UTC
    assert "unknown_field" not in jsonl[10].fields  # unknown fields are ignored

    csv_records = {r.source_line: r for r in parse_csv(landing / "tickets" / DAY.isoformat() / "b.csv", "b.csv")}
    assert {n: r.reason is None for n, r in csv_records.items()} == {2: True, 3: False, 4: False, 6: True}
    assert csv_records[4].ticket_id == "T-12"  # a quarantined row can still be found by its id


def test_an_empty_cell_is_a_missing_value(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(f"{HEADER}\nT-1,C-1,2026-11-01T09:00:00Z,web,,b\n")
    (record,) = parse_csv(path, "t.csv")
    assert record.reason is None and record.fields["subject"] is None


def test_a_csv_record_the_csv_module_cannot_read_costs_only_itself(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(
        f'{HEADER}\nT-1,C-1,2026-11-01T09:00:00Z,web,s,"{"x" * 200_000}"\nT-2,C-1,2026-11-01T09:00:00Z,web,s,b\n'
    )
    records = {r.source_line: r for r in parse_csv(path, "t.csv")}
    assert "unreadable CSV record: field larger than field limit" in records[2].reason
    assert records[3].reason is None and records[3].fields["ticket_id"] == "T-2"
