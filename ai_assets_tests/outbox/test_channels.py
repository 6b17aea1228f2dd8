"""A day through the real Dagster jobs with both channels configured: replies as e-mail to a real
SMTP server on loopback (aiosmtpd, with a login), escalations as tickets through a Zendesk-shaped
API on loopback. Each approved reply reaches the mail server once and each escalation is one
ticket, through refusals, retries, a dead mail server, and runs killed between sending and
recording."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from ai_assets.load.ledger import CLAIMED
from ai_assets.load.smtp_sink import message_id
from ai_assets.sample_data.generator import LEGACY_ENCODING, LEGACY_FILE
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.smtp_server import SmtpServer
from ai_assets_tests.fakes.ticketing_server import TicketingServer
from ai_assets_tests.pipeline_tools import rebuild_with, replaced_responder

SENDER = "support@shop.example"
PASSWORD, TOKEN = "smtp-pass-never-logged-1", "desk-token-never-logged-2"


@pytest.fixture
def smtp():
    with SmtpServer(login=("support-bot", PASSWORD)) as server:
        yield server


@pytest.fixture
def desk():
    with TicketingServer(token=TOKEN) as server:
        yield server


def _critical_if_refund(body: dict, answer: dict) -> dict:
    return {
        **answer,
        "urgency": "critical" if "refund" in body["messages"][1]["content"].lower() else answer["urgency"],
    }


def _configure(pipeline: Pipeline, monkeypatch, smtp: SmtpServer, desk: TicketingServer, **env: str) -> None:
    """Both channels, and a model that finds refund tickets critical (the day's escalations)."""
    pipeline.server.responder = replaced_responder(triage=_critical_if_refund)
    rebuild_with(
        pipeline,
        monkeypatch,
        AI_ASSETS_SMTP_HOST=smtp.host,
        AI_ASSETS_SMTP_PORT=str(smtp.port),
        AI_ASSETS_SMTP_SECURITY="none",  # a server on this machine: the one place a login may go without TLS
        AI_ASSETS_SMTP_FROM=SENDER,
        AI_ASSETS_SMTP_USER="support-bot",
        AI_ASSETS_SMTP_PASSWORD=PASSWORD,
        AI_ASSETS_TICKETING_URL=desk.url,
        AI_ASSETS_TICKETING_EMAIL="agent@shop.example",
        AI_ASSETS_TICKETING_TOKEN=TOKEN,
        AI_ASSETS_OUTBOX_BACKOFF_S="0.01",
        AI_ASSETS_CASCADE="off",  # every triage field is the model's: the cascade's proxy would override urgency
        **env,
    )


def _action_ids(pipeline: Pipeline, action_type: str) -> list[str]:
    return sorted(a for (a,) in pipeline.sql(f"select action_id from outbox where action_type = '{action_type}'"))


def _by_sink(pipeline: Pipeline) -> list[tuple]:
    return pipeline.sql(
        "select action_type, sink, status, count(*) from outbox_deliveries group by all order by action_type"
    )


def _assert_no_secret(pipeline: Pipeline, run_ids: list[str]) -> None:
    tables = [name for (name,) in pipeline.sql("select table_name from duckdb_tables() where database_name = 'lake'")]
    assert {"outbox", "outbox_deliveries", "customers"} <= set(tables)
    for table in tables:
        dump = repr(pipeline.sql(f"select * from {table}"))
        assert PASSWORD not in dump and TOKEN not in dump, table
    for run_id in run_ids:
        events = pipeline.instance.all_logs(run_id)
        text = repr([e.dagster_event for e in events]) + repr([e.user_message for e in events])
        text += repr(pipeline.instance.get_run_by_id(run_id).run_config)
        assert PASSWORD not in text and TOKEN not in text


def test_a_day_sends_one_email_per_approved_reply_and_one_ticket_per_escalation(
    pipeline: Pipeline, monkeypatch, smtp, desk
):
    smtp.refusals = ["451 4.3.0 Temporary local problem", "421 4.7.0 Too busy, closing"]
    desk.faults = [500, None, 429]
    _configure(pipeline, monkeypatch, smtp, desk, AI_ASSETS_OUTBOX_MAX_ATTEMPTS="3")
    pipeline.run("reference_data_job")
    day = pipeline.run("daily_tickets_job", DAY_1)

    replies, escalations = _action_ids(pipeline, "send_reply"), _action_ids(pipeline, "escalate")
    assert len(replies) >= 10 and len(escalations) >= 1
    # One e-mail per approved reply, through a 451 and a 421; one ticket per escalation, through a 500 and a 429.
    assert sorted(smtp.message_ids()) == sorted(message_id(a, SENDER) for a in replies) and smtp.copies() == {}
    assert sorted(t["external_id"] for t in desk.tickets) == escalations and desk.duplicates() == {}
    assert _by_sink(pipeline) == [
        ("escalate", "ticketing", "delivered", len(escalations)),
        ("send_reply", "smtp", "delivered", len(replies)),
    ]
    assert pipeline.sql("select max(attempts) from outbox_deliveries where action_type = 'send_reply'") == [(3,)]
    assert pipeline.sql("select max(attempts) from outbox_deliveries where action_type = 'escalate'") == [(2,)]
    metadata = day.asset_materializations_for_node("outbox_deliveries")[0].metadata
    assert metadata["sink"].value == "smtp, ticketing"
    assert metadata["by_sink"].value["smtp"]["sent"] == len(replies)
    assert metadata["by_sink"].value["ticketing"]["sent"] == len(escalations)

    # Each e-mail went to the CRM address of its ticket's customer, and nowhere else.
    expected = pipeline.sql(
        "select o.action_id, c.email from outbox o join ticket_outcomes t using (ticket_id, created_date)"
        " join customers c on c.customer_id = t.customer_id where o.action_type = 'send_reply'"
    )
    by_message = {message_id(action_id, SENDER): email for action_id, email in expected}
    for recipients, message in smtp.messages:
        assert recipients == [by_message[message["Message-ID"]]]
        assert message["To"].addresses[0].addr_spec == recipients[0]
    assert set(smtp.logins) == {"support-bot"}

    rerun = pipeline.run("reviews_job", DAY_1)  # a rerun of the day's decisions sends nothing again
    assert len(smtp.messages) == len(replies) and len(desk.tickets) == len(escalations)
    _assert_no_secret(pipeline, [day.run_id, rerun.run_id])


# A run killed right after a send, before the ledger records it (as a SIGKILL would leave it). Its
# claims expire with its deadline: the grace a live claimant gets is 0 here, so the test need not wait.
KILLED_RUN = """
import os, sys
import dagster as dg
from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.load import outbox
from ai_assets.load.ledger import DeliveryLedger

job, day, killed_at = sys.argv[1:4]
outbox.LEASE_GRACE_S = 0.0
record = DeliveryLedger.mark_delivered

def killed_after_sending(self, action_id, sink, attempts):
    if sink == killed_at:
        os._exit(137)
    record(self, action_id, sink, attempts)

DeliveryLedger.mark_delivered = killed_after_sending
defs = build_definitions(load_settings())
with dg.DagsterInstance.ephemeral() as instance:
    defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=day)
sys.exit(3)
"""


def _killed_run(pipeline: Pipeline, job: str, killed_at: str) -> None:
    env = {**os.environ, "AI_ASSETS_OUTBOX_DEADLINE_S": "5"}
    run = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, job, DAY_1, killed_at], env=env, capture_output=True, text=True
    )
    assert run.returncode == 137, run.stderr[-3000:]
    # Its claim runs out with its deadline: once past the lease it left (in the ledger's clock, the
    # wall clock), the day has an action to resolve.
    outbox = pipeline.settings.outbox
    with closing(sqlite3.connect(outbox.ledger_path)) as ledger:
        (lease_until,) = ledger.execute(
            "SELECT max(lease_until) FROM deliveries WHERE status = ?", (CLAIMED,)
        ).fetchone()
    assert lease_until is not None, "the killed run left no claim"
    while time.time() <= lease_until:
        time.sleep(max(lease_until - time.time(), 0) + 0.01)
    assert outbox.days_to_retry() == [DAY_1]


