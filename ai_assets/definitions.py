"""The one `dg.Definitions` of ai_assets, assembled from the folders of the architecture."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from ai_assets.automation.jobs import daily_tickets_job, marts_job, reference_data_job, reviews_job
from ai_assets.automation.schedules import daily_tickets_schedule
from ai_assets.automation.sensors import landing_files_sensor, reviews_sensor, run_failures_sensor
from ai_assets.config import Settings, load_settings
from ai_assets.extract.assets import customers, kb_articles, kb_chunks, raw_tickets, review_decisions
from ai_assets.load.assets import build_routing, outbox, outbox_deliveries
from ai_assets.load.dbt import dbt_marts, dbt_project
from ai_assets.quality.checks import asset_checks
from ai_assets.quality.freshness import freshness_checks, freshness_sensor
from ai_assets.resources import DataDirResource, EmbeddingResource, LLMResource, OutboxResource
from ai_assets.transform.assets import build_ticket_triage
from ai_assets.transform.reply import reply_tasks
from ai_assets.transform.reply_assets import build_reply_drafts
from ai_assets.transform.retrieval_assets import build_retrieval_assets
from ai_assets.transform.triage import triage_task
from ai_assets.warehouse.locking import LockedDuckDBResource

# in_process (default): one process per run, the cheapest on a small machine (each step process
# re-imports everything and starts its own embedded model). multiprocess: steps in parallel
# processes; safe on one DuckDB file thanks to LockedDuckDBResource.
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "landing": DataDirResource(data_dir=str(settings.data_dir)),
        "duckdb": LockedDuckDBResource(database=str(settings.warehouse_path)),
        "dbt": DbtCliResource(project_dir=dbt_project),
        "embeddings": EmbeddingResource(
            base_url=None if settings.embed_base_url == "embedded" else (settings.embed_base_url or settings.base_url),
            model=settings.embed_model,
            use_embedded_model=settings.uses_embedded_embeddings,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            top_k=settings.retrieval_top_k,
            max_input_chars=settings.max_input_chars,
            redact_pii=settings.redacts_for(settings.uses_embedded_embeddings),
            cache_path=str(settings.data_dir / "embedding_cache.sqlite"),
        ),
        "outbox_sink": OutboxResource(
            jsonl_path=str(settings.outbox_path),
            webhook_url=settings.outbox_webhook_url,
            max_attempts=settings.outbox_max_attempts,
            backoff_s=settings.outbox_backoff_s,
        ),
        "llm": LLMResource(
            base_url=settings.base_url,
            chat_model=settings.chat_model,
            use_embedded_model=settings.uses_embedded_model,
            concurrency=settings.llm_concurrency,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            requests_per_minute=settings.llm_requests_per_minute,
            tokens_per_minute=settings.llm_tokens_per_minute,
            max_tokens_per_run=settings.llm_max_tokens_per_run,
            max_cost_per_run_usd=settings.llm_max_cost_per_run_usd,
            response_format=settings.response_format,
            max_input_chars=settings.max_input_chars,
            redact_pii=settings.redacts_for(settings.uses_embedded_model),
            price_input_per_1m=settings.price_input_per_1m,
            price_output_per_1m=settings.price_output_per_1m,
            cache_path=str(settings.llm_cache_path),
            log_dir=str(settings.data_dir / "logs"),
        ),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return dg.Definitions(
        assets=[
            raw_tickets,
            customers,
            kb_articles,
            kb_chunks,
            build_ticket_triage(triage_task(settings), settings.chat_model),
            *build_retrieval_assets(settings.embed_model),
            build_reply_drafts(reply_tasks(settings), settings.chat_model, settings.reply_max_refinements),
            review_decisions,
            build_routing(settings.review_min_confidence),
            outbox,
            outbox_deliveries,
            dbt_marts,
        ],
        asset_checks=[*asset_checks, *freshness_checks],
        jobs=[daily_tickets_job, reference_data_job, reviews_job, marts_job],
        schedules=[daily_tickets_schedule],
        sensors=[landing_files_sensor, reviews_sensor, run_failures_sensor, freshness_sensor],
        resources=build_resources(settings),
        executor=EXECUTORS[settings.executor],
    )


defs = build_definitions()
