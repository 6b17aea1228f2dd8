"""The cascade as an option of an LLMStep: a proxy fitted on a labelled table answers the enum fields
it is sure of, the LLM the rest (shown the nearest labelled rows as examples when its prompt has an
`{examples}` placeholder), and each row says which fields the proxy answered (`proxy_fields`).

    cascade:
      labels: review_labels        # a warehouse table with the prompt's columns and the right answers
      fields: [sentiment]          # enum fields of the step
      target_accuracy: 0.9         # default AI_ASSETS_CASCADE_TARGET_ACCURACY

The proxy and its thresholds are the triage's (transform/cascade.py): fitted on the labels' text,
embedded by the embeddings resource, each field's threshold chosen on the labels held out so that
the answers it gives reach the target. The labels table is upstream of the step in the graph, so new
labels mark the step stale and an unchanged rerun asks nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from ai_assets.config import ProjectSettings
from ai_assets.defs.retrieval.assets import embed_with, query_texts
from ai_assets.resources import EmbeddingResource
from ai_assets.transform import cascade
from ai_assets.warehouse.contract import Table

EXAMPLE_CHARS = 300  # of each text column of an example: the gist


class CascadeOption(dg.Model, dg.Resolvable):
    """An LLMStep's cascade: which labelled table teaches the proxy, and which fields it may answer."""

    labels: str = Field(
        description="The warehouse table of labelled rows (every day of it): the columns the prompt reads and, "
        "per field, the right answer."
    )
    fields: list[str] = Field(description="The step's enum fields the proxy may answer.")
    target_accuracy: float | None = Field(
        default=None, gt=0, le=1, description="Per field; unset: AI_ASSETS_CASCADE_TARGET_ACCURACY."
    )
    proxy: Literal["linear", "knn"] | None = Field(default=None, description="Unset: AI_ASSETS_CASCADE_PROXY.")
    few_shot: int | None = Field(
        default=None,
        ge=0,
        description="Nearest labelled rows shown to the LLM, through the prompt's {examples}; "
        "unset: AI_ASSETS_CASCADE_FEW_SHOT.",
    )


@dataclass(frozen=True)
class StepCascade:
    """A CascadeOption with the project's defaults filled in, and the columns its text is made of."""

    labels: Table
    fields: tuple[str, ...]
    text_columns: tuple[str, ...]
    enabled: bool
    proxy: str
    target_accuracy: float
    few_shot: int
    small_llm: str = ""  # the small model its evaluation also measures (SmallLLMResource.describe)

    @classmethod
    def of(
        cls,
        option: CascadeOption,
        labels: Table,
        text_columns: Sequence[str],
        project: ProjectSettings,
        small_llm: str = "",
    ) -> "StepCascade":
        return cls(
            labels,
            tuple(option.fields),
            tuple(text_columns),
            project.cascade,
            option.proxy or project.cascade_proxy,
            option.target_accuracy or project.cascade_target_accuracy,
            project.cascade_few_shot if option.few_shot is None else option.few_shot,
            small_llm,
        )

    def describe(self) -> str:
        """What decides its answers besides the labels' rows: part of the step's code version."""
        if not self.enabled:
            return "cascade off"
        small = f" small_llm={self.small_llm}" if self.small_llm else ""
        return (
            f"cascade {self.labels.name}[{','.join(self.fields)}] {self.proxy} target={self.target_accuracy:g} "
            f"few_shot={self.few_shot}{small}"
        )


@dataclass(frozen=True)
class CascadeRows:
    """The rows to send (with `examples`), the proxy's lineage (keyed by row_key) and what it did."""

    rows: pl.DataFrame
    lineage: pl.DataFrame
    metadata: dict
    fitted: cascade.Cascade | None = None

    def lineage_of(self, plan: str, fields: Sequence[str]) -> pl.DataFrame:
        """The lineage of the labelled rows under another plan (`cascade.plan_thresholds`): only for
        rows planned with `rows_are_labels` (an evaluation), each answered held out."""
        n = self.rows.height
        if plan == cascade.LLM_ALONE or self.fitted is None:
            answers = cascade.answers_at_thresholds({}, {}, n, fields)
        else:
            answers = self.fitted.answer_examples(cascade.plan_thresholds(plan, self.fitted.calibration, {}), fields)
        return cascade.lineage_frame(self.rows["row_key"].to_list(), answers, fields)