def test_runs_killed_between_sending_and_recording_send_no_email_and_no_ticket_twice(
    pipeline: Pipeline, monkeypatch, smtp, desk
):
    _configure(pipeline, monkeypatch, smtp, desk)
    pipeline.run("reference_data_job")
    _killed_run(pipeline, "daily_tickets_job", killed_at="smtp")  # the server has the first e-mail
    assert len(smtp.messages) == 1 and desk.tickets == []
    _killed_run(pipeline, "outbox_retry_job", killed_at="ticketing")  # ... and the system the first ticket
    assert len(desk.tickets) == 1
    last = pipeline.run("outbox_retry_job", DAY_1)

    replies, escalations = _action_ids(pipeline, "send_reply"), _action_ids(pipeline, "escalate")
    assert Counter(smtp.message_ids()) == Counter(message_id(a, SENDER) for a in replies)  # once each
    assert Counter(desk.posts) == Counter(escalations)  # one creation request each: the killed one was found
    assert sorted(t["external_id"] for t in desk.tickets) == escalations
    assert set(pipeline.sql("select status from outbox_deliveries")) == {("delivered",)}
    found = last.asset_materializations_for_node("outbox_deliveries")[0].metadata["by_sink"].value
    assert found["ticketing"]["found"] == 1 and found["ticketing"]["sent"] == len(escalations) - 1
    journal = (Path(pipeline.settings.outbox.ledger_path).parent / "smtp_journal.txt").read_text().splitlines()
    assert sorted(journal) == sorted(message_id(a, SENDER) for a in replies)


