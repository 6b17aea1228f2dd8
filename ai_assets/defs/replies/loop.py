"""The bounded draft -> critique -> refine loop, run round by round over all tickets at once.

Each round is one engine call per step over every ticket still in the loop (concurrent, cached,
budgeted like any LLM step), so a rerun with nothing changed replays every round from the cache.
A ticket leaves the loop `approved` when the critic, the rule checks and the grounding check
(every sentence supported by the excerpts it cites, `grounding.py`) pass, or `needs_human` when a
step fails or the last allowed refinement still fails them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ai_assets.defs.replies.tables import REPLY_DRAFTS, REPLY_ROUNDS
from ai_assets.defs.replies.tasks import rule_problems
from ai_assets.llm.engine import TaskResult
from ai_assets.llm.task import LLMTask

# (task, rows keyed by `row_key` with the task's input columns, label for progress lines) -> result
RunStep = Callable[[LLMTask, pl.DataFrame, str], TaskResult]
# drafts (reply, cited_chunk_ids, knowledge) -> per draft, its grounding problems (grounding.py)
Ground = Callable[[pl.DataFrame], pl.Series]

# The loop's rounds keyed by `row_key`; the ticket's key columns are joined back by the caller.
ROUND_COLUMNS = {
    "row_key": pl.Utf8,
    **{name: dtype for name, dtype in REPLY_ROUNDS.polars_schema.items() if name not in ("ticket_id", "created_date")},
}


# What the loop reads of a ticket: the prompts' inputs, the chunks its citations must come from, and
# the order status the order system gave (the rule checks hold a reply to it).
LOOP_INPUTS = (
    "row_key",
    "customer_context",
    "knowledge",
    "facts",
    "subject",
    "body",
    "retrieved_chunk_ids",
    "order_status",
)


@dataclass(frozen=True)
class LoopResult:
    rounds: pl.DataFrame  # ROUND_COLUMNS: one row per ticket and round
    outcomes: pl.DataFrame  # one row per ticket: row_key, reply, cited_chunk_ids, rounds, outcome, reason


def _failed_rows(failures: pl.DataFrame, round_no: int, step: str, what: str) -> pl.DataFrame:
    return failures.select(
        "row_key",
        round=pl.lit(round_no, pl.Int32),
        step=pl.lit(step),
        verdict=pl.lit("error"),
        error=pl.format(f"{what} failed ({{}}): {{}}", "error_type", "reason"),
        model="model",
    )


def run_reply_loop(
    tickets: pl.DataFrame,
    tasks: tuple[LLMTask, LLMTask, LLMTask],
    run_step: RunStep,
    max_refinements: int,
    ground: Ground,
) -> LoopResult:
    """`tickets`: the LOOP_INPUTS columns."""
    tickets = tickets.select(LOOP_INPUTS)
    draft_task, critique_task, refine_task = tasks
    rounds: list[pl.DataFrame] = []
    active, step, task = tickets.with_columns(draft=pl.lit(""), problems=pl.lit("")), "draft", draft_task
    for round_no in range(1, max_refinements + 2):
        if active.height == 0:
            break
        drafted = run_step(task, active, f"{step} round {round_no}")
        rounds.append(_failed_rows(drafted.failures, round_no, step, step))
        drafts = active.drop("draft").join(drafted.outputs, on="row_key").rename({"reply": "draft"})
        critique_input = drafts.with_columns(cited=pl.col("cited_chunk_ids").list.join(", "))
        critiqued = run_step(critique_task, critique_input, f"critique round {round_no}")
        rounds.append(_failed_rows(critiqued.failures, round_no, step, "critique"))
        judged = drafts.join(
            critiqued.outputs.select(
                "row_key",
                "grounded",
                "policy_ok",
                "tone_ok",
                pl.col("problems").alias("critic_problems"),
                pl.col("prompt_version").alias("critique_prompt_version"),
                pl.col("prompt_tokens").alias("critique_prompt_tokens"),
                pl.col("completion_tokens").alias("critique_completion_tokens"),
                pl.col("cost_usd").alias("critique_cost_usd"),
                pl.col("cache_hit").alias("critique_cache_hit"),
            ),
            on="row_key",
        )
        as_replies = judged.rename({"draft": "reply"})
        # The grounding check decides what may go out unread; the rules stay as a second line.
        judged = judged.with_columns(rules=rule_problems(as_replies), grounding=ground(as_replies))
        judged = judged.with_columns(
            problems_list=pl.concat_list("critic_problems", "rules", "grounding"),
            passed=pl.col("grounded")
            & pl.col("policy_ok")
            & pl.col("tone_ok")
            & (pl.col("rules").list.len() == 0)
            & (pl.col("grounding").list.len() == 0),
        )
        rounds.append(
            judged.select(
                "row_key",
                round=pl.lit(round_no, pl.Int32),
                step=pl.lit(step),
                reply="draft",
                cited_chunk_ids="cited_chunk_ids",
                grounded="grounded",
                policy_ok="policy_ok",
                tone_ok="tone_ok",
                problems="problems_list",
                verdict=pl.when("passed").then(pl.lit("pass")).otherwise(pl.lit("fail")),
                model="model",
                draft_prompt_version="prompt_version",
                critique_prompt_version="critique_prompt_version",
                prompt_tokens=pl.col("prompt_tokens") + pl.col("critique_prompt_tokens"),
                completion_tokens=pl.col("completion_tokens") + pl.col("critique_completion_tokens"),
                cost_usd=pl.col("cost_usd") + pl.col("critique_cost_usd"),
                cache_hit=pl.col("cache_hit") & pl.col("critique_cache_hit"),
            )
        )
        # The next round refines what failed, with the problems the critic and the rules found.
        active = judged.filter(~pl.col("passed")).select(
            *tickets.columns,
            "draft",
            problems=pl.col("problems_list").list.eval(pl.lit("- ") + pl.element()).list.join("\n"),
        )
        step, task = "refine", refine_task

    all_rounds = as_rounds(rounds)
    return LoopResult(all_rounds, _outcomes(tickets, all_rounds, max_refinements))


def as_rounds(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """`frames` of round rows as one frame of ROUND_COLUMNS; a column a frame lacks is null."""
    if not frames:
        return pl.DataFrame(schema=ROUND_COLUMNS)
    return pl.concat(
        [
            r.select(
                [pl.col(c).cast(t) if c in r.columns else pl.lit(None, t).alias(c) for c, t in ROUND_COLUMNS.items()]
            )
            for r in frames
        ]
    )


def _outcomes(tickets: pl.DataFrame, rounds: pl.DataFrame, max_refinements: int) -> pl.DataFrame:
    """Per ticket: its last round decides; the reply is the last draft written (for a reviewer)."""
    last = (
        rounds.sort("round")
        .group_by("row_key", maintain_order=True)
        .agg(
            pl.col("round").last().alias("rounds"),
            pl.col("verdict").last(),
            pl.col("error").last(),
            pl.col("problems").last(),
            pl.col("reply").drop_nulls().last(),
            pl.col("cited_chunk_ids").drop_nulls().last(),
        )
    )
    reason = (
        pl.when(pl.col("verdict") == "error")
        .then(pl.col("error"))
        .when(pl.col("verdict") == "fail")
        .then(
            pl.format(
                f"critique still failing after {max_refinements} refinements: {{}}", pl.col("problems").list.join("; ")
            )
        )
    )
    return (
        tickets.select("row_key")
        .join(last, on="row_key", how="left")
        .select(
            "row_key",
            "reply",
            pl.col("cited_chunk_ids").fill_null([]),
            pl.col("rounds").fill_null(0),
            outcome=pl.when(pl.col("verdict") == "pass").then(pl.lit("approved")).otherwise(pl.lit("needs_human")),
            reason=reason,
        )
    )


def loop_version(tasks: tuple[LLMTask, ...], model: str, max_refinements: int, grounding: str = "") -> str:
    """The version of the loop's answers: its three prompts, the model, the bound and the grounding
    check's embedding model and threshold."""
    material = "|".join([*(t.prompt_version for t in tasks), model, str(max_refinements), grounding])
    return f"reply_loop@{hashlib.sha256(material.encode()).hexdigest()[:12]}"


