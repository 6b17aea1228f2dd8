"""Seeded, deterministic generator of customer-support landing data and its answer key.

Each part draws from its own `random.Random`, seeded with a string such as "7:day:2026-11-01",
so one day's data stays the same when the number of days or the golden-set size changes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from random import Random
from string import Formatter

from ai_assets.sample_data.catalog import (
    ASIDES,
    CATEGORY_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    GREETINGS,
    HOSTILE_SCENARIOS,
    KB_ARTICLES,
    LAST_NAMES,
    LEGACY_SCENARIOS,
    LOCALE_LANGUAGE,
    LOG_LINES,
    MONTHS,
    PRODUCTS,
    REGION_LOCALES,
    REGION_WEIGHTS,
    RESUBMISSION_NOTES,
    SCENARIOS,
    SIGN_OFFS,
    TIER_WEIGHTS,
    KbArticle,
    Scenario,
)
from ai_assets.sample_data.orders import OrderMention, order_export
from ai_assets.sample_data.reviews import review_lines

BAD_KINDS = (
    "malformed_json",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "empty_body",
    "duplicate_within_file",
    "duplicate_across_files",
    "wrong_encoding",
)
HOSTILE_KINDS = ("huge_body", "html_body", "emoji", "non_english", "pii", "prompt_injection", "csv_multiline")
DUPLICATE_KINDS = ("duplicate_within_file", "duplicate_across_files")

JSONL_FILE = "tickets-a.jsonl"
CSV_FILE = "tickets-b.csv"
LEGACY_FILE = "tickets-c-legacy.jsonl"
LEGACY_ENCODING = "cp1252"
TICKET_COLUMNS = ("ticket_id", "customer_id", "created_at", "channel", "subject", "body")
CUSTOMER_COLUMNS = ("customer_id", "name", "email", "tier", "region", "signup_date")
PRODUCT_COLUMNS = ("product_name", "price", "connected")

CUSTOMER_COUNT = 320
HUGE_BODY_CHARS = 50_000
EXTRA_FIELD_SHARE = 0.15  # JSONL records that carry an unknown `source_system` field
SOURCE_SYSTEMS = ("zendesk", "intercom", "web-form-v2")
OWN_LANGUAGE_SHARE = 0.5  # how often a non-English-speaking customer writes in their own language
ASIDE_SHARE = 0.2
SPRINKLE_SHARE = 0.35  # chance that a later day carries a given bad or hostile kind
# Written by hand, unlike any template (HANDWRITTEN.md); never the held-out set's tickets.
HANDWRITTEN_LABELS = Path(__file__).with_name("handwritten_labels.jsonl")
GOLDEN_DAYS = 28  # golden tickets are dated in the four weeks before the landing data
GOLDEN_HOSTILE_KINDS = ("html_body", "emoji", "non_english", "pii", "prompt_injection", "csv_multiline")

CHANNEL_WEIGHTS = {"email": 45, "chat": 25, "web": 20, "phone": 10}
# Chance of a greeting and of a sign-off: emails have both, chat and phone notes neither.
FRAMING = {"email": (0.85, 0.9), "web": (0.3, 0.5), "chat": (0.0, 0.0), "phone": (0.0, 0.0)}
# Tickets arrive mostly in office hours (UTC), with a thin overnight tail.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 9, 8, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)

# Every variant of a kind appears on the first day; the file says where the broken record lands.
BAD_VARIANTS: dict[str, dict[str, str]] = {
    "malformed_json": {"truncated": JSONL_FILE},
    "missing_field": {"customer_id": JSONL_FILE, "subject": JSONL_FILE},
    "wrong_type": {"ticket_id": JSONL_FILE, "created_at": JSONL_FILE},
    "invalid_value": {"channel": CSV_FILE, "created_at": JSONL_FILE},
    "empty_body": {"empty": JSONL_FILE, "whitespace": CSV_FILE},
}
# (file, channel) of each hostile record.
HOSTILE_LAYOUT = {
    "huge_body": (JSONL_FILE, "email"),
    "html_body": (CSV_FILE, "web"),
    "emoji": (JSONL_FILE, "chat"),
    "non_english": (JSONL_FILE, "email"),
    "pii": (CSV_FILE, "web"),
    "prompt_injection": (JSONL_FILE, "web"),
    "csv_multiline": (CSV_FILE, "email"),
}
CONNECTED_PRODUCTS = tuple(p for p in PRODUCTS if p.connected)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    email: str
    tier: str
    region: str
    signup_date: date
    language: str  # the language they may write in besides English; not part of the CRM export

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0]


@dataclass(frozen=True)
class Labels:
    """The truth a triage model should recover from a ticket."""

    category: str
    urgency: str
    sentiment: str
    language: str
    order_id: str | None
    product: str | None
    kb_article_id: str


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    customer_id: str
    created_at: datetime
    channel: str
    subject: str
    body: str
    labels: Labels

    def record(self) -> dict:
        """The ticket as the landing contract's fields."""
        return {
            "ticket_id": self.ticket_id,
            "customer_id": self.customer_id,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": self.channel,
            "subject": self.subject,
            "body": self.body,
        }


