"""Extract on its own: every landing record ends up in raw_tickets or in quarantine with a reason."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.sample_data.generator import generate_sample_data

DAY = date(2026, 11, 1)

# Each kind of bad record the sample data injects, and the words its quarantine reason must carry.
REASON_BY_KIND = {
    "malformed_json": "malformed JSON",
    "missing_field": "is missing or null",
    "wrong_type": "must be a string, got int",
    "invalid_value": ("(got 'fax')", "is not an ISO 8601 timestamp"),
    "empty_body": "body: must not be empty or whitespace",
    "duplicate_within_file": "duplicate ticket_id: kept the copy at tickets/2026-11-01/tickets-a.jsonl",
    "wrong_encoding": "not valid UTF-8",
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    summary = generate_sample_data(data_dir, days=1)
    return data_dir / "landing", summary.expectations[DAY.isoformat()]


def test_every_record_is_accounted_for_exactly_once(landing):
    landing_dir, expected = landing
    result = build_raw_tickets(landing_dir, DAY)
    assert result.records == expected.records_total
    assert result.tickets.height == expected.valid_unique
    assert result.tickets.height + result.quarantine.height == result.records
    assert result.tickets["ticket_id"].is_unique().all()
    located = result.quarantine.select("source_file", "source_line").vstack(
        result.tickets.select("source_file", "source_line")
    )
    assert located.is_unique().all(), "a record landed twice"


@pytest.mark.parametrize("kind", sorted(REASON_BY_KIND))
def test_each_kind_of_bad_record_has_its_reason(landing, kind):
    landing_dir, expected = landing
    reasons = build_raw_tickets(landing_dir, DAY).quarantine["reason"].to_list()
    needles = REASON_BY_KIND[kind] if isinstance(REASON_BY_KIND[kind], tuple) else (REASON_BY_KIND[kind],)
    found = sum(any(n in r for n in needles) for r in reasons)
    # Duplicates within and across files share one reason wording (both name the kept copy).
    expected_count = expected.bad[kind] + (
        expected.bad["duplicate_across_files"] if kind == "duplicate_within_file" else 0
    )
    assert found == expected_count, (kind, reasons)


def test_hostile_but_valid_records_pass(landing):
    landing_dir, expected = landing
    tickets = build_raw_tickets(landing_dir, DAY).tickets
    assert tickets.filter(tickets["body_chars"] == 50_000).height == expected.hostile["huge_body"]
    assert tickets.filter(tickets["body"].str.contains("<p>")).height >= 1
    assert tickets.filter(tickets["body"].str.contains("Ignore all previous instructions")).height >= 1
    assert tickets.filter(tickets["body"].str.contains("4111 1111 1111 1111")).height >= 1


def test_wrong_day_and_extra_csv_fields_are_quarantined(tmp_path):
    day_dir = tmp_path / "tickets" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    good = {
        "ticket_id": "T-1",
        "customer_id": "C-1",
        "created_at": "2026-11-01T08:00:00+02:00",
        "channel": "web",
        "subject": "s",
        "body": "b",
    }
    late = {**good, "ticket_id": "T-2", "created_at": "2026-11-02T10:00:00Z"}
    (day_dir / "a.jsonl").write_text("\n".join(json.dumps(r) for r in (good, late, [1, 2])) + "\n")
    (day_dir / "b.csv").write_text(
        "ticket_id,customer_id,created_at,channel,subject,body\nT-3,C-1,2026-11-01T09:00:00Z,web,s,b,EXTRA\n"
    )

    result = build_raw_tickets(tmp_path, DAY)

    assert result.tickets["ticket_id"].to_list() == ["T-1"]  # 08:00+02:00 is 06:00 UTC on the day
    reasons = {
        (r["source_file"].split("/")[-1], r["source_line"]): r["reason"]
        for r in result.quarantine.iter_rows(named=True)
    }
    assert "must fall on 2026-11-01" in reasons[("a.jsonl", 2)]
    assert "expected a JSON object" in reasons[("a.jsonl", 3)]
    assert "more fields than the header" in reasons[("b.csv", 2)]


def test_a_missing_day_is_empty_not_an_error(tmp_path):
    result = build_raw_tickets(tmp_path, DAY)
    assert result.files == 0 and result.tickets.height == 0 and result.quarantine.height == 0


def test_bad_crm_rows_and_kb_files_are_quarantined(tmp_path):
    from ai_assets.extract.crm import read_customers
    from ai_assets.extract.knowledge_base import read_kb_articles

    crm = tmp_path / "customers.csv"
    crm.write_text(
        "customer_id,name,email,tier,region,signup_date\n"
        "C-1,Ana,ana@example.com,pro,EMEA,2025-01-02\n"
        "C-2,Bo,bo@example.com,platinum,NA,2025-01-02\n"
        "C-1,Ana again,ana@example.com,free,EMEA,not a date\n"
    )
    customers, rejects = read_customers(crm)
    assert customers["customer_id"].to_list() == ["C-1"] and customers["tier"].to_list() == ["pro"]
    reasons = dict(zip(rejects["source_line"].to_list(), rejects["reason"].to_list()))
    assert "tier" in reasons[3] and "platinum" in reasons[3]
    assert reasons[4].startswith("duplicate customer_id")

    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "good.md").write_text(
        "---\narticle_id: kb-1\ntitle: Refunds\ncategory: billing\n---\n# Refunds\nWithin 30 days."
    )
    (kb / "empty.md").write_text("")
    (kb / "odd.md").write_text("---\narticle_id: kb-2\ntitle: Odd\ncategory: astrology\n---\n# Odd\ntext")
    articles, rejected = read_kb_articles(kb)
    assert articles["article_id"].to_list() == ["kb-1"]
    reasons = dict(zip(rejected["source_file"].to_list(), rejected["reason"].to_list()))
    assert "body" in reasons["kb/empty.md"] and "astrology" in reasons["kb/odd.md"]


def test_a_missing_crm_export_says_what_to_do(tmp_path):
    from ai_assets.extract.crm import read_customers

    with pytest.raises(FileNotFoundError, match="customers.csv"):
        read_customers(tmp_path / "customers.csv")
