"""Reply assets: a grounded reply per ticket from the bounded draft -> critique -> refine loop, or
from a knowledge-base template on a model too small to draft."""

import dagster as dg
import duckdb
import polars as pl

from ai_assets.defs.investigation.tables import TICKET_INVESTIGATIONS
from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.reference.tables import CUSTOMERS, KB_CHUNKS
from ai_assets.defs.replies.grounding import grounding_problems
from ai_assets.defs.replies.loop import loop_version, reply_tables, run_reply_loop
from ai_assets.defs.replies.tables import REPLY_DRAFTS, REPLY_ROUNDS
from ai_assets.defs.replies.tasks import states_order_status
from ai_assets.defs.replies.templates import run_template_replies, template_version
from ai_assets.defs.retrieval.assets import embed_with
from ai_assets.defs.retrieval.tables import TICKET_CONTEXT
from ai_assets.defs.triage.tables import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.llm.metrics import StepMetrics
from ai_assets.llm.task import LLMTask
from ai_assets.resources import EmbeddingResource, LLMResource
from ai_assets.transform.llm_step import (
    LLM_POOL,
    LLM_STEP_RETRY_POLICY,
    LLMRunConfig,
    llm_metadata,
    run_llm_step,
    with_row_key,
)
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.sql import sql_file

_READS = (
    RAW_TICKETS,
    TICKET_TRIAGE,
    TICKET_TRIAGE_FAILURES,
    TICKET_CONTEXT,
    TICKET_INVESTIGATIONS,
    KB_CHUNKS,
    CUSTOMERS,
)


def read_reply_inputs(conn: duckdb.DuckDBPyConnection, days: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(triaged tickets with their rendered context, untriaged tickets with the reason) of `days`."""
    tickets = conn.execute(sql_file(__file__, "reply_inputs"), {"days": days}).pl()
    untriaged = conn.execute(sql_file(__file__, "untriaged"), {"days": days}).pl()
    return with_row_key(tickets), untriaged


def build_reply_drafts(
    tasks: tuple[LLMTask, LLMTask, LLMTask],
    model: str,
    max_refinements: int,
    daily: Daily,
    embed_model: str,
    min_support: float | None,
    templates: bool = False,
    template_min_score: float = 0.0,
) -> dg.AssetsDefinition:
    """`min_support`: the grounding threshold for `embed_model` (None: none, every reply to review);
    `templates`: replies from knowledge-base templates instead of the LLM loop (templates.py), which
    quote a top chunk of the ticket's category scoring at least `template_min_score`."""
    grounding = f"{embed_model}@{min_support}"
    version = (
        template_version(grounding, template_min_score)
        if templates
        else loop_version(tasks, model, max_refinements, grounding)
    )
    deps = [table.name for table in _READS if table is not RAW_TICKETS]

    @dg.multi_asset(
        name="reply_drafts",
        specs=[REPLY_DRAFTS.spec(deps=deps), REPLY_ROUNDS.spec(deps=deps)],
        group_name="replies",
        # The three prompts, the model and the bound (or the templates): a change to any marks the replies unsynced.
        code_version=version,
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
        **daily.asset_args(),
    )
    def reply_drafts(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        embeddings: EmbeddingResource,
        warehouse: WarehouseResource,
    ):
        """Drafts a reply grounded in each triaged ticket's context, has a critic check it, refines
        what fails (at most AI_ASSETS_REPLY_MAX_REFINEMENTS times); only a reply whose every
        sentence its cited excerpts support is approved; untriaged tickets go to a human. With
        AI_ASSETS_REPLY_DRAFTING=template (auto: on the embedded model) the reply quotes the top
        chunk in fixed phrases instead, when it is about the ticket's category, through the same
        rule and grounding checks."""
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            tickets, untriaged = read_reply_inputs(conn, days)
        how = "Template replies" if templates else "Reply loop"
        context.log.info(f"{how} for {tickets.height} triaged tickets ({untriaged.height} untriaged go to review)")

        step_metrics: list[StepMetrics] = []  # of every draft, critique and refine call

        def run_step(task: LLMTask, rows: pl.DataFrame, label: str):
            result = run_llm_step(context, llm, config, task, rows, label)
            step_metrics.append(result.metrics)
            return result

        def embed(texts: list[str]):
            # Through the embedding cache, as ticket queries: a rerun embeds nothing.
            return embed_with(embeddings, texts, "query")[0]

        def ground(drafts: pl.DataFrame) -> pl.Series:
            return grounding_problems(drafts, embed, min_support, embeddings.model)

        if templates:
            loop = run_template_replies(tickets, ground, version, template_min_score)
        else:
            loop = run_reply_loop(tickets, tasks, run_step, max_refinements, ground)
        drafts, rounds = reply_tables(tickets, untriaged, loop, version)
        refinements = rounds.filter(pl.col("step") == "refine").height
        with_status = drafts.join(
            tickets.select("ticket_id", "created_date", "order_status"), on=["ticket_id", "created_date"]
        )
        with_status = with_status.filter(pl.col("order_status").is_not_null() & pl.col("reply").is_not_null())
        stated = int(with_status.select(states_order_status(pl.col("reply"), pl.col("order_status")).sum()).item())
        context.log.info(f"Replies: {counts_by(drafts, 'outcome')}; {rounds.height} rounds, {refinements} refinements")
        # One set of LLM metrics for the loop (rows: its tickets), on both tables it writes.
        metrics = llm_metadata(context, StepMetrics.combined(step_metrics, rows=tickets.height), llm)
        stats = {
            REPLY_DRAFTS: {
                "by_outcome": counts_by(drafts, "outcome"),
                "drafting": "template" if templates else "llm",
                # Of the replies to tickets whose order the investigation found: how many state its real status.
                "replies_with_order_status": with_status.height,
                "replies_stating_real_order_status": stated,
                **metrics,
            },
            REPLY_ROUNDS: {"by_verdict": counts_by(rounds, "verdict"), "by_step": counts_by(rounds, "step"), **metrics},
        }
        yield from warehouse.write({REPLY_DRAFTS: drafts, REPLY_ROUNDS: rounds}, days, stats)

    return reply_drafts