@dataclass(frozen=True)
class DayExpectation:
    """What validating and de-duplicating one landing day should yield.

    `bad` counts rejected records per kind (for duplicates: the extra copies); `hostile` counts
    the deliberately injected valid-but-hostile records, which are part of `valid_unique`.
    """

    day: str
    records_total: int
    valid_unique: int
    bad: dict[str, int]
    hostile: dict[str, int]


@dataclass(frozen=True)
class SampleSummary:
    days: list[str]
    tickets_written: int
    customers: int
    kb_articles: int
    golden_tickets: int
    handwritten_tickets: int
    expectations: dict[str, DayExpectation]


@dataclass(frozen=True)
class _Record:
    """One physical record of a landing file: a JSON object / CSV row, or a raw broken line."""

    file: str
    payload: dict | str
    kind: str | None  # the bad or hostile kind; None for an ordinary ticket


@dataclass(frozen=True)
class _Day:
    day: str
    records: list[_Record]  # each file's records in file order
    labels: list[tuple[str, Labels]]  # (ticket_id, labels) of every valid ticket
    orders: list[OrderMention]  # the orders the day's valid tickets name, for the order system's export

    def expectation(self) -> DayExpectation:
        kinds = Counter(r.kind for r in self.records)
        return DayExpectation(
            day=self.day,
            records_total=len(self.records),
            valid_unique=len(self.labels),
            bad={kind: kinds[kind] for kind in BAD_KINDS},
            hostile={kind: kinds[kind] for kind in HOSTILE_KINDS},
        )


def generate_sample_data(
    data_dir: Path,
    *,
    seed: int = 7,
    start: date = date(2026, 11, 1),
    days: int = 7,
    tickets_per_day: int = 150,
    golden_size: int = 120,
    reviews_per_day: int = 0,
    handwritten: bool = True,
) -> SampleSummary:
    """Write landing data, the KB, the CRM export, the product catalog and the eval answer keys under
    `data_dir`; with `reviews_per_day`, product reviews too (the demo's second domain,
    sample_data/reviews.py). Labelled tickets in landing/labels: `golden_size` generated ones and, with
    `handwritten`, the hand-written ones (HANDWRITTEN.md), realistic text for the triage's proxy to
    learn from."""
    if days < 1 or tickets_per_day < 10 or golden_size < 0:
        # Fewer than 10 tickets leaves too few ordinary JSONL records to duplicate.
        raise ValueError("need days >= 1, tickets_per_day >= 10 and golden_size >= 0")
    data_dir = Path(data_dir)
    customers = build_customers(seed, start)
    built = [
        _build_day(seed, start + timedelta(days=i), customers, tickets_per_day, first_day=i == 0) for i in range(days)
    ]
    golden = _golden_tickets(seed, start, customers, golden_size)
    expectations = {d.day: d.expectation() for d in built}

    landing = data_dir / "landing"
    _write(landing / "crm" / "customers.csv", _customers_csv(customers).encode("utf-8"))
    _write(landing / "catalog" / "products.csv", _products_csv().encode("utf-8"))
    for article in KB_ARTICLES:
        _write(landing / "kb" / f"{article.article_id}.md", _kb_markdown(article).encode("utf-8"))
    for d in built:
        _write_day(landing / "tickets" / d.day, d.records)
        _write(landing / "orders" / d.day / "orders.jsonl", _jsonl(order_export(seed, d.day, d.orders)).encode("utf-8"))
        if reviews_per_day:
            reviews = review_lines(seed, date.fromisoformat(d.day), reviews_per_day)
            _write(landing / "product_reviews" / d.day / "reviews.jsonl", _jsonl(reviews).encode("utf-8"))
    eval_dir = data_dir / "eval"
    golden_lines = _jsonl(_golden_line(t) for t in golden).encode("utf-8")
    _write(eval_dir / "golden_tickets.jsonl", golden_lines)
    # The same set as a labelled-data source: ticket_labels reads landing/labels/.
    _write(landing / "labels" / "golden.jsonl", golden_lines)
    handwritten_lines = HANDWRITTEN_LABELS.read_bytes() if handwritten else b""
    if handwritten_lines:
        _write(landing / "labels" / "handwritten.jsonl", handwritten_lines)
    labels = ({"ticket_id": tid, **asdict(lab)} for d in built for tid, lab in d.labels)
    _write(eval_dir / "ticket_labels.jsonl", _jsonl(labels).encode("utf-8"))
    expectations_json = json.dumps({day: asdict(e) for day, e in expectations.items()}, indent=2)
    _write(eval_dir / "landing_expectations.json", (expectations_json + "\n").encode("utf-8"))

    return SampleSummary(
        days=list(expectations),
        tickets_written=sum(e.records_total for e in expectations.values()),
        customers=len(customers),
        kb_articles=len(KB_ARTICLES),
        golden_tickets=len(golden),
        handwritten_tickets=handwritten_lines.count(b"\n"),
        expectations=expectations,
    )