def labelled_rows(step: StepCascade, labels: pl.DataFrame) -> pl.DataFrame:
    """The rows of the labels table the proxy learns from: a labelled row teaches every field at
    once, so one without a field's answer is left out."""
    return labels.filter(pl.all_horizontal(pl.col(f).is_not_null() for f in step.fields))


def plan_rows(
    step: StepCascade,
    embeddings: EmbeddingResource,
    labels: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    rows_are_labels: bool = False,
    plan: str = cascade.PROXY_LLM,
) -> CascadeRows:
    """Fits the proxy on `labels` and answers `rows` (keyed by row_key) where `plan` says
    (`cascade.plan_thresholds`; the step's evaluation chooses it): by default where it is sure; under
    llm_alone nowhere. Whatever the plan, a row the proxy is unsure of at its calibrated thresholds
    shows the LLM the nearest labelled rows, as in the evaluation that measured the plans. Off, or
    with no labelled rows, it answers nothing and `examples` is empty. With
    `rows_are_labels` (an evaluation), `rows` are `labelled_rows(labels)` themselves, each answered by
    a proxy fitted without it and its near-copies, and never its own example."""
    keys = rows["row_key"].to_list()
    labelled = labelled_rows(step, labels)
    if not step.enabled or labelled.is_empty() or rows.is_empty():
        why = "off (AI_ASSETS_CASCADE)" if not step.enabled else f"no labelled rows in {step.labels.name}"
        answers = cascade.answers_at_thresholds({}, {}, rows.height, step.fields)
        return CascadeRows(
            rows.with_columns(examples=pl.lit("")),
            cascade.lineage_frame(keys, answers, step.fields),
            {"cascade": why if rows.height else "no rows"},
        )
    label_vectors, label_stats = _embed(embeddings, labelled, step.text_columns)
    truth = {name: labelled[name].cast(pl.Utf8).to_list() for name in step.fields}
    fitted = cascade.fit_cascade(label_vectors, truth, step.proxy, step.target_accuracy)
    thresholds = cascade.plan_thresholds(plan, fitted.calibration, {})
    if rows_are_labels:
        vectors, row_stats = label_vectors, None
        votes = fitted.held_out
    else:
        vectors, row_stats = _embed(embeddings, rows, step.text_columns)
        votes = fitted.votes(vectors)
    answers = cascade.answers_at_thresholds(votes, thresholds, rows.height, step.fields)
    # Examples wherever the proxy at its calibrated thresholds leaves a field to the LLM, whatever the plan:
    # the prompts the evaluation asked the LLM with, so that a plan runs as it was scored.
    unsure = cascade.answers_at_thresholds(votes, fitted.thresholds, rows.height, step.fields)
    examples = cascade.few_shot_texts(
        step.few_shot,
        label_vectors,
        labelled,
        vectors,
        unsure,
        lambda example: _example_text(step, example),
        fields=step.fields,
        text_columns=step.text_columns,
        max_chars=EXAMPLE_CHARS,
        rows_are_labels=rows_are_labels,
    )
    answered = {name: sum(name in a.answered for a in answers) for name in step.fields}
    metadata = {
        "cascade": step.describe(),
        "plan": plan,
        "cascade_labels": labelled.height,
        "thresholds": thresholds,
        **{f"proxy_answered_{name}": count for name, count in answered.items()},
        "proxy_share": sum(answered.values()) / (rows.height * len(step.fields)),
        "embedding_calls": label_stats.calls + (row_stats.calls if row_stats else 0),
    }
    return CascadeRows(
        rows.with_columns(examples=pl.Series(examples, dtype=pl.Utf8)),
        cascade.lineage_frame(keys, answers, step.fields),
        metadata,
        fitted,
    )


def _embed(embeddings: EmbeddingResource, rows: pl.DataFrame, columns: Sequence[str]):
    vectors, stats, _ = embed_with(embeddings, query_texts(rows, columns, embeddings), "query")
    return vectors, stats


def _example_text(step: StepCascade, example: dict) -> str:
    text = "\n".join(f"{column}: {example[column]}" for column in step.text_columns)
    answer = ", ".join(f"{name}: {example[name]}" for name in step.fields if example.get(name))
    return f"A labelled row similar to this one:\n<<<EXAMPLE\n{text}\nEXAMPLE>>>\nIts right answer: {answer}\n\n"