def reply_tables(
    tickets: pl.DataFrame, untriaged: pl.DataFrame, loop: LoopResult, version: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reply_drafts, reply_rounds) rows: one draft row per ticket, triaged (the loop's outcome, its
    tokens and cost summed over its rounds) or not (straight to a human); one row per round."""
    keys = tickets.select("row_key", "ticket_id", "created_date")
    # A failed step made no answer: it counts no tokens (its retries are in the run's metadata).
    rounds = loop.rounds.join(keys, on="row_key").with_columns(
        pl.col("prompt_tokens", "completion_tokens").fill_null(0),
        pl.col("cost_usd").fill_null(0.0),
        pl.col("cache_hit").fill_null(False),
    )
    totals = loop.rounds.group_by("row_key").agg(
        pl.col("model").drop_nulls().first(),
        pl.col("draft_prompt_version").drop_nulls().first(),
        pl.col("critique_prompt_version").drop_nulls().first(),
        pl.col("prompt_tokens").sum(),
        pl.col("completion_tokens").sum(),
        pl.col("cost_usd").sum(),
        pl.col("cache_hit").fill_null(False).all(),
    )
    drafted = loop.outcomes.join(keys, on="row_key").join(totals, on="row_key", how="left")
    to_human = untriaged.with_columns(
        cited_chunk_ids=pl.lit([], pl.List(pl.Utf8)), rounds=pl.lit(0), outcome=pl.lit("needs_human")
    )
    drafts = pl.concat([drafted, to_human], how="diagonal_relaxed").with_columns(
        pl.col("prompt_tokens", "completion_tokens").fill_null(0),
        pl.col("cost_usd").fill_null(0.0),
        # No call was made for a ticket that went straight to a human: nothing was spent on it.
        pl.col("cache_hit").fill_null(True),
        prompt_version=pl.lit(version),
    )
    return REPLY_DRAFTS.conform(drafts), REPLY_ROUNDS.conform(rounds)
