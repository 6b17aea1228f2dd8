"""The outbox's Dagster resource: where actions are delivered, how hard a step tries, and the
delivery ledger every run claims actions in."""

from pathlib import Path

import dagster as dg

from ai_assets.config import Settings
from ai_assets.load.ledger import DeliveryLedger, days_to_retry, default_owner
from ai_assets.load.outbox import DeliveryPolicy, JsonlSink, Sink, WebhookSink


class OutboxResource(dg.ConfigurableResource):
    """Where actions are delivered: a JSONL file by default, an HTTP webhook when configured."""

    jsonl_path: str
    ledger_path: str
    webhook_url: str | None
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
            max_attempts=settings.outbox_max_attempts,
            backoff_s=settings.outbox_backoff_s,
            timeout_s=settings.outbox_timeout_s,
            deadline_s=settings.outbox_deadline_s,
            breaker_failures=settings.outbox_breaker_failures,
        )

    def sink(self) -> Sink:
        if self.webhook_url:
            return WebhookSink(self.webhook_url, timeout_s=self.timeout_s)
        return JsonlSink(Path(self.jsonl_path))

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(self.max_attempts, self.backoff_s, self.deadline_s, self.breaker_failures)

    def ledger(self, run_id: str) -> DeliveryLedger:
        return DeliveryLedger(Path(self.ledger_path), owner=default_owner(run_id))

    def days_to_retry(self) -> list[str]:
        """The days with deliveries to retry (see `DeliveryLedger.days_to_retry`)."""
        return days_to_retry(Path(self.ledger_path))
