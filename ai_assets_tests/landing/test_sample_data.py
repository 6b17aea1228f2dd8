"""The sample-data generator: determinism, volumes, and that its answer key matches its files."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from ai_assets.extract.labels import read_label_files
from ai_assets.quality.vocabulary import CATEGORIES, CHANNELS, SENTIMENTS, URGENCIES
from ai_assets.sample_data import BAD_KINDS, HOSTILE_KINDS, generate_sample_data
from ai_assets.sample_data import catalog as catalog_module
from ai_assets.sample_data.__main__ import main
from ai_assets.sample_data.catalog import HOSTILE_SCENARIOS, KB_ARTICLES, PRODUCTS, SCENARIOS
from ai_assets.sample_data.generator import HANDWRITTEN_LABELS

FIELDS = ("ticket_id", "customer_id", "created_at", "channel", "subject", "body")
LABEL_KEYS = {"category", "urgency", "sentiment", "language", "order_id", "product", "kb_article_id"}
FIRST_DAY = "2026-11-01"


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _physical_records(day_dir: Path) -> list[tuple[str, bytes | dict]]:
    """(file name, raw JSONL line or CSV row) for every record of a day, in file-name order."""
    records: list[tuple[str, bytes | dict]] = []
    for path in sorted(day_dir.iterdir()):
        if path.suffix == ".jsonl":
            records += [(path.name, line) for line in path.read_bytes().split(b"\n") if line.strip()]
        else:
            rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
            records += [(path.name, row) for row in rows]
    return records


def _rejection(raw: bytes | dict, day: str) -> str | None:
    """An independent, minimal validator: the bad kind of one record, or None if it is valid."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "wrong_encoding"
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            return "malformed_json"
    else:  # a CSV row: an empty cell is a missing value, except for the body
        record = {k: v for k, v in raw.items() if v != "" or k == "body"}
    if any(record.get(field) is None for field in FIELDS):
        return "missing_field"
    if any(not isinstance(record[field], str) for field in FIELDS):
        return "wrong_type"
    try:
        created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    except ValueError:
        return "invalid_value"
    if record["channel"] not in CHANNELS or created.date().isoformat() != day:
        return "invalid_value"
    if not record["body"].strip():
        return "empty_body"
    return None


def _fields(raw: bytes | dict) -> dict:
    return raw if isinstance(raw, dict) else json.loads(raw)


def test_same_seed_writes_identical_bytes(tmp_path):
    generate_sample_data(tmp_path / "one")
    generate_sample_data(tmp_path / "two")
    first = _all_files(tmp_path / "one")
    assert first == _all_files(tmp_path / "two")
    generate_sample_data(tmp_path / "one")  # a re-run over existing files changes nothing
    assert _all_files(tmp_path / "one") == first
    generate_sample_data(tmp_path / "three", seed=8)
    assert _all_files(tmp_path / "three") != first


def test_default_volumes(tmp_path):
    summary = generate_sample_data(tmp_path)

    assert len(summary.days) >= 7
    assert all(e.valid_unique >= 150 for e in summary.expectations.values())
    customers = _csv_rows(tmp_path / "landing/crm/customers.csv")
    assert len(customers) == summary.customers >= 300
    assert list(customers[0]) == ["customer_id", "name", "email", "tier", "region", "signup_date"]
    assert len({c["customer_id"] for c in customers}) == len(customers)
    assert {c["tier"] for c in customers} == {"free", "pro", "enterprise"}
    products = _csv_rows(tmp_path / "landing/catalog/products.csv")
    assert [(p["product_name"], float(p["price"]), p["connected"] == "true") for p in products] == [
        (p.name, p.price, p.connected) for p in PRODUCTS
    ]

    articles = sorted((tmp_path / "landing/kb").glob("*.md"))
    assert len(articles) == summary.kb_articles >= 20
    for path in articles:
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"---\narticle_id: {path.stem}\ntitle: ")
        assert "\ncategory: " in text and "\n---\n# " in text and "\n## " in text
    assert Counter(a.category for a in KB_ARTICLES).keys() == set(CATEGORIES)
    assert min(Counter(a.category for a in KB_ARTICLES).values()) >= 2

    golden = _jsonl(tmp_path / "eval/golden_tickets.jsonl")
    assert len(golden) == summary.golden_tickets == 120
    assert all(g["ticket_id"].startswith("G-") and set(g["labels"]) == LABEL_KEYS for g in golden)
    assert {g["labels"]["category"] for g in golden} == set(CATEGORIES)