# --- customers ---------------------------------------------------------------------------


def build_customers(seed: int, start: date, count: int = CUSTOMER_COUNT) -> list[Customer]:
    rng = Random(f"{seed}:customers")
    customers: list[Customer] = []
    taken: set[str] = set()
    for number in range(1, count + 1):
        region = _weighted(rng, REGION_WEIGHTS)
        locale = _weighted(rng, REGION_LOCALES[region])
        first, last = rng.choice(FIRST_NAMES[locale]), rng.choice(LAST_NAMES[locale])
        email = _email(first, last, rng.choice(EMAIL_DOMAINS), number, taken)
        taken.add(email)
        customers.append(
            Customer(
                customer_id=f"C-{number:05d}",
                name=f"{first} {last}",
                email=email,
                tier=_weighted(rng, TIER_WEIGHTS),
                region=region,
                signup_date=start - timedelta(days=rng.randint(14, 5 * 365)),
                language=LOCALE_LANGUAGE[locale],
            )
        )
    return customers


def _email(first: str, last: str, domain: str, number: int, taken: set[str]) -> str:
    local = f"{_ascii(first)}.{_ascii(last)}"
    # Namesakes get the unique customer number appended, as mail providers would force.
    email = f"{local}@{domain}"
    return email if email not in taken else f"{local}{number}@{domain}"


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalnum() or c == "-")


# --- tickets -----------------------------------------------------------------------------


def _ordinary_ticket(
    rng: Random, ticket_id: str, created: datetime, customer: Customer, category: str | None = None
) -> Ticket:
    category = category or _weighted(rng, CATEGORY_WEIGHTS)
    language = customer.language if rng.random() < OWN_LANGUAGE_SHARE else "en"
    scenario = _pick_scenario(rng, category, language)
    return _compose(rng, scenario, ticket_id, created, customer, _weighted(rng, CHANNEL_WEIGHTS), framed=True)


def _pick_scenario(rng: Random, category: str, language: str) -> Scenario:
    candidates = [s for s in SCENARIOS if s.category == category and s.language == language]
    # Not every category has translated templates; those customers write in English.
    candidates = candidates or [s for s in SCENARIOS if s.category == category and s.language == "en"]
    return rng.choices(candidates, weights=[s.weight for s in candidates])[0]


def _hostile_ticket(rng: Random, kind: str, ticket_id: str, created: datetime, customer: Customer) -> Ticket:
    _, channel = HOSTILE_LAYOUT[kind]
    ticket = _compose(rng, HOSTILE_SCENARIOS[kind], ticket_id, created, customer, channel, framed=False)
    if kind == "huge_body":
        ticket = replace(ticket, body=_pasted_log(rng, ticket.body, created))
    return ticket


