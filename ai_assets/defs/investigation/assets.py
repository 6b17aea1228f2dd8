"""The investigation asset: per ticket, facts gathered from internal systems with tools, and a row
per tool call (`tools/` holds the registry, the backends and the loop)."""

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb
import polars as pl

from ai_assets.defs.investigation.facts import investigation_tables, subjects
from ai_assets.defs.investigation.tables import TICKET_INVESTIGATIONS, TOOL_CALLS
from ai_assets.defs.retrieval.assets import embed_with
from ai_assets.defs.retrieval.search import top_k_chunks
from ai_assets.llm.task import PromptTemplate
from ai_assets.resources import EmbeddingResource, LLMResource, ToolsResource
from ai_assets.tools.agent import AgentTask, investigate
from ai_assets.tools.orders import HttpOrderService, WarehouseOrders
from ai_assets.tools.registry import ToolBox
from ai_assets.tools.ticket_tools import customer_history_tool, order_status_tool, search_knowledge_base_tool
from ai_assets.transform.llm_step import (
    LLM_POOL,
    LLM_STEP_RETRY_POLICY,
    LLMRunConfig,
    days_label,
    llm_metadata,
    with_row_key,
)
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.sql import sql_file

DEPS = ["raw_tickets", "ticket_triage", "ticket_context", "orders", "kb_embeddings"]


def investigation_task(prompts_dir) -> AgentTask:
    return AgentTask(PromptTemplate.load("ticket_investigation", prompts_dir))


def _kb_search(
    conn: duckdb.DuckDBPyConnection, embeddings: EmbeddingResource, lock: threading.Lock
) -> Callable[[str], list[dict]]:
    """The search_knowledge_base backend: the query embedded like a ticket, the nearest chunks."""

    def search(query: str) -> list[dict]:
        vectors, _, _ = embed_with(embeddings, [query], "query")
        with lock:  # one DuckDB connection; tool calls run in worker threads
            nearest = top_k_chunks(conn, ["query"], vectors, embeddings.top_k)
        if nearest.is_empty():
            return []
        row = nearest.row(0, named=True)
        return [
            {"chunk_id": chunk, "article_id": article, "score": round(score, 4)}
            for chunk, article, score in zip(row["chunk_ids"], row["article_ids"], row["scores"])
        ]

    return search


def _kb_version(conn: duckdb.DuckDBPyConnection) -> str:
    (hashes,) = conn.execute("SELECT string_agg(content_hash, ',' ORDER BY chunk_id) FROM kb_embeddings").fetchone()
    return hashlib.sha256((hashes or "").encode()).hexdigest()[:16]


def _histories(tickets: pl.DataFrame) -> dict[tuple[date, str], list[dict]]:
    """(created_date, ticket_id) -> its customer's earlier tickets: a ticket id is unique within its
    day only, and one run may cover several days (two customers can share an id)."""
    return {
        (day, ticket_id): [{**h, "created_at": str(h["created_at"])} for h in history]
        for day, ticket_id, history in tickets.select("created_date", "ticket_id", "history").iter_rows()
    }


