"""Knowledge-base article proposals: for each category `kb_gaps` flags, an article drafted by the LLM
from pathlib import Path
from the replies reviewers approved or edited for its poorly covered tickets, checked by the reply
rules, then settled against reviewers' decisions and what is already published. Plain polars and
DuckDB, no Dagster."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_assets.defs.kb_updates.tables import KB_ARTICLE_PROPOSALS
from ai_assets.defs.replies.tasks import rule_problems
from ai_assets.llm.engine import TaskResult
from ai_assets.llm.redaction import redact_expr
from ai_assets.llm.task import LLMTask, PromptTemplate
from ai_assets.quality.article_files import content_hash, render_article
from ai_assets.quality.vocabulary import CATEGORIES
from ai_assets.warehouse.sql import sql_file

TITLE_MAX_CHARS = 80
BODY_MAX_CHARS = 6000
# The folder of the draft files, under the data directory (the draft_file column is relative to it).
DRAFTS_FOLDER = "kb_proposals"
# Approved replies an article is drafted from, per category (the worst covered tickets first): enough to
# see the questions customers keep asking, few enough to stay within AI_ASSETS_MAX_INPUT_CHARS.
MAX_TICKETS = 8
# Statuses without an article: kept only while they are current (they are no proposal to decide).
_NOT_DRAFTED = ("needs_material", "failed")


class KBArticle(BaseModel):
    """A drafted article: its title and its markdown body (sections under `## ` headings)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=TITLE_MAX_CHARS)
    # No maxLength in the schema (llama.cpp turns it into one grammar rule per character): the validator.
    body: str

    @field_validator("title")
    @classmethod
    def one_line(cls, value: str) -> str:
        value = " ".join(value.split()).lstrip("# ")
        if not value:
            raise ValueError("title is empty")
        return value

    @field_validator("body")
    @classmethod
    def not_blank_nor_too_long(cls, value: str) -> str:
        # The title is the file's own `# ` heading: a model that repeats it would show it twice.
        value = re.sub(r"\A\s*# [^\n]*\n", "", value).strip()
        if not value:
            raise ValueError("body is empty")
        if len(value) > BODY_MAX_CHARS:
            raise ValueError(f"body is longer than {BODY_MAX_CHARS} characters")
        return value


def kb_article_task(prompts_dir: Path | None = None) -> LLMTask:
    return LLMTask(
        "kb_article",
        PromptTemplate.load("kb_article", prompts_dir),
        KBArticle,
        ("category", "examples"),
        temperature=0.0,
        max_tokens=1500,
    )


