"""The outbox's Dagster resource: where each action type is delivered, how hard a step tries, and
the delivery ledger every run claims actions in. It holds no secret: the sinks read theirs from the
environment."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import field_validator, model_validator

from ai_assets.load.contacts import is_email_address
from ai_assets.load.ledger import DeliveryLedger, days_to_retry, default_owner
from ai_assets.load.outbox import DeliveryPolicy, JsonlSink, Routes, Sink, WebhookSink
from ai_assets.load.smtp_sink import SMTP_SECURITY, SentJournal, SharedSentJournal, SmtpSink, is_loopback
from ai_assets.load.ticketing_sink import TicketingSink
from ai_assets.secrets import STATE_URL_VARIABLE
from ai_assets.settings import SettingsError, http_url, read_environment, setting
from ai_assets.state import is_postgres_url, shared_or


class OutboxResource(dg.ConfigurableResource):
    """Where actions are delivered: replies by e-mail (SMTP) and escalations to a ticketing system
    when configured; the rest to an HTTP webhook when configured, else a JSONL file."""

    jsonl_path: str
    ledger_path: str
    webhook_url: str | None = setting(
        "AI_ASSETS_OUTBOX_WEBHOOK_URL", None, "actions without a channel of their own are POSTed here; unset: JSONL"
    )
    smtp_host: str | None = setting("AI_ASSETS_SMTP_HOST", None, "replies go out by e-mail through this server")
    smtp_port: int = setting(
        "AI_ASSETS_SMTP_PORT", 587, "the SMTP port; unset: the security's (587, 465, 25)", ge=1, le=65535
    )
    smtp_security: Literal["starttls", "ssl", "none"] = setting("AI_ASSETS_SMTP_SECURITY", "starttls", "SMTP's TLS")
    smtp_from: str | None = setting("AI_ASSETS_SMTP_FROM", None, "the address replies come from")
    ticketing_url: str | None = setting(
        "AI_ASSETS_TICKETING_URL", None, "escalations become tickets in this system, e.g. https://acme.zendesk.com"
    )
    ticketing_email: str | None = setting(
        "AI_ASSETS_TICKETING_EMAIL", None, "set: basic auth as <email>/token; unset: a bearer token"
    )
    max_attempts: int = setting("AI_ASSETS_OUTBOX_MAX_ATTEMPTS", 3, "tries of an action in a step", ge=1)
    backoff_s: float = setting("AI_ASSETS_OUTBOX_BACKOFF_S", 1.0, "seconds before the first retry, doubling", ge=0)
    timeout_s: float = setting("AI_ASSETS_OUTBOX_TIMEOUT_S", 10.0, "seconds a delivery may take", ge=0.1)
    deadline_s: float = setting(
        "AI_ASSETS_OUTBOX_DEADLINE_S", 300.0, "a step stops sending after this; the rest waits for the next run", ge=1
    )
    breaker_failures: int = setting(
        "AI_ASSETS_OUTBOX_BREAKER_FAILURES", 5, "failed actions in a row after which a sink is not tried again", ge=1
    )

    @field_validator("webhook_url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @field_validator("ticketing_url")
    @classmethod
    def check_ticketing_url(cls, value: str | None) -> str | None:
        if value and "/api/" in value:
            raise ValueError("give the base URL, e.g. https://acme.zendesk.com")
        return http_url(value).rstrip("/") if value else None

    @field_validator("smtp_from", "ticketing_email")
    @classmethod
    def check_address(cls, value: str | None) -> str | None:
        if value is not None and not is_email_address(value):
            raise ValueError("is not an e-mail address")
        return value

    @model_validator(mode="after")
    def check_channels(self) -> "OutboxResource":
        if self.smtp_host and not self.smtp_from:
            raise ValueError(
                "AI_ASSETS_SMTP_FROM: with AI_ASSETS_SMTP_HOST set, give the address replies come from, "
                "e.g. support@example.com"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def default_port(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("smtp_port"):
            return {**values, "smtp_port": SMTP_SECURITY.get(values.get("smtp_security") or "starttls", 587)}
        return values

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> "OutboxResource":
        """The outbox's settings, and whether the secrets a configured channel needs are set (their
        values are read by the sinks only): a channel without them would fail every action."""
        outbox = read_environment(
            cls,
            environ,
            jsonl_path=str(data_dir / "outbox" / "actions.jsonl"),
            # Beside the JSONL file, whichever the sink: one ledger for every sink.
            ledger_path=str(data_dir / "outbox" / "ledger.sqlite"),
        )
        login = [bool(environ.get("AI_ASSETS_SMTP_USER")), bool(environ.get("AI_ASSETS_SMTP_PASSWORD"))]
        problems = []
        if outbox.smtp_host and login[0] != login[1]:
            problems.append("set both AI_ASSETS_SMTP_USER and AI_ASSETS_SMTP_PASSWORD (a login), or neither")
        if outbox.smtp_host and all(login) and outbox.smtp_security == "none" and not is_loopback(outbox.smtp_host):
            problems.append(
                f"AI_ASSETS_SMTP_SECURITY=none would send the SMTP password in clear text to {outbox.smtp_host}: use "
                "starttls or ssl (only a server on this machine may get it without TLS)"
            )
        state = environ.get(STATE_URL_VARIABLE)
        if state and not is_postgres_url(state):
            problems.append(f"{STATE_URL_VARIABLE} must be a PostgreSQL URL (postgresql://...); unset: a SQLite file")
        if outbox.ticketing_url and not environ.get("AI_ASSETS_TICKETING_TOKEN"):
            problems.append("AI_ASSETS_TICKETING_URL is set: set AI_ASSETS_TICKETING_TOKEN to its API token too")
        if problems:
            raise SettingsError(problems)
        return outbox

    def sink(self) -> Sink:
        """The default sink, of every action type without a channel of its own."""
        if self.webhook_url:
            return WebhookSink(self.webhook_url, timeout_s=self.timeout_s)
        return JsonlSink(Path(self.jsonl_path))

    def routes(self) -> Routes:
        by_type: dict[str, Sink] = {}
        if self.smtp_host and self.smtp_from:
            # Beside the ledger: the Message-IDs the server accepted, for a run that died before recording.
            location = self.ledger_location()
            journal = (
                SharedSentJournal(location)
                if is_postgres_url(location)
                else SentJournal(Path(self.ledger_path).with_name("smtp_journal.txt"))
            )
            by_type["send_reply"] = SmtpSink(
                self.smtp_host, self.smtp_port, self.smtp_security, self.smtp_from, journal, self.timeout_s
            )
        if self.ticketing_url:
            by_type["escalate"] = TicketingSink(self.ticketing_url, self.ticketing_email, self.timeout_s)
        return Routes(self.sink(), by_type)

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(self.max_attempts, self.backoff_s, self.deadline_s, self.breaker_failures)

    def ledger_location(self) -> Path | str:
        """PostgreSQL (AI_ASSETS_STATE_URL, read at each use: it may hold a password), shared by every
        machine, or the SQLite file beside the outbox."""
        return shared_or(Path(self.ledger_path))

    def ledger(self, run_id: str) -> DeliveryLedger:
        return DeliveryLedger(self.ledger_location(), owner=default_owner(run_id))

    def days_to_retry(self) -> list[str]:
        """The days with deliveries to retry (see `DeliveryLedger.days_to_retry`)."""
        return days_to_retry(self.ledger_location())