def _compose(
    rng: Random,
    scenario: Scenario,
    ticket_id: str,
    created: datetime,
    customer: Customer,
    channel: str,
    *,
    framed: bool,
) -> Ticket:
    """Render one of the scenario's subject and body templates; labels follow the fields used."""
    subject_template, body_template = rng.choice(scenario.subjects), rng.choice(scenario.bodies)
    used = _fields(subject_template) | _fields(body_template)
    product = rng.choice(CONNECTED_PRODUCTS if "device" in used else PRODUCTS)
    language = scenario.language
    values = {
        "name": customer.first_name,
        "email": customer.email,
        "order": f"ORD-{rng.randint(10000, 99999)}",
        "product": product.name,
        "device": product.name,
        "amount": _format_amount(product.price, language),
        "order_date": _format_date(created.date() - timedelta(days=rng.randint(2, 20)), language),
    }
    body = body_template.format(**values)
    if framed:
        body = _framed(rng, body, channel, language, customer.first_name)
    labels = Labels(
        category=scenario.category,
        urgency=scenario.urgency,
        sentiment=scenario.sentiment,
        language=language,
        order_id=values["order"] if "order" in used else None,
        product=product.name if used & {"product", "device"} else None,
        kb_article_id=scenario.kb_article_id,
    )
    subject = subject_template.format(**values)
    return Ticket(ticket_id, customer.customer_id, created, channel, subject, body, labels)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _framed(rng: Random, text: str, channel: str, language: str, name: str) -> str:
    """Add the greeting, aside and sign-off people put around their message on this channel."""
    greeting_share, sign_off_share = FRAMING[channel]
    if rng.random() < ASIDE_SHARE:
        text = f"{text} {rng.choice(ASIDES[language])}"
    parts = [text]
    if rng.random() < greeting_share:
        parts.insert(0, rng.choice(GREETINGS[language]))
    if rng.random() < sign_off_share:
        parts.append(rng.choice(SIGN_OFFS[language]).format(name=name))
    return "\n\n".join(parts)


def _pasted_log(rng: Random, intro: str, created: datetime) -> str:
    """The intro followed by an application log, cut to exactly HUGE_BODY_CHARS characters."""
    chunks, size = [intro], len(intro)
    moment, pid, attempt = created - timedelta(hours=3), rng.randint(1000, 9999), 0
    while size < HUGE_BODY_CHARS:
        moment += timedelta(milliseconds=rng.randint(5, 4000))
        attempt = attempt % 20 + 1
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        line = rng.choice(LOG_LINES).format(ts=stamp, pid=pid, n=attempt) + "\n"
        chunks.append(line)
        size += len(line)
    body = "".join(chunks)[:HUGE_BODY_CHARS]
    # A trailing newline would be stripped by any text cleaning and change the length.
    return body if not body[-1].isspace() else body[:-1] + "."


def _format_amount(value: float, language: str) -> str:
    if language == "en":
        return f"${value:,.2f}"
    if language == "ja":
        return f"¥{round(value * 150):,}"
    return f"{value:.2f}".replace(".", ",") + " €"


def _format_date(day: date, language: str) -> str:
    if language == "ja":
        return f"{day.month}月{day.day}日"
    month = MONTHS[language][day.month - 1]
    return {"en": f"{month} {day.day}", "es": f"{day.day} de {month}", "de": f"{day.day}. {month}"}.get(
        language, f"{day.day} {month}"
    )


def _random_time(rng: Random, day: date) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=UTC)