def test_labels_use_the_shared_vocabulary(tmp_path):
    generate_sample_data(tmp_path, days=2)
    kb_ids = {a.article_id for a in KB_ARTICLES}
    labels = _jsonl(tmp_path / "eval/ticket_labels.jsonl")
    golden = [g["labels"] for g in _jsonl(tmp_path / "eval/golden_tickets.jsonl")]
    for label in labels + golden:
        assert label["category"] in CATEGORIES and label["urgency"] in URGENCIES
        assert label["sentiment"] in SENTIMENTS and label["kb_article_id"] in kb_ids
    assert {s.category for s in (*SCENARIOS, *HOSTILE_SCENARIOS.values())} <= set(CATEGORIES)
    assert {label["language"] for label in labels} >= {"en", "es", "de", "fr", "ja"}
    assert Counter(label["language"] for label in labels).most_common(1)[0][0] == "en"
    assert {label["urgency"] for label in labels} == set(URGENCIES)


def test_first_day_has_every_bad_and_hostile_kind(tmp_path):
    summary = generate_sample_data(tmp_path)
    first = summary.expectations[FIRST_DAY]

    assert summary.days[0] == FIRST_DAY
    assert all(first.bad[kind] >= 1 for kind in BAD_KINDS)
    assert all(first.hostile[kind] >= 1 for kind in HOSTILE_KINDS)
    assert first.bad["missing_field"] == first.bad["wrong_type"] == first.bad["invalid_value"] == 2
    assert first.bad["wrong_encoding"] == 4
    written = json.loads((tmp_path / "eval/landing_expectations.json").read_text(encoding="utf-8"))
    assert written == {day: asdict(e) for day, e in summary.expectations.items()}
    later_days = (tmp_path / "landing/tickets" / day for day in summary.days[1:])
    assert not any((day_dir / "tickets-c-legacy.jsonl").exists() for day_dir in later_days)


def test_legacy_file_fails_utf8_on_every_line(tmp_path):
    generate_sample_data(tmp_path, days=1)
    lines = (tmp_path / f"landing/tickets/{FIRST_DAY}/tickets-c-legacy.jsonl").read_bytes().splitlines()

    assert len(lines) == 4
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise AssertionError(f"decodes as UTF-8: {line!r}")
        assert set(json.loads(line.decode("cp1252"))) == set(FIELDS)  # otherwise a valid record


def test_expectations_match_what_the_files_hold(tmp_path):
    summary = generate_sample_data(tmp_path)
    customer_ids = {row["customer_id"] for row in _csv_rows(tmp_path / "landing/crm/customers.csv")}
    labelled = Counter(label["ticket_id"][2:10] for label in _jsonl(tmp_path / "eval/ticket_labels.jsonl"))

    for day, expected in summary.expectations.items():
        records = _physical_records(tmp_path / "landing/tickets" / day)
        kinds: Counter[str] = Counter()
        seen: dict[str, str] = {}  # ticket_id -> file of the kept copy
        for file, raw in records:
            kind = _rejection(raw, day)
            ticket_id = None if kind else _fields(raw)["ticket_id"]
            if ticket_id in seen:
                kind = "duplicate_within_file" if seen[ticket_id] == file else "duplicate_across_files"
            elif ticket_id:
                seen[ticket_id] = file
                assert _fields(raw)["customer_id"] in customer_ids
            kinds[kind or "valid"] += 1

        assert expected.records_total == len(records)
        assert expected.records_total == expected.valid_unique + sum(expected.bad.values())
        assert expected.valid_unique == kinds["valid"] == labelled[day.replace("-", "")]
        assert expected.bad == {kind: kinds[kind] for kind in BAD_KINDS}


