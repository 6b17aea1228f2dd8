"""The outbox's Dagster resource: where each action type is delivered, how hard a step tries, and
the delivery ledger every run claims actions in. It holds no secret: the sinks read theirs from the
environment."""

from pathlib import Path

import dagster as dg

from ai_assets.config import Settings
from ai_assets.load.ledger import DeliveryLedger, days_to_retry, default_owner
from ai_assets.load.outbox import DeliveryPolicy, JsonlSink, Routes, Sink, WebhookSink
from ai_assets.load.smtp_sink import SentJournal, SmtpSink
from ai_assets.load.ticketing_sink import TicketingSink


class OutboxResource(dg.ConfigurableResource):
    """Where actions are delivered: replies by e-mail (SMTP) and escalations to a ticketing system
    when configured; the rest to an HTTP webhook when configured, else a JSONL file."""

    jsonl_path: str
    ledger_path: str
    webhook_url: str | None
    smtp_host: str | None
    smtp_port: int
    smtp_security: str
    smtp_from: str | None
    ticketing_url: str | None
    ticketing_email: str | None
    max_attempts: int
    backoff_s: float
    timeout_s: float
    deadline_s: float
    breaker_failures: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "OutboxResource":
        return cls(
            jsonl_path=str(settings.outbox_path),
            # Beside the JSONL file, whichever the sink: one ledger for every sink.
            ledger_path=str(settings.outbox_path.with_name("ledger.sqlite")),
            webhook_url=settings.outbox_webhook_url,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_security=settings.smtp_security,
            smtp_from=settings.smtp_from,
            ticketing_url=settings.ticketing_url,
            ticketing_email=settings.ticketing_email,
            max_attempts=settings.outbox_max_attempts,
            backoff_s=settings.outbox_backoff_s,
            timeout_s=settings.outbox_timeout_s,
            deadline_s=settings.outbox_deadline_s,
            breaker_failures=settings.outbox_breaker_failures,
        )

    def sink(self) -> Sink:
        """The default sink, of every action type without a channel of its own."""
        if self.webhook_url:
            return WebhookSink(self.webhook_url, timeout_s=self.timeout_s)
        return JsonlSink(Path(self.jsonl_path))

    def routes(self) -> Routes:
        by_type: dict[str, Sink] = {}
        if self.smtp_host and self.smtp_from:
            # Beside the ledger: the Message-IDs the server accepted, for a run that died before recording.
            journal = SentJournal(Path(self.ledger_path).with_name("smtp_journal.txt"))
            by_type["send_reply"] = SmtpSink(
                self.smtp_host, self.smtp_port, self.smtp_security, self.smtp_from, journal, self.timeout_s
            )
        if self.ticketing_url:
            by_type["escalate"] = TicketingSink(self.ticketing_url, self.ticketing_email, self.timeout_s)
        return Routes(self.sink(), by_type)

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(self.max_attempts, self.backoff_s, self.deadline_s, self.breaker_failures)

    def ledger(self, run_id: str) -> DeliveryLedger:
        return DeliveryLedger(Path(self.ledger_path), owner=default_owner(run_id))

    def days_to_retry(self) -> list[str]:
        """The days with deliveries to retry (see `DeliveryLedger.days_to_retry`)."""
        return days_to_retry(Path(self.ledger_path))
