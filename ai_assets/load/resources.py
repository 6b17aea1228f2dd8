"""The outbox's Dagster resource: where actions are delivered."""

from pathlib import Path

import dagster as dg

from ai_assets.config import Settings
from ai_assets.load.outbox import JsonlSink, Sink, WebhookSink


class OutboxResource(dg.ConfigurableResource):
    """Where actions are delivered: a JSONL file by default, an HTTP webhook when configured."""

    jsonl_path: str
    webhook_url: str | None
    max_attempts: int
    backoff_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "OutboxResource":
        return cls(
            jsonl_path=str(settings.outbox_path),
            webhook_url=settings.outbox_webhook_url,
            max_attempts=settings.outbox_max_attempts,
            backoff_s=settings.outbox_backoff_s,
        )

    def sink(self) -> Sink:
        return WebhookSink(self.webhook_url) if self.webhook_url else JsonlSink(Path(self.jsonl_path))