def test_hostile_records_are_there(tmp_path):
    generate_sample_data(tmp_path, days=1)
    day_dir = tmp_path / f"landing/tickets/{FIRST_DAY}"
    jsonl_bodies = []
    for line in (day_dir / "tickets-a.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            jsonl_bodies.append(json.loads(line).get("body", ""))
        except json.JSONDecodeError:
            continue
    csv_bodies = [row["body"] for row in _csv_rows(day_dir / "tickets-b.csv")]
    bodies = jsonl_bodies + csv_bodies

    assert sum(len(b) == 50_000 for b in bodies) == 1
    assert any("<a href=" in b and "<br>" in b for b in csv_bodies)
    assert any("😡" in b for b in bodies)
    assert any("4111 1111 1111 1111" in b and "+1 415 555 0134" in b for b in bodies)
    assert any("Ignore all previous instructions" in b for b in bodies)
    assert any("\n" in b and "," in b for b in csv_bodies)


def test_cli_writes_and_summarises(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path / "from-env"))
    main(["--days", "2", "--tickets-per-day", "20", "--seed", "3"])

    out = capsys.readouterr().out
    assert "2 days" in out and "320 customers" in out
    assert (tmp_path / "from-env/landing/tickets/2026-11-02/tickets-a.jsonl").exists()


def _word_runs(ticket: dict, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", f"{ticket['subject']} {ticket['body']}".lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_the_hand_written_labels_ship_with_the_sample_data(tmp_path):
    summary = generate_sample_data(tmp_path, days=1, tickets_per_day=10, golden_size=10)
    shipped = tmp_path / "landing/labels/handwritten.jsonl"
    assert shipped.read_bytes() == HANDWRITTEN_LABELS.read_bytes()
    tickets = _jsonl(shipped)
    assert summary.handwritten_tickets == len(tickets) >= 100
    # Every one a label the triage learns from: none quarantined, none the same ticket as another.
    labels, rejected = read_label_files(tmp_path / "landing/labels")
    assert rejected.is_empty() and labels.height == len(tickets) + summary.golden_tickets
    customers = {c["customer_id"] for c in _csv_rows(tmp_path / "landing/crm/customers.csv")}
    assert {t["customer_id"] for t in tickets} <= customers
    for field, vocabulary in (("category", CATEGORIES), ("urgency", URGENCIES), ("sentiment", SENTIMENTS)):
        assert {t["labels"][field] for t in tickets} == set(vocabulary)
    assert {t["labels"]["language"] for t in tickets} == {"en", "de", "fr", "es", "it", "nl"}
    # Written unlike the templates: no run of five words of a ticket is in the catalog (but for a salutation).
    catalog = _word_runs({"subject": "", "body": Path(catalog_module.__file__).read_text(encoding="utf-8")}, 5)
    overlaps = {" ".join(run) for t in tickets for run in _word_runs(t, 5) & catalog}
    assert overlaps <= {"sehr geehrte damen und herren"}
    # Never like the held-out set (HANDWRITTEN.md, decontamination): read here only to compare against.
    heldout = _jsonl(Path(__file__).parents[2] / "benchmarks/heldout/triage_labels.jsonl")
    heldout_runs = {h["ticket_id"]: _word_runs(h, 5) for h in heldout}
    shared = {
        (t["ticket_id"], hid): len(_word_runs(t, 5) & runs) for t in tickets for hid, runs in heldout_runs.items()
    }
    assert max(shared.values()) <= 1, {pair: n for pair, n in shared.items() if n > 1}

    generate_sample_data(tmp_path / "without", days=1, tickets_per_day=10, golden_size=10, handwritten=False)
    assert not (tmp_path / "without/landing/labels/handwritten.jsonl").exists()