def read_material(
    conn: duckdb.DuckDBPyConnection, threshold: float, max_tickets: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the categories kb_gaps flags with their poorly covered ticket count, the tickets to write from)."""
    gaps = conn.execute("SELECT category, poorly_covered_tickets FROM kb_gaps WHERE is_gap ORDER BY category").pl()
    params = {"threshold": threshold, "max_tickets": max_tickets}
    return gaps, conn.execute(sql_file(__file__, "kb_proposal_material"), params).pl()


def proposal_id(category: str, ticket_keys: list[str], prompt_version: str) -> str:
    """The same category, cited tickets and prompt: the same proposal (and its decisions still hold)."""
    material = json.dumps([category, sorted(ticket_keys), prompt_version])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def proposal_inputs(gaps: pl.DataFrame, tickets: pl.DataFrame, prompt_version: str) -> pl.DataFrame:
    """One row per flagged category: its proposal id, the cited tickets, the prompt's `examples`, the
    approved replies as `knowledge` (what the rule checks allow the article to state), and `reason`:
    why nothing can be drafted for it (null: it can)."""
    # One paragraph per example: blank lines inside a ticket or reply would read as the next example.
    one_paragraph = [pl.col(c).str.replace_all(r"\n\s*\n", "\n") for c in ("subject", "body", "final_reply")]
    subject, body, reply = one_paragraph
    example = pl.format("[{}] {}\n{}\nApproved answer: {}", "ticket_key", subject, body, reply)
    by_category = tickets.group_by("category", maintain_order=True).agg(
        cited_ticket_ids=pl.col("ticket_key"),
        examples=example.str.join("\n\n"),
        knowledge=pl.format("[{}] {}", "ticket_key", "final_reply").str.join("\n\n"),
    )
    rows = gaps.join(by_category, on="category", how="left").with_columns(pl.col("cited_ticket_ids").fill_null([]))
    no_reply = pl.format(
        "none of its {} poorly covered tickets has a reply a reviewer approved or edited (landing/reviews/): "
        "decide some, then materialise kb_article_proposals again",
        "poorly_covered_tickets",
    )
    untriaged = pl.format(
        "its {} poorly covered tickets have no triage category (the triage failed); an article needs one of {}",
        "poorly_covered_tickets",
        pl.lit(", ".join(CATEGORIES)),
    )
    ids = [proposal_id(c, keys, prompt_version) for c, keys in rows.select("category", "cited_ticket_ids").rows()]
    return rows.with_columns(
        proposal_id=pl.Series(ids, dtype=pl.Utf8),
        row_key=pl.col("category"),
        reason=pl.when(~pl.col("category").is_in(CATEGORIES))
        .then(untriaged)
        .when(pl.col("cited_ticket_ids").list.len() == 0)
        .then(no_reply),
    )


def article_id(category: pl.Expr, title: pl.Expr) -> pl.Expr:
    """`kb-<category>-<up to six title words>`, as the hand-written articles are named."""
    words = title.str.to_lowercase().str.extract_all(r"[a-z0-9]+").list.head(6).list.join("-")
    return pl.format("kb-{}-{}", category, words)


def drafted_proposals(inputs: pl.DataFrame, result: TaskResult, prompt_version: str) -> pl.DataFrame:
    """The proposals of `inputs` with their drafts from `result` (keyed by category): each article's
    body redacted (an article is for every customer: no contact detail may reach it) and checked by the
    reply rules against the approved replies it is written from. Status before any decision:
    needs_material, failed, blocked or proposed."""
    answers = result.outputs.rename({"row_key": "category"})
    failures = result.failures.select(
        category="row_key",
        failure=pl.format("the draft failed ({}): {}", "error_type", "reason"),
        failed_model="model",
        failed_input_hash="input_hash",
    )
    rows = (
        inputs.join(answers, on="category", how="left")
        .join(failures, on="category", how="left")
        .with_columns(body=redact_expr(pl.col("body")), prompt_version=pl.lit(prompt_version))
    )
    checked = rows.select(
        reply=pl.col("body").fill_null(""),
        cited_chunk_ids="cited_ticket_ids",
        retrieved_chunk_ids="cited_ticket_ids",
        knowledge=pl.col("knowledge").fill_null(""),
    )
    problems = rule_problems(checked) if rows.height else pl.Series([], dtype=pl.List(pl.Utf8))
    drafted = pl.col("body").is_not_null()
    return rows.with_columns(
        problems=pl.when(drafted).then(problems).otherwise(pl.lit([], pl.List(pl.Utf8))),
        reason=pl.coalesce("reason", "failure"),
        model=pl.coalesce("model", "failed_model"),
        input_hash=pl.coalesce("input_hash", "failed_input_hash"),
        article_id=pl.when(drafted).then(article_id(pl.col("category"), pl.col("title"))),
        **{c: pl.col(c).fill_null(0) for c in ("prompt_tokens", "completion_tokens")},
        cost_usd=pl.col("cost_usd").fill_null(0.0),
        cache_hit=pl.col("cache_hit").fill_null(False),
    ).with_columns(
        status=pl.when(pl.col("failure").is_not_null())
        .then(pl.lit("failed"))
        .when(~drafted)
        .then(pl.lit("needs_material"))
        .when(pl.col("problems").list.len() > 0)
        .then(pl.lit("blocked"))
        .otherwise(pl.lit("proposed"))
    )


def draft_text(row: dict) -> str:
    """The article file a proposal publishes as: the front matter `landing/kb` articles have, plus the
    proposal it comes from and the tickets it cites."""
    meta = {
        "article_id": row["article_id"],
        "title": row["title"],
        "category": row["category"],
        "proposal_id": row["proposal_id"],
        "cited_tickets": list(row["cited_ticket_ids"]),
    }
    return render_article(meta, row["title"], row["body"])


def write_drafts(proposals: pl.DataFrame, data_dir: Path) -> pl.DataFrame:
    """Writes each drafted proposal's article file to `kb_proposals/<proposal_id>.md` (atomically; a file
    that already holds that text is left alone) and adds `draft_file` and its `content_hash`."""
    folder = data_dir / DRAFTS_FOLDER
    files, hashes = [], []
    for row in proposals.iter_rows(named=True):
        if row["body"] is None:
            files.append(None)
            hashes.append(None)
            continue
        text = draft_text(row)
        path = folder / f"{row['proposal_id']}.md"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)  # a reader never sees half a draft
        files.append(path.relative_to(data_dir).as_posix())
        hashes.append(content_hash(text))
    return proposals.with_columns(
        draft_file=pl.Series(files, dtype=pl.Utf8), content_hash=pl.Series(hashes, dtype=pl.Utf8)
    )


def settle(current: pl.DataFrame, previous: pl.DataFrame, decisions: pl.DataFrame, published: set[str]) -> pl.DataFrame:
    """The proposals table: this run's proposals, and every earlier drafted one (so a decided or published
    proposal never vanishes when its category's material changes), each with the status it has now:
    published (an article in landing/kb carries its id) > needs_material or failed > blocked (an approval
    does not make it publishable) > approved or rejected (the latest decision) > superseded (not current,
    never decided) > proposed."""
    earlier = previous.filter(
        ~pl.col("proposal_id").is_in(current["proposal_id"].implode()) & ~pl.col("status").is_in(_NOT_DRAFTED)
    )
    latest = decisions.filter(pl.col("is_latest")).select("proposal_id", "decision", "reviewer", "decided_at")
    undecided = [c for c in KB_ARTICLE_PROPOSALS.column_names if c not in ("reviewer", "decided_at")]
    rows = (
        pl.concat([current.select(undecided), earlier.select(undecided)], how="vertical_relaxed")
        .join(latest, on="proposal_id", how="left")
        .with_columns(is_current=pl.col("proposal_id").is_in(current["proposal_id"].implode()))
    )
    decided = pl.format("by {} at {}", "reviewer", pl.col("decided_at").dt.strftime("%Y-%m-%d %H:%M"))
    broken = pl.format("breaks {}", pl.col("problems").list.join("; "))
    # Published stays published: an article removed from landing/kb by hand (or from the bucket) is
    # not published again behind anyone's back.
    was_published = previous.filter(pl.col("status") == "published")["proposal_id"].to_list()
    status = (
        pl.when(pl.col("proposal_id").is_in([*published, *was_published]))
        .then(pl.lit("published"))
        .when(pl.col("status").is_in(_NOT_DRAFTED))
        .then(pl.col("status"))
        .when(pl.col("problems").list.len() > 0)
        .then(pl.lit("blocked"))
        .when(pl.col("decision") == "approve")
        .then(pl.lit("approved"))
        .when(pl.col("decision") == "reject")
        .then(pl.lit("rejected"))
        .when(~pl.col("is_current"))
        .then(pl.lit("superseded"))
        .otherwise(pl.lit("proposed"))
    )
    reason = (
        pl.when(pl.col("status").is_in(_NOT_DRAFTED))
        .then(pl.col("reason"))
        .when(pl.col("status") == "blocked")
        .then(pl.format("not publishable, whatever the decision: the article {}", broken))
        .when(pl.col("status") == "rejected")
        .then(pl.format("rejected {}", decided))
        .when(pl.col("status") == "superseded")
        .then(pl.format("a newer proposal for {} replaced it before anyone decided", "category"))
    )
    return (
        rows.with_columns(status=status)
        .with_columns(reason=reason)
        .select(KB_ARTICLE_PROPOSALS.column_names)
        .sort("category", "proposal_id")
    )


def decided_unknown(decisions: pl.DataFrame, proposals: pl.DataFrame) -> list[str]:
    """Proposal ids decided in landing/kb_reviews that are no proposal: a typo, or a draft never made."""
    ids = decisions.filter(~pl.col("proposal_id").is_in(proposals["proposal_id"].implode()))["proposal_id"]
    return sorted(set(ids.to_list()))
