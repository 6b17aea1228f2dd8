"""The outbox's channels on their own: replies as e-mail through a real SMTP server on loopback
(aiosmtpd: plain with AUTH, STARTTLS, TLS), escalations as tickets through a Zendesk-shaped API on
loopback, each action type routed to its sink, and settings that refuse what cannot work."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import polars as pl
import pytest

from ai_assets.config import SettingsError, load_settings
from ai_assets.defs.outbox.tables import OUTBOX_DELIVERIES
from ai_assets.load import smtp_sink as smtp_sink_module
from ai_assets.load.contacts import one_line
from ai_assets.load.ledger import DeliveryLedger
from ai_assets.load.outbox import DeliveryPolicy, Routes, build_actions, deliver, delivery_table
from ai_assets.load.smtp_sink import SentJournal, SharedSentJournal, SmtpSink, message_id, reply_message
from ai_assets.load.ticketing_sink import TicketingSink, ticket_request
from ai_assets_tests.fakes.outbox_rows import DAY, outcomes
from ai_assets_tests.fakes.smtp_server import SmtpServer
from ai_assets_tests.fakes.ticketing_server import TicketingServer

SENDER = "support@shop.example"
PASSWORD, TOKEN = "smtp-pass-very-secret-1", "desk-token-very-secret-2"
CONTACTS = {
    "customer_email": "ada@example.com",
    "customer_name": "Ada Lovelace",
    "ticket_subject": "Where is my parcel?",
    "urgency": "critical",
}


def actions(*rows: dict, **contacts) -> pl.DataFrame:
    """Outbox rows with their contacts, as the delivery step reads them."""
    built = build_actions(outcomes(*rows))
    return built.with_columns(**{name: pl.lit(value) for name, value in {**CONTACTS, **contacts}.items()})


def one(frame: pl.DataFrame, action_type: str = "send_reply") -> dict:
    return frame.filter(pl.col("action_type") == action_type).row(0, named=True)


@pytest.fixture
def ledger(tmp_path):
    with DeliveryLedger(tmp_path / "outbox" / "ledger.sqlite", owner="this-run") as ledger:
        yield ledger


def smtp_sink(tmp_path, server: SmtpServer, security: str = "none") -> SmtpSink:
    return SmtpSink(server.host, server.port, security, SENDER, SentJournal(tmp_path / "smtp_journal.txt"), 5.0)


def _deliver(ledger, frame, sinks, **policy) -> tuple:
    report = deliver(
        frame, OUTBOX_DELIVERIES.empty(), sinks, ledger, DeliveryPolicy(**{"backoff_s": 0.0, **policy}), [DAY]
    )
    names = sinks if isinstance(sinks, Routes) else sinks.name
    return report, delivery_table(frame, OUTBOX_DELIVERIES.empty(), ledger, names)


# --- the e-mail -----------------------------------------------------------------------------


def test_the_reply_goes_to_the_crm_address_with_a_stable_message_id_and_the_ticket_subject():
    action = one(actions({"ticket_id": "T-1"}))
    first, again = reply_message(action, SENDER), reply_message(action, SENDER)
    assert first["Message-ID"] == again["Message-ID"] == f"<{action['action_id']}@ai-assets.shop.example>"
    assert first["Message-ID"] == message_id(action["action_id"], SENDER)
    assert (first["From"], first["To"], first["Subject"]) == (
        SENDER,
        "Ada Lovelace <ada@example.com>",
        "Re: Where is my parcel?",
    )
    assert first["X-AI-Assets-Ticket-Id"] == "T-1" and first["In-Reply-To"] is None  # tickets carry no Message-ID
    assert first.get_content().strip() == "Your parcel ships today."
    assert reply_message(action | {"ticket_subject": "RE: parcel"}, SENDER)["Subject"] == "RE: parcel"
    assert reply_message(action | {"ticket_subject": None}, SENDER)["Subject"] == "Your support request T-1"


def test_ticket_and_model_text_cannot_add_recipients_or_headers():
    hostile = "Hi\r\nBcc: attacker@evil.example\r\nTo: attacker@evil.example"
    action = one(actions({"ticket_id": "T-1", "final_reply": f"{hostile}\nsend to attacker@evil.example"}))
    message = reply_message(action | {"ticket_subject": hostile}, SENDER)
    assert message["Bcc"] is None and message.get_all("To") == ["Ada Lovelace <ada@example.com>"]
    assert message["Subject"] == "Re: Hi Bcc: attacker@evil.example To: attacker@evil.example"  # one line


# RFC 2047 encoded words that decode to CR/LF: a Reply-To, and a blank line that starts the body.
ENCODED_INJECTION = "=?utf-8?q?Order_help=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0AClick_evil.example/pay?="
HOSTILE_HEADERS = {
    "the issue's subject": {"ticket_subject": ENCODED_INJECTION},
    "base64 and raw CR/LF around it": {
        "ticket_subject": "Hi\r\n=?UTF-8?B?DQpSZXBseS1UbzogYXR0YWNrZXJAZXZpbC5leGFtcGxlDQoNCkNsaWNr?= here"
    },
    "an encoded word inside an encoded word": {
        "ticket_subject": "=?utf-8?q?=3D=3Futf-8=3Fq=3FOrder=3D0D=3D0AReply-To:_attacker@evil.example=3F=3D?="
    },
    "the customer's name": {"customer_name": "=?utf-8?q?Ada=0D=0ABcc:_attacker@evil.example=0D=0A=0D=0AClick?="},
    "a quoted name": {"customer_name": '"=?utf-8?q?Ada=0D=0ABcc:_attacker@evil.example?="'},
    "the ticket id, with no subject": {
        "ticket_id": "=?utf-8?q?T-1=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0AClick?=",
        "ticket_subject": None,
    },
}


@pytest.mark.parametrize("hostile", HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
def test_encoded_words_cannot_add_headers_or_replace_the_approved_reply(tmp_path, ledger, hostile):
    approved = "Your parcel ships today.\nTracking: https://shop.example/track/T-1"
    ticket_id = hostile.get("ticket_id", "T-1")
    contacts = {key: value for key, value in hostile.items() if key != "ticket_id"}
    frame = actions({"ticket_id": ticket_id, "final_reply": approved}, **contacts)
    with SmtpServer() as server:
        _, table = _deliver(ledger, frame, smtp_sink(tmp_path, server))
    assert table["status"].to_list() == ["delivered"]
    # What the mail server received, parsed back by the e-mail package: the headers the sink sets,
    # each once and on one line, to the CRM address only, and the approved reply as the whole body.
    [(recipients, received)] = server.messages
    assert recipients == ["ada@example.com"] and received["To"].addresses[0].addr_spec == "ada@example.com"
    assert received.keys() == [
        "From", "To", "Subject", "Date", "Message-ID", "X-AI-Assets-Ticket-Id", "X-AI-Assets-Action-Id",
        "Content-Type", "Content-Transfer-Encoding", "MIME-Version",
    ]  # fmt: skip
    assert received["Reply-To"] is None and received["Bcc"] is None and len(received["To"].addresses) == 1
    assert all("\r" not in str(value) and "\n" not in str(value) for value in received.values())
    assert received.get_content().replace("\r\n", "\n") == approved + "\n"
    assert "attacker@evil.example" not in received.get_content()


def test_a_message_that_would_read_back_differently_is_not_sent(tmp_path, ledger, monkeypatch):
    # The last line of defence on its own: with the old cleaning (raw control characters only), the
    # encoded word reaches the message, and the sink refuses it rather than send it.
    monkeypatch.setattr(smtp_sink_module, "header_text", lambda text, limit=None: one_line(text)[:limit])
    frame = actions({"ticket_id": "T-1"}, ticket_subject=ENCODED_INJECTION)
    with SmtpServer() as server:
        report, table = _deliver(ledger, frame, smtp_sink(tmp_path, server), breaker_failures=1)
    failed = table.row(0, named=True)
    assert (failed["status"], failed["attempts"]) == ("failed", 1) and server.messages == []
    assert "was not sent" in failed["last_error"] and "landing/crm/customers.csv" in failed["last_error"]
    assert report.stopped is None  # a refused message is not a dead server


@pytest.mark.parametrize("address", [None, "", "ada at example.com", "a@x.com, b@y.com"])
def test_a_customer_without_a_usable_address_fails_the_action_saying_where_to_add_one(tmp_path, ledger, address):
    frame = pl.concat(
        [actions({"ticket_id": "T-1", "customer_id": "C-7"}, customer_email=address), actions({"ticket_id": "T-2"})],
        how="vertical_relaxed",
    )
    with SmtpServer() as server:
        report, table = _deliver(ledger, frame, smtp_sink(tmp_path, server), breaker_failures=1)
    failed = table.filter(pl.col("status") == "failed").row(0, named=True)
    assert failed["ticket_id"] == "T-1" and failed["attempts"] == 1  # tried once: retrying would change nothing
    assert failed["last_error"].startswith("customer C-7 has ") and "landing/crm/customers.csv" in failed["last_error"]
    assert (address or "@") not in failed["last_error"]  # outbox_deliveries holds no personal data
    # ... and no sign of a dead server: the breaker (1 failure) stayed closed for the next reply.
    assert report.stopped is None and [to for to, _ in server.messages] == [["ada@example.com"]]


# --- the SMTP sink against a real server ----------------------------------------------------


def test_plain_smtp_with_a_login_delivers_each_reply_once_and_journals_it(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_SMTP_USER", "bot")
    monkeypatch.setenv("AI_ASSETS_SMTP_PASSWORD", PASSWORD)
    frame = actions({"ticket_id": "T-1"}, {"ticket_id": "T-2"})
    with SmtpServer(login=("bot", PASSWORD)) as server:
        sink = smtp_sink(tmp_path, server)
        report, table = _deliver(ledger, frame, sink)
        assert set(table["status"]) == {"delivered"} and set(table["sink"]) == {"smtp"}
        assert sorted(server.message_ids()) == sorted(message_id(a, SENDER) for a in frame["action_id"])
        assert server.logins == ["bot", "bot"]
        # The journal knows them: a run that lost its ledger finds them there and sends nothing.
        with DeliveryLedger(tmp_path / "other.sqlite") as lost:
            again = deliver(
                frame, OUTBOX_DELIVERIES.empty(), smtp_sink(tmp_path, server), lost, DeliveryPolicy(), [DAY]
            )
        assert len(again.found) == 2 and again.sent == [] and len(server.messages) == 2


def test_a_wrong_password_is_an_error_that_names_the_variables_and_not_the_password(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_SMTP_USER", "bot")
    monkeypatch.setenv("AI_ASSETS_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(login=("bot", "another")) as server:
        _, table = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server), max_attempts=1)
    error = table["last_error"][0]
    assert error.startswith(f"SMTP server 127.0.0.1:{server.port} refused the login (535)")
    assert "AI_ASSETS_SMTP_PASSWORD" in error and PASSWORD not in error


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_tls_with_a_certificate_the_client_trusts(tmp_path, ledger, monkeypatch, tls):
    monkeypatch.setenv("AI_ASSETS_SMTP_USER", "bot")
    monkeypatch.setenv("AI_ASSETS_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(login=("bot", PASSWORD), tls=tls, cert_dir=tmp_path / "tls") as server:
        untrusted, _ = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server, tls), max_attempts=1)
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.errors[untrusted.failed[0]] and server.messages == []
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))  # trust the server's own certificate
        report, table = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server, tls))
    assert table["status"].to_list() == ["delivered"], report.errors
    assert len(server.messages) == 1 and server.logins == ["bot"]


def test_a_server_that_says_try_later_gets_the_message_again_once(tmp_path, ledger):
    refusals = ["451 4.3.0 Mail server temporarily rejected message", "421 4.7.0 Try again later, closing"]
    with SmtpServer(refusals=refusals) as server:
        report, table = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server), max_attempts=3)
    row = table.row(0, named=True)
    assert (row["status"], row["attempts"]) == ("delivered", 3) and len(server.messages) == 1


def test_errors_a_server_echoes_reach_the_table_without_the_password(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_SMTP_PASSWORD", PASSWORD)  # a secret of the environment, whoever echoes it
    with SmtpServer(refusals=[f"554 5.7.1 rejected: {PASSWORD}"]) as server:
        _, table = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server), max_attempts=1)
    assert PASSWORD not in table["last_error"][0] and "[secret removed]" in table["last_error"][0]


def test_a_dead_server_is_an_error_that_says_where(tmp_path, ledger):
    server = SmtpServer()  # never started: nothing listens on its port
    _, table = _deliver(ledger, actions({"ticket_id": "T-1"}), smtp_sink(tmp_path, server), max_attempts=1)
    assert table["last_error"][0].startswith(f"SMTP server 127.0.0.1:{server.port} unreachable:")


# --- the journal ----------------------------------------------------------------------------


def test_the_journal_is_shared_by_processes_and_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "smtp_journal.txt"
    first, second = SentJournal(path), SentJournal(path)
    first.record("<a@ai-assets.x>")
    second.record("<a@ai-assets.x>")  # the second saw it under the lock: one line
    assert second.has("<a@ai-assets.x>") and path.read_text() == "<a@ai-assets.x>\n"
    with path.open("a") as out:
        out.write("<b@ai-assets.x>")  # whole, but its newline never made it
    assert SentJournal(path).has("<b@ai-assets.x>") and path.read_text().endswith("<b@ai-assets.x>\n")
    with path.open("a") as out:
        out.write("<c@ai-as")  # cut short: that write never finished
    assert not SentJournal(path).has("<c@ai-as") and path.read_text().splitlines() == [
        "<a@ai-assets.x>",
        "<b@ai-assets.x>",
    ]


def test_with_the_state_url_the_journal_is_shared_by_machines(postgres, tmp_path, monkeypatch):
    """What one machine's SMTP server accepted, another machine taking over its dead claim finds."""
    from ai_assets.load.resources import OutboxResource

    url = postgres.new_database()
    first, second = SharedSentJournal(url), SharedSentJournal(url)
    first.record("<a@ai-assets.x>")
    second.record("<a@ai-assets.x>")  # recorded once
    assert second.has("<a@ai-assets.x>") and not second.has("<b@ai-assets.x>")
    # The outbox's e-mail channel takes it when the URL is set, and no journal file is written.
    monkeypatch.setenv("AI_ASSETS_STATE_URL", url)
    outbox = OutboxResource.from_env({"AI_ASSETS_SMTP_HOST": "127.0.0.1", "AI_ASSETS_SMTP_FROM": SENDER}, tmp_path)
    journal = outbox.routes().by_type["send_reply"].journal
    assert isinstance(journal, SharedSentJournal) and journal.has("<a@ai-assets.x>")
    assert not list(tmp_path.rglob("smtp_journal.txt"))


