"""The knowledge-base article proposals asset: an article drafted per category kb_gaps flags."""

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from ai_assets.defs.kb_updates.proposals import (
    decided_unknown,
    drafted_proposals,
    proposal_inputs,
    read_material,
    settle,
    write_drafts,
)
from ai_assets.defs.kb_updates.tables import (
    KB_ARTICLE_PROPOSALS,
    KB_PUBLICATIONS,
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
)
from ai_assets.extract.folder_assets import folder_table_asset
from ai_assets.extract.kb_reviews import read_kb_review_decisions
from ai_assets.llm.task import LLMTask
from ai_assets.load.kb_publishing import publish_approved
from ai_assets.quality.article_files import article_files
from ai_assets.resources import DataDirResource, LLMResource
from ai_assets.secrets import scrub_secrets
from ai_assets.transform.llm_step import LLM_POOL, LLM_STEP_RETRY_POLICY, LLMRunConfig, llm_metadata, run_llm_step
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read

_DEPS = [
    "kb_gaps",
    "ticket_context",
    "ticket_triage",
    "raw_tickets",
    "ticket_outcomes",
    "kb_review_decisions",
    "landing_kb",
]


def build_kb_article_proposals(task: LLMTask, model: str, threshold: float, max_tickets: int) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="kb_article_proposals",
        specs=[KB_ARTICLE_PROPOSALS.spec(deps=_DEPS)],
        group_name="kb_updates",
        # The prompt, the model and what selects the material: a change to any marks the proposals unsynced.
        code_version=f"{task.prompt_version}|{model}|threshold={threshold}|max_tickets={max_tickets}",
        pool=LLM_POOL,
        retry_policy=LLM_STEP_RETRY_POLICY,
    )
    def kb_article_proposals(
        context: dg.AssetExecutionContext,
        config: LLMRunConfig,
        llm: LLMResource,
        landing: DataDirResource,
        warehouse: WarehouseResource,
    ):
        """Drafts a knowledge-base article for each category kb_gaps flags, from the replies reviewers
        approved or edited for its poorly covered tickets; checks it by the reply rules, writes it to
        kb_proposals/<proposal_id>.md and applies the decisions of landing/kb_reviews/. Publishes nothing."""
        with warehouse.get_connection() as conn:
            _require_kb_gaps(conn)
            gaps, tickets = read_material(conn, threshold, max_tickets)
            previous = read(conn, KB_ARTICLE_PROPOSALS)
            decisions = read(conn, KB_REVIEW_DECISIONS)
        inputs = proposal_inputs(gaps, tickets, task.prompt_version)
        for category, reason in inputs.filter(pl.col("reason").is_not_null()).select("category", "reason").rows():
            context.log.warning(f"kb_gaps flags {category}, but no article is drafted: {reason}")
        to_draft = inputs.filter(pl.col("reason").is_null())
        result = run_llm_step(context, llm, config, task, to_draft, "kb_article_proposals")
        drafts = write_drafts(drafted_proposals(inputs, result, task.prompt_version), Path(landing.data_dir))
        published = {f.proposal_id for f in article_files(landing.landing_dir / "kb") if f.proposal_id}
        proposals = settle(drafts, previous, decisions, published)
        unknown = decided_unknown(decisions, proposals)
        if unknown:
            context.log.warning(f"landing/kb_reviews decides proposals that do not exist: {', '.join(unknown)}")
        context.log.info(
            f"{gaps.height} categories flagged, {to_draft.height} drafted from {tickets.height} approved or edited "
            f"replies; proposals: {counts_by(proposals, 'status')}"
        )
        meta = {
            "flagged_categories": gaps.height,
            "by_status": counts_by(proposals, "status"),
            "decisions_for_unknown_proposals": len(unknown),
            **llm_metadata(context, result.metrics, llm),
        }
        yield from warehouse.write({KB_ARTICLE_PROPOSALS: proposals}, metadata={KB_ARTICLE_PROPOSALS: meta})

    return kb_article_proposals


def _require_kb_gaps(conn: duckdb.DuckDBPyConnection) -> None:
    tables = {name for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "kb_gaps" not in tables:
        raise dg.Failure(
            "The kb_gaps mart has not been built yet: materialise a day of tickets (daily_tickets_job), then the "
            "marts (marts_job), then kb_article_proposals."
        )


kb_review_decisions = folder_table_asset(
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
    read_kb_review_decisions,
    "kb_reviews",
    "landing_kb_reviews",
    "kb_updates",
)


def _upload_published(landing: DataDirResource, publications: pl.DataFrame, context) -> list[str]:
    """Puts each published article in the landing bucket (when there is one); the problems, per article."""
    problems = []
    for article in publications.filter(pl.col("status") == "published")["source_file"]:
        if not (landing.landing_dir / article).exists():
            context.log.warning(f"{article}: not in landing/ under that name (renamed by hand?); not uploaded")
            continue
        try:
            landing.landing.publish(article)
        except Exception as error:  # noqa: BLE001 - each article's own failure, reported together
            problems.append(f"{article}: {scrub_secrets(str(error))}")
    return problems


@dg.multi_asset(specs=[KB_PUBLICATIONS.spec(deps=[KB_ARTICLE_PROPOSALS.name])], group_name="kb_updates")
def kb_publications(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
    """Publishes each approved proposal's draft into landing/kb/ (once; never over another article)."""
    with warehouse.get_connection() as conn:
        proposals = read(conn, KB_ARTICLE_PROPOSALS)
    publications = publish_approved(proposals, Path(landing.data_dir), landing.landing_dir / "kb")
    refused = publications.filter(pl.col("status") == "refused")
    written = publications.filter(pl.col("published_now"))
    before = publications.height - written.height - refused.height
    context.log.info(
        f"Published {written.height} new articles to landing/kb/ ({before} published before), refused {refused.height}"
    )
    if written.height:
        context.log.info("Materialise reference_data_job to embed them (only their chunks are new).")
    meta = {"published_now": written.height, "refused": refused.height, "by_status": counts_by(publications, "status")}
    yield from warehouse.write({KB_PUBLICATIONS: publications}, metadata={KB_PUBLICATIONS: meta})
    # With AI_ASSETS_LANDING_URL, the articles go to the bucket too, for every machine (after the
    # table: a failed upload leaves the record of what was published, and the next run retries it).
    unsent = _upload_published(landing, publications, context)
    problems = [f"Published locally but not put in {landing.landing_url}: {'; '.join(unsent)}"] if unsent else []
    if refused.height:
        # Recorded above first: the table says which and why; the run fails so that someone looks.
        problems.append(
            "Refused to publish: " + "; ".join(f"{p}: {r}" for p, r in refused.select("proposal_id", "reason").rows())
        )
    if problems:
        raise dg.Failure(description=". ".join(problems), metadata=meta)
