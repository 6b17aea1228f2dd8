"""Dagster resources, built from the settings in `config.py`."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from ai_assets.llm.cache import ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.cost import Pricing
from ai_assets.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedModelServer
from ai_assets.llm.embeddings import Embedder, EmbeddingCache, LocalE5Embedder, OpenAIEmbedder
from ai_assets.llm.engine import Limits
from ai_assets.load.outbox import JsonlSink, Sink, WebhookSink


class DataDirResource(dg.ConfigurableResource):
    """Where landing files live (`<data_dir>/landing/...`)."""

    data_dir: str

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible endpoint, or the embedded local model when none is configured.

    Holds no API key: the `openai` client reads OPENAI_API_KEY from the environment.
    """

    base_url: str | None = None
    chat_model: str = EMBEDDED_MODEL_ALIAS
    use_embedded_model: bool = True
    concurrency: int = 2
    timeout_s: float = 120.0
    max_retries: int = 4
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_tokens_per_run: int | None = None
    max_cost_per_run_usd: float | None = None
    response_format: str = "auto"
    max_input_chars: int = 4000
    redact_pii: bool = False  # emails, card numbers, phones out of every prompt (remote endpoints)
    price_input_per_1m: float = 0.0
    price_output_per_1m: float = 0.0
    cache_path: str
    log_dir: str

    _served_url: str | None = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["LLMResource"]:
        if not self.use_embedded_model:
            yield self
            return
        log_path = Path(self.log_dir) / "embedded_llm.log"
        context.log.info(f"Starting the embedded model server (SmolLM2-135M, llama.cpp); log: {log_path}")
        with EmbeddedModelServer(log_path) as server:
            self._served_url = server.base_url
            yield self
        context.log.info("Stopped the embedded model server")

    def endpoint(self) -> Endpoint:
        return Endpoint(
            base_url=self._served_url or self.base_url,
            model=self.chat_model,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            response_format="json_object" if self.use_embedded_model else self.response_format,
        )

    def limits(self) -> Limits:
        return Limits(
            concurrency=self.concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            max_tokens_per_run=self.max_tokens_per_run,
            max_cost_per_run_usd=self.max_cost_per_run_usd,
        )

    def pricing(self) -> Pricing:
        return Pricing(self.price_input_per_1m, self.price_output_per_1m)

    def open_cache(self) -> ResponseCache:
        return ResponseCache(Path(self.cache_path))


class EmbeddingResource(dg.ConfigurableResource):
    """Embeddings for retrieval: an OpenAI-compatible endpoint, or the bundled e5 model in process."""

    base_url: str | None = None
    model: str
    use_embedded_model: bool = True
    timeout_s: float = 60.0
    max_retries: int = 4
    top_k: int = 3
    max_input_chars: int = 4000  # of a ticket's subject and body, as for the LLM steps
    redact_pii: bool = False
    cache_path: str

    def embedder(self) -> Embedder:
        if self.use_embedded_model:
            return LocalE5Embedder()
        return OpenAIEmbedder(self.base_url, self.model, self.timeout_s, self.max_retries)

    def open_cache(self) -> EmbeddingCache:
        return EmbeddingCache(Path(self.cache_path))


class OutboxResource(dg.ConfigurableResource):
    """Where actions are delivered: a JSONL file by default, an HTTP webhook when configured."""

    jsonl_path: str
    webhook_url: str | None = None
    max_attempts: int = 3
    backoff_s: float = 1.0

    def sink(self) -> Sink:
        return WebhookSink(self.webhook_url) if self.webhook_url else JsonlSink(Path(self.jsonl_path))