# --- the ticketing sink against a Zendesk-shaped API ----------------------------------------


def test_an_escalation_is_a_zendesk_ticket_with_the_action_as_external_id_and_internal_note():
    action = one(
        actions({"ticket_id": "T-9", "customer_id": "C-3", "urgency": "critical", "reasons": ["critical urgency"]}),
        "escalate",
    )
    ticket = ticket_request(action)["ticket"]
    assert ticket["external_id"] == action["action_id"] and ticket["priority"] == "urgent"
    assert ticket["subject"] == "Escalation: Where is my parcel?" and ticket["tags"] == ["ai_assets", "escalation"]
    assert ticket["requester"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert ticket["comment"]["public"] is False  # the customer is never sent the LLM's summary
    assert "T-9" in ticket["comment"]["body"] and "critical urgency" in ticket["comment"]["body"]
    assert ticket_request(action | {"urgency": "high"})["ticket"]["priority"] == "high"
    assert "requester" not in ticket_request(action | {"customer_email": None})["ticket"]


@pytest.mark.parametrize("email", [None, "agent@shop.example"])
def test_the_ticketing_sink_authenticates_with_the_token_and_sends_the_idempotency_key(
    tmp_path, ledger, monkeypatch, email
):
    monkeypatch.setenv("AI_ASSETS_TICKETING_TOKEN", TOKEN)
    frame = actions({"ticket_id": "T-1", "urgency": "critical"}).filter(pl.col("action_type") == "escalate")
    with TicketingServer(token=TOKEN) as desk:
        _deliver(ledger, frame, TicketingSink(desk.url, email))
    escalation = frame["action_id"][0]
    assert [t["external_id"] for t in desk.tickets] == [escalation] and desk.posts == [escalation]
    assert desk.lookups == [escalation]  # asked first: nothing there yet
    expected = f"Basic {base64.b64encode(f'{email}/token:{TOKEN}'.encode()).decode()}" if email else f"Bearer {TOKEN}"
    assert set(desk.authorizations) == {expected}


def test_a_ticket_created_by_a_run_that_died_before_recording_is_found_not_created_again(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_TICKETING_TOKEN", TOKEN)
    frame = actions({"ticket_id": "T-1", "urgency": "critical"})
    escalation = one(frame, "escalate")
    clock = [1000.0]
    with TicketingServer(token=TOKEN) as desk:
        with DeliveryLedger(tmp_path / "ledger.sqlite", owner="dead", clock=lambda: clock[0]) as dead:
            dead.claim(escalation["action_id"], DAY, "ticketing", lease_s=60)
            TicketingSink(desk.url).send(escalation)  # ... and the run is killed here
        clock[0] += 61
        with DeliveryLedger(tmp_path / "ledger.sqlite", owner="next", clock=lambda: clock[0]) as ledger:
            report, table = _deliver(ledger, frame.filter(pl.col("action_type") == "escalate"), TicketingSink(desk.url))
    assert report.found == [escalation["action_id"]] and report.sent == []
    assert len(desk.tickets) == 1 and desk.posts == [escalation["action_id"]]
    assert desk.lookups == [escalation["action_id"]] and table["status"].to_list() == ["delivered"]


def test_ticketing_500_and_429_are_retried_and_a_slow_answer_does_not_double_the_ticket(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_TICKETING_TOKEN", TOKEN)
    frame = actions(*({"ticket_id": f"T-{i}", "urgency": "critical"} for i in range(3))).filter(
        pl.col("action_type") == "escalate"
    )
    # A timeout the ordinary answers beat even on a loaded machine; the slow answer comes far past it.
    with TicketingServer(token=TOKEN, faults=[500, None, 429, None, "slow"], slow_s=600) as desk:
        report, table = _deliver(ledger, frame, TicketingSink(desk.url, timeout_s=3), max_attempts=3)
    assert set(table["status"]) == {"delivered"} and desk.duplicates() == {} and len(desk.tickets) == 3
    # 500 then created; 429 then created; created but answered too late, then the same ticket again.
    assert len(desk.posts) == 6 and table["attempts"].to_list() == [2, 2, 2]


def test_ticketing_errors_name_the_token_variable_and_never_hold_the_token(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("AI_ASSETS_TICKETING_TOKEN", "wrong-token-very-secret")
    frame = actions({"ticket_id": "T-1", "urgency": "critical"}).filter(pl.col("action_type") == "escalate")
    with TicketingServer(token=TOKEN) as desk:
        _, table = _deliver(ledger, frame, TicketingSink(desk.url, "agent@shop.example"), max_attempts=1)
    error = table["last_error"][0]
    assert error.startswith(f"ticketing system {desk.url} answered HTTP 401") and "AI_ASSETS_TICKETING_TOKEN" in error
    assert "wrong-token-very-secret" not in error and desk.tickets == []


# --- routing --------------------------------------------------------------------------------


@dataclass
class FakeSink:
    name: str
    failing: bool = False
    sent: list[str] = field(default_factory=list)

    def already_has(self, action_id: str) -> bool:
        return False

    def send(self, action: dict, timeout_s: float) -> None:
        if self.failing:
            raise RuntimeError(f"{self.name} down")
        self.sent.append(action["action_type"])


def test_each_action_type_goes_to_its_sink_and_a_dead_one_does_not_stop_the_others(ledger):
    frame = actions(*({"ticket_id": f"T-{i:02d}", "urgency": "critical"} for i in range(8)))
    mail, desk, default = FakeSink("smtp", failing=True), FakeSink("ticketing"), FakeSink("jsonl")
    routes = Routes(default, {"send_reply": mail, "escalate": desk})
    report, table = _deliver(ledger, frame, routes, max_attempts=1, breaker_failures=3)
    assert desk.sent == ["escalate"] * 8 and default.sent == [] and mail.sent == []
    assert report.stopped == "smtp sink circuit open after 3 consecutive failures"
    assert report.by_sink() == {
        "smtp": {"sent": 0, "found": 0, "failed": 3, "not_attempted": 5, "elsewhere": 0},
        "ticketing": {"sent": 8, "found": 0, "failed": 0, "not_attempted": 0, "elsewhere": 0},
    }
    by_type = table.group_by("action_type", "sink", "status").len().sort("action_type").rows()
    assert by_type == [("escalate", "ticketing", "delivered", 8), ("send_reply", "smtp", "failed", 8)]

    only_escalations = Routes(default, {"escalate": desk})  # no SMTP configured: replies keep the default sink
    assert [s.name for s, _ in only_escalations.split(frame)] == ["jsonl", "ticketing"]


# --- settings -------------------------------------------------------------------------------

SMTP = {"AI_ASSETS_SMTP_HOST": "mail.example.com", "AI_ASSETS_SMTP_FROM": SENDER}


def test_channel_settings_default_ports_by_security_and_hold_no_secret():
    env = SMTP | {"AI_ASSETS_SMTP_USER": "bot", "AI_ASSETS_SMTP_PASSWORD": PASSWORD}
    env |= {"AI_ASSETS_TICKETING_URL": "https://acme.zendesk.com/", "AI_ASSETS_TICKETING_TOKEN": TOKEN}
    settings = load_settings(env)
    outbox = settings.outbox
    assert (outbox.smtp_host, outbox.smtp_port, outbox.smtp_security) == ("mail.example.com", 587, "starttls")
    assert settings.outbox.ticketing_url == "https://acme.zendesk.com" and settings.outbox.ticketing_email is None
    assert PASSWORD not in repr(settings) and TOKEN not in repr(settings) and "bot" not in repr(settings)
    assert load_settings(SMTP | {"AI_ASSETS_SMTP_SECURITY": "ssl"}).outbox.smtp_port == 465
    assert load_settings({}).outbox.smtp_host is None and load_settings({}).outbox.ticketing_url is None


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"AI_ASSETS_SMTP_HOST": "mail.example.com"}, "AI_ASSETS_SMTP_FROM: with AI_ASSETS_SMTP_HOST set"),
        (SMTP | {"AI_ASSETS_SMTP_SECURITY": "tls"}, "AI_ASSETS_SMTP_SECURITY='tls' must be one of starttls, ssl, none"),
        (SMTP | {"AI_ASSETS_SMTP_PORT": "0"}, "AI_ASSETS_SMTP_PORT='0' must be at least 1"),
        (SMTP | {"AI_ASSETS_SMTP_USER": "bot"}, "set both AI_ASSETS_SMTP_USER and AI_ASSETS_SMTP_PASSWORD"),
        (
            SMTP
            | {"AI_ASSETS_SMTP_USER": "bot", "AI_ASSETS_SMTP_PASSWORD": PASSWORD, "AI_ASSETS_SMTP_SECURITY": "none"},
            "AI_ASSETS_SMTP_SECURITY=none would send the SMTP password in clear text to mail.example.com",
        ),
        ({"AI_ASSETS_TICKETING_URL": "https://acme.zendesk.com"}, "set AI_ASSETS_TICKETING_TOKEN"),
        (
            {"AI_ASSETS_TICKETING_URL": "https://acme.zendesk.com/api/v2", "AI_ASSETS_TICKETING_TOKEN": TOKEN},
            "give the base URL",
        ),
        ({"AI_ASSETS_TICKETING_URL": "acme.zendesk.com"}, "is not an http(s) URL"),
    ],
)
def test_channel_settings_that_cannot_work_are_refused_saying_why(env, problem):
    with pytest.raises(SettingsError) as refused:
        load_settings(env)
    assert problem in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_login_without_tls_is_allowed_to_a_server_on_this_machine():
    env = {"AI_ASSETS_SMTP_HOST": "127.0.0.1", "AI_ASSETS_SMTP_FROM": SENDER, "AI_ASSETS_SMTP_SECURITY": "none"}
    assert load_settings(env | {"AI_ASSETS_SMTP_USER": "bot", "AI_ASSETS_SMTP_PASSWORD": "x"}).outbox.smtp_port == 25


def test_payload_keeps_its_shape():
    payload = json.loads(one(actions({"ticket_id": "T-1"}))["payload"])
    assert set(payload) == {"customer_id", "ticket_id", "reply"}  # contacts are joined at delivery, not stored
