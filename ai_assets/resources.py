"""Dagster resources, built from the settings in `config.py`."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from ai_assets.config import Settings
from ai_assets.llm.cache import EmbeddingCache, ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.cost import Pricing
from ai_assets.llm.embeddings import Embedder, LocalE5Embedder
from ai_assets.llm.engine import Limits
from ai_assets.llm.local_chat_server import EmbeddedModelServer
from ai_assets.tools.registry import ToolCache


class DataDirResource(dg.ConfigurableResource):
    """Where landing files live (`<data_dir>/landing/...`)."""

    data_dir: str

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"


class _ModelResource(dg.ConfigurableResource):
    """What chat and embeddings share: how hard to push the endpoint and how much a run may spend.
    Every value comes from `Settings` (see `from_settings`); none has a default of its own."""

    base_url: str | None
    use_embedded_model: bool
    timeout_s: float
    max_retries: int
    concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    max_tokens_per_run: int | None
    max_cost_per_run_usd: float | None
    breaker_failures: int  # requests in a row failed after their retries that stop a step sending
    max_input_chars: int  # of a ticket's text, before it is sent
    redact_pii: bool  # emails, card numbers, phones out of every input (remote endpoints)
    cache_path: str

    @staticmethod
    def _shared_fields(settings: Settings, embedded: bool) -> dict:
        return {
            "use_embedded_model": embedded,
            "timeout_s": settings.llm_timeout_s,
            "max_retries": settings.llm_max_retries,
            "concurrency": settings.llm_concurrency,
            "requests_per_minute": settings.llm_requests_per_minute,
            "tokens_per_minute": settings.llm_tokens_per_minute,
            "max_tokens_per_run": settings.llm_max_tokens_per_run,
            "max_cost_per_run_usd": settings.llm_max_cost_per_run_usd,
            "breaker_failures": settings.llm_breaker_failures,
            "max_input_chars": settings.max_input_chars,
            "redact_pii": settings.redacts_for(embedded),
        }

    def limits(self) -> Limits:
        return Limits(
            concurrency=self.concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            max_tokens_per_run=self.max_tokens_per_run,
            max_cost_per_run_usd=self.max_cost_per_run_usd,
            breaker_failures=self.breaker_failures,
        )


class LLMResource(_ModelResource):
    """An OpenAI-compatible endpoint, or the embedded local model when none is configured.

    Holds no API key: the `openai` client reads OPENAI_API_KEY from the environment.
    """

    chat_model: str
    response_format: str
    price_input_per_1m: float
    price_output_per_1m: float
    # A step with a larger share of its rows failed (over-budget rows aside) fails instead of succeeding.
    max_failure_share: float
    log_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "LLMResource":
        return cls(
            **cls._shared_fields(settings, settings.uses_embedded_model),
            base_url=settings.base_url,
            chat_model=settings.chat_model,
            response_format=settings.response_format,
            price_input_per_1m=settings.price_input_per_1m,
            price_output_per_1m=settings.price_output_per_1m,
            max_failure_share=settings.llm_max_failure_share,
            cache_path=str(settings.llm_cache_path),
            log_dir=str(settings.data_dir / "logs"),
        )

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
            response_format=self.response_format,
        )

    def pricing(self) -> Pricing:
        return Pricing(self.price_input_per_1m, self.price_output_per_1m)

    def unpriced_note(self) -> str | None:
        """Why cost_usd reads 0 for a paid model, or None (priced, or the embedded model, which is free)."""
        if self.use_embedded_model or self.price_input_per_1m or self.price_output_per_1m:
            return None
        return (
            f"prices unset for {self.chat_model}: cost_usd reads 0; set AI_ASSETS_PRICE_INPUT_PER_1M and "
            "AI_ASSETS_PRICE_OUTPUT_PER_1M (USD per million tokens)"
        )

    def open_cache(self) -> ResponseCache:
        return ResponseCache(Path(self.cache_path))


class EmbeddingResource(_ModelResource):
    """Embeddings for retrieval: an OpenAI-compatible endpoint, through the same limiter, retries,
    budget and cost accounting as chat, or the bundled e5 model in process."""

    model: str
    price_per_1m: float
    top_k: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "EmbeddingResource":
        embedded = settings.uses_embedded_embeddings
        return cls(
            **cls._shared_fields(settings, embedded),
            base_url=None if embedded else (settings.embed_base_url or settings.base_url),
            model=settings.embed_model,
            price_per_1m=settings.price_embed_per_1m,
            top_k=settings.retrieval_top_k,
            cache_path=str(settings.data_dir / "embedding_cache.sqlite"),
        )

    def source(self) -> Endpoint | Embedder:
        if self.use_embedded_model:
            return LocalE5Embedder()
        return Endpoint(self.base_url, self.model, self.timeout_s, self.max_retries)

    def pricing(self) -> Pricing:
        return Pricing(input_per_1m=self.price_per_1m)

    def unpriced_note(self) -> str | None:
        if self.use_embedded_model or self.price_per_1m:
            return None
        return (
            f"price unset for {self.model}: cost_usd reads 0; set AI_ASSETS_PRICE_EMBED_PER_1M (USD per million tokens)"
        )

    def open_cache(self) -> EmbeddingCache:
        return EmbeddingCache(Path(self.cache_path))


class ToolsResource(dg.ConfigurableResource):
    """The tools an investigation may call and their backends (see `ai_assets/tools/`)."""

    orders_api_url: str | None  # None: the order_status tool reads the orders table
    timeout_s: float
    retries: int
    breaker_failures: int  # order-service lookups in a row failed that stop the step asking it
    max_calls: int  # per ticket
    calling: str  # auto | native | plan
    cache_path: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "ToolsResource":
        return cls(
            orders_api_url=settings.orders_api_url,
            timeout_s=settings.tool_timeout_s,
            retries=settings.tool_retries,
            breaker_failures=settings.tool_breaker_failures,
            max_calls=settings.investigation_max_tool_calls,
            calling=settings.tool_calling,
            cache_path=str(settings.tool_cache_path),
        )

    def native(self, llm: LLMResource) -> bool:
        """Whether the model chooses the calls: the embedded 135M model cannot call tools, so `auto`
        gives it the plan."""
        return self.calling == "native" or (self.calling == "auto" and not llm.use_embedded_model)

    def open_cache(self) -> ToolCache:
        return ToolCache(Path(self.cache_path))