def build_ticket_investigations(task: AgentTask, tools_version: str, daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="ticket_investigations",
        specs=[TICKET_INVESTIGATIONS.spec(deps=DEPS), TOOL_CALLS.spec(deps=DEPS)],
        group_name="investigation",
        # The prompt and the tool settings: a change to either marks the investigations unsynced.
        code_version=hashlib.sha256((task.prompt.system + task.prompt.user + tools_version).encode()).hexdigest()[:12],
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
        **daily.asset_args(),
    )
    def ticket_investigations(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        embeddings: EmbeddingResource,
        tools: ToolsResource,
        warehouse: WarehouseResource,
    ):
        """Gathers each ticket's facts from internal systems with tools (order status, knowledge-base
        search, customer history): chosen by the model through native tool calling, or planned from
        the triage; at most AI_ASSETS_INVESTIGATION_MAX_TOOL_CALLS calls a ticket."""
        days = partition_days(context)
        label = f"investigation {days_label(days)}"
        native = tools.native(llm)
        with warehouse.get_connection() as conn:
            tickets = with_row_key(conn.execute(sql_file(__file__, "investigation_inputs"), {"days": days}).pl())
            orders = (
                HttpOrderService(
                    tools.orders_api_url, tools.timeout_s, tools.retries, breaker_failures=tools.breaker_failures
                )
                if tools.orders_api_url
                else WarehouseOrders.load(conn, tickets)
            )
            lock = threading.Lock()
            tool_cache, llm_cache = tools.open_cache(), llm.open_cache()
            toolbox = ToolBox(
                [
                    order_status_tool(orders),
                    search_knowledge_base_tool(_kb_search(conn, embeddings, lock), _kb_version(conn)),
                    customer_history_tool(_histories(tickets)),
                ],
                tool_cache,
                tools.max_calls,
            )
            version = task.prompt_version(toolbox)
            chooser = f"native tool calling, model {llm.chat_model}" if native else "the triage plan"
            context.log.info(f"{label}: {tickets.height} tickets, {chooser}, {orders.name}, {version}")
            try:
                results, metrics = investigate(
                    subjects(tickets, task.prompt, llm.max_input_chars, llm.redact_pii),
                    toolbox,
                    native=native,
                    task=task,
                    endpoint=llm.endpoint(),
                    cache=llm_cache,
                    limits=config.limits(context, llm),
                    pricing=llm.pricing(),
                    redact_pii=llm.redact_pii,
                    on_progress=lambda done, m: context.log.info(f"{label}: {m.progress_line(done)}"),
                )
            finally:
                tool_cache.close()
                llm_cache.close()
        investigations, calls = investigation_tables(tickets, results, version)
        unavailable = investigations.explode("unavailable").drop_nulls("unavailable")
        fallbacks = sum(1 for r in results.values() if r.fallback)
        context.log.info(
            f"{label}: {calls.height} tool calls ({counts_by(calls, 'status')}), by tool {counts_by(calls, 'tool')}"
        )
        if unavailable.height:
            context.log.warning(
                f"{label}: {counts_by(unavailable, 'unavailable')} tickets found a system unavailable; their facts say "
                "so and their replies must not guess. Check the system (AI_ASSETS_ORDERS_API_URL) and rematerialise "
                "this partition: answers already received are cached."
            )
        if isinstance(orders, HttpOrderService) and orders.breaker.open:
            context.log.warning(f"{label}: stopped asking the order service: {orders.breaker.reason}")
        if fallbacks:
            context.log.warning(f"{label}: the model failed for {fallbacks} tickets; their plan ran instead")
        stats = {
            "tool_calls": calls.height,
            "tool_calls_per_ticket": round(calls.height / max(tickets.height, 1), 3),
            "tool_calls_cached": int(calls["cache_hit"].sum()),
            "tool_calls_by_status": counts_by(calls, "status"),
            "tool_calls_by_tool": counts_by(calls, "tool"),
            "by_mode": counts_by(investigations, "mode"),
            "with_order_status": int(investigations["order_status"].is_not_null().sum()),
            "systems_unavailable": counts_by(unavailable, "unavailable"),
            "model_fallbacks": fallbacks,
            **llm_metadata(context, metrics, llm),
        }
        yield from warehouse.write(
            {TICKET_INVESTIGATIONS: investigations, TOOL_CALLS: calls},
            days,
            {TICKET_INVESTIGATIONS: stats, TOOL_CALLS: {"by_status": counts_by(calls, "status")}},
        )

    return ticket_investigations


def tools_version(orders_api_url: str | None, max_calls: int, calling: str) -> str:
    return json.dumps(["http" if orders_api_url else "table", max_calls, calling])