def test_a_dead_mail_server_fails_only_the_replies_and_a_retry_sends_each_once(
    pipeline: Pipeline, monkeypatch, smtp, desk
):
    _configure(
        pipeline, monkeypatch, smtp, desk, AI_ASSETS_OUTBOX_MAX_ATTEMPTS="2", AI_ASSETS_OUTBOX_BREAKER_FAILURES="3"
    )
    smtp.stop()
    pipeline.run("reference_data_job")
    failed = pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, raise_on_error=False
    )
    replies, escalations = _action_ids(pipeline, "send_reply"), _action_ids(pipeline, "escalate")
    assert sorted(t["external_id"] for t in desk.tickets) == escalations  # the escalations got through
    assert _by_sink(pipeline) == [
        ("escalate", "ticketing", "delivered", len(escalations)),
        ("send_reply", "smtp", "failed", len(replies)),
    ]
    errors = dict(pipeline.sql("select last_error, count(*) from outbox_deliveries group by all"))
    assert errors["not attempted: smtp sink circuit open after 3 consecutive failures"] == len(replies) - 3
    assert errors[f"SMTP server 127.0.0.1:{smtp.port} unreachable: [Errno 111] Connection refused"] == 3
    if not failed.success:  # most of the day's actions are replies: the step says what to check
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        assert "AI_ASSETS_SMTP_" in failure.step_failure_data.user_failure_data.description

    smtp.start()  # the mail server is back, on the same port
    retry = pipeline.run("outbox_retry_job", DAY_1)
    assert sorted(smtp.message_ids()) == sorted(message_id(a, SENDER) for a in replies) and smtp.copies() == {}
    assert len(desk.tickets) == len(escalations) and Counter(desk.posts) == Counter(escalations)
    assert set(pipeline.sql("select status from outbox_deliveries")) == {("delivered",)}
    _assert_no_secret(pipeline, [failed.run_id, retry.run_id])


def test_a_subject_of_encoded_words_cannot_add_headers_or_replace_the_reply_the_rules_approved(
    pipeline: Pipeline, monkeypatch, smtp, desk
):
    # Every ticket of the day arrives with RFC 2047 encoded words that decode to CR/LF: a Reply-To of
    # the attacker's and a blank line that would start a body of theirs.
    injection = "=?utf-8?q?Order_help=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0AClick_evil.example/pay?="
    _set_subjects(pipeline.settings.data_dir / "landing" / "tickets" / DAY_1, injection)
    _configure(pipeline, monkeypatch, smtp, desk)
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)

    approved = dict(
        pipeline.sql(
            "select o.action_id, t.final_reply from outbox o join ticket_outcomes t using (ticket_id, created_date)"
            " where o.action_type = 'send_reply'"
        )
    )
    assert len(approved) >= 10 and len(smtp.messages) == len(approved)
    by_message = {message_id(action_id, SENDER): reply for action_id, reply in approved.items()}
    for _, received in smtp.messages:  # as the mail server parsed them
        assert received["Reply-To"] is None and received["Bcc"] is None and len(received["To"].addresses) == 1
        assert received["Subject"] == "Re: Order help Reply-To: attacker@evil.example Click evil.example/pay"
        assert all("\r" not in str(value) and "\n" not in str(value) for value in received.values())
        body = received.get_content().replace("\r\n", "\n")
        assert body == by_message[received["Message-ID"]].replace("\r\n", "\n").rstrip("\n") + "\n"


def _set_subjects(day: Path, subject: str) -> None:
    """Every ticket of the sample's landing files gets `subject`; its broken records stay broken."""
    for path in day.glob("*.jsonl"):
        encoding = LEGACY_ENCODING if path.name == LEGACY_FILE else "utf-8"
        lines = path.read_text(encoding=encoding).splitlines()
        path.write_text("".join(_with_subject(line, subject) + "\n" for line in lines), encoding=encoding)
    for path in day.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            rows, columns = [row | {"subject": subject} for row in reader], reader.fieldnames
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def _with_subject(line: str, subject: str) -> str:
    try:
        return json.dumps(json.loads(line) | {"subject": subject})
    except (ValueError, TypeError):
        return line