def _weighted(rng: Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# --- one landing day ---------------------------------------------------------------------


def _build_day(seed: int, day: date, customers: list[Customer], tickets_per_day: int, *, first_day: bool) -> _Day:
    rng = Random(f"{seed}:day:{day.isoformat()}")
    slots, duplicate_kinds = _day_plan(rng, tickets_per_day, first_day=first_day)
    # Ids are numbered in arrival order, as a ticketing system would assign them.
    times = sorted(_random_time(rng, day) for _ in slots)
    records: list[_Record] = []
    labels: list[tuple[str, Labels]] = []
    orders: list[OrderMention] = []
    for number, ((kind, variant), created) in enumerate(zip(slots, times), start=1):
        ticket_id = f"T-{day:%Y%m%d}-{number:04d}"
        customer = rng.choice(customers)
        if kind in HOSTILE_KINDS:
            ticket = _hostile_ticket(rng, kind, ticket_id, created, customer)
        elif kind == "wrong_encoding":
            legacy = LEGACY_SCENARIOS[variant]
            ticket = _compose(rng, legacy, ticket_id, created, customer, "email", framed=False)
        else:
            ticket = _ordinary_ticket(rng, ticket_id, created, customer)
        if kind is None or kind in HOSTILE_KINDS:
            labels.append((ticket_id, ticket.labels))
            if ticket.labels.order_id:
                orders.append(
                    OrderMention(ticket.labels.order_id, customer.customer_id, created, ticket.labels.category)
                )
        records.append(_landing_record(rng, ticket, kind, variant))
    return _Day(day.isoformat(), _with_duplicates(rng, records, duplicate_kinds), labels, orders)


def _day_plan(
    rng: Random, tickets_per_day: int, *, first_day: bool
) -> tuple[list[tuple[str | None, str | None]], list[str]]:
    """The (kind, variant) of each new ticket of the day, shuffled, and the duplicates to add.

    An ordinary ticket's variant is the file it lands in: exactly a third go to the CSV file.
    """
    if first_day:
        # Every kind and variant on the first day, so one partition exercises all of them.
        bad = [(kind, variant) for kind, variants in BAD_VARIANTS.items() for variant in variants]
        bad += [("wrong_encoding", language) for language in LEGACY_SCENARIOS]
        hostile = list(HOSTILE_KINDS)
        duplicates = list(DUPLICATE_KINDS)
    else:
        bad = [(k, rng.choice(list(v))) for k, v in BAD_VARIANTS.items() if rng.random() < SPRINKLE_SHARE]
        hostile = [kind for kind in HOSTILE_KINDS if rng.random() < SPRINKLE_SHARE]
        duplicates = [kind for kind in DUPLICATE_KINDS if rng.random() < SPRINKLE_SHARE]
    in_csv = tickets_per_day // 3
    ordinary = [(None, CSV_FILE)] * in_csv + [(None, JSONL_FILE)] * (tickets_per_day - in_csv)
    slots = ordinary + bad + [(kind, None) for kind in hostile]
    rng.shuffle(slots)
    return slots, duplicates


def _landing_record(rng: Random, ticket: Ticket, kind: str | None, variant: str | None) -> _Record:
    payload = ticket.record()
    if kind is None:
        if variant == CSV_FILE:
            return _Record(CSV_FILE, payload, None)
        if rng.random() < EXTRA_FIELD_SHARE:
            payload["source_system"] = rng.choice(SOURCE_SYSTEMS)
        return _Record(JSONL_FILE, payload, None)
    if kind in HOSTILE_KINDS:
        return _Record(HOSTILE_LAYOUT[kind][0], payload, kind)
    if kind == "wrong_encoding":
        return _Record(LEGACY_FILE, payload, kind)
    return _Record(BAD_VARIANTS[kind][variant], _broken(payload, ticket, kind, variant), kind)


def _broken(payload: dict, ticket: Ticket, kind: str, variant: str) -> dict | str:
    """Turn a valid ticket's record into a record that must be rejected for `kind`."""
    if kind == "malformed_json":
        line = json.dumps(payload, ensure_ascii=False)
        # Cut mid-record, as an interrupted export would: the object is never closed.
        return line[: len(line) * 2 // 5]
    if kind == "missing_field":
        del payload[variant]
    elif kind == "wrong_type" and variant == "ticket_id":
        payload["ticket_id"] = int(ticket.ticket_id.removeprefix("T-").replace("-", ""))
    elif kind == "wrong_type":
        payload["created_at"] = int(ticket.created_at.timestamp())
    elif kind == "invalid_value" and variant == "channel":
        payload["channel"] = "fax"
    elif kind == "invalid_value":
        payload["created_at"] = "yesterday afternoon"
    elif kind == "empty_body":
        payload["body"] = "" if variant == "empty" else "  \n\t  "
    return payload


def _with_duplicates(rng: Random, records: list[_Record], kinds: list[str]) -> list[_Record]:
    """Copy distinct ordinary JSONL tickets: again later in the JSONL file, or resubmitted in the CSV."""
    records = list(records)
    candidates = [r for r in records if r.file == JSONL_FILE and r.kind is None]
    for kind, original in zip(kinds, rng.sample(candidates, len(kinds))):
        at = records.index(original)
        if kind == "duplicate_within_file":
            copy = _Record(JSONL_FILE, dict(original.payload), kind)
            records.insert(rng.randint(at + 1, len(records)), copy)
        else:
            # Right after the original keeps the CSV in time order, since the record list is.
            records.insert(at + 1, _Record(CSV_FILE, _resubmitted(rng, original.payload), kind))
    return records


def _resubmitted(rng: Random, payload: dict) -> dict:
    copy = {column: payload[column] for column in TICKET_COLUMNS}
    copy["body"] = f"{copy['body']}\n\n{rng.choice(RESUBMISSION_NOTES)}"
    return copy


# --- golden set --------------------------------------------------------------------------


def _golden_tickets(seed: int, start: date, customers: list[Customer], size: int) -> list[Ticket]:
    """Labelled tickets dated before the landing data; categories are balanced so each is measurable."""
    rng = Random(f"{seed}:golden")
    hostile = list(GOLDEN_HOSTILE_KINDS[:size])
    categories = list(CATEGORY_WEIGHTS)
    slots = [(None, categories[i % len(categories)]) for i in range(size - len(hostile))]
    slots += [(kind, None) for kind in hostile]
    rng.shuffle(slots)
    first = start - timedelta(days=GOLDEN_DAYS)
    times = sorted(_random_time(rng, first + timedelta(days=rng.randrange(GOLDEN_DAYS))) for _ in slots)
    tickets = []
    for number, ((kind, category), created) in enumerate(zip(slots, times), start=1):
        ticket_id, customer = f"G-{number:04d}", rng.choice(customers)
        if kind:
            tickets.append(_hostile_ticket(rng, kind, ticket_id, created, customer))
        else:
            tickets.append(_ordinary_ticket(rng, ticket_id, created, customer, category))
    return tickets


def _golden_line(ticket: Ticket) -> dict:
    return {**ticket.record(), "labels": asdict(ticket.labels)}


# --- writing -----------------------------------------------------------------------------


def _write_day(day_dir: Path, records: list[_Record]) -> None:
    by_file: dict[str, list[_Record]] = {}
    for record in records:
        by_file.setdefault(record.file, []).append(record)
    _write(day_dir / JSONL_FILE, _jsonl(r.payload for r in by_file.get(JSONL_FILE, [])).encode("utf-8"))
    _write(day_dir / CSV_FILE, _tickets_csv(r.payload for r in by_file.get(CSV_FILE, [])).encode("utf-8"))
    if LEGACY_FILE in by_file:
        legacy = _jsonl(r.payload for r in by_file[LEGACY_FILE])
        _write(day_dir / LEGACY_FILE, legacy.encode(LEGACY_ENCODING))


def _jsonl(rows) -> str:
    """One JSON object per line; a str row is an already broken line, written as is."""
    lines = (row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows)
    return "".join(f"{line}\n" for line in lines)


def _tickets_csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TICKET_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _customers_csv(customers: list[Customer]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CUSTOMER_COLUMNS)
    for c in customers:
        writer.writerow((c.customer_id, c.name, c.email, c.tier, c.region, c.signup_date.isoformat()))
    return buffer.getvalue()


def _products_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PRODUCT_COLUMNS)
    for p in PRODUCTS:
        writer.writerow((p.name, f"{p.price:.2f}", "true" if p.connected else "false"))
    return buffer.getvalue()


def _kb_markdown(article: KbArticle) -> str:
    front_matter = f"---\narticle_id: {article.article_id}\ntitle: {article.title}\ncategory: {article.category}\n---\n"
    return f"{front_matter}# {article.title}\n\n{article.body}"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # An unchanged file keeps its mtime, so file sensors don't mistake a re-run for new data.
    if path.is_file() and path.read_bytes() == data:
        return
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
