"""The cascade inside the triage: the proxy fitted on ticket_labels answers the fields it is sure
of, the LLM answers the rest (shown the nearest labelled tickets as examples), and every row says
which fields the proxy answered.

The same code serves `ticket_triage` (new tickets) and `triage_eval` (the labelled tickets
themselves, each answered by a proxy that was fitted without it and its near-copies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ai_assets.config import ProjectSettings
from ai_assets.defs.retrieval.assets import embed_with, ticket_query_texts
from ai_assets.llm.task import PromptTemplate
from ai_assets.quality import label_trust
from ai_assets.quality.metrics import accuracy
from ai_assets.resources import EmbeddingResource
from ai_assets.transform import cascade
from ai_assets.transform.entities import ticket_texts
from ai_assets.transform.language import LanguageIdentifier

EXAMPLE_CHARS = 300  # of an example's subject and of its body: the gist, not the thread


@dataclass(frozen=True)
class CascadeSettings:
    enabled: bool
    proxy: str
    target_accuracy: float
    few_shot: int
    # Above this share of suspect labels in a field the proxy does not answer it (quality/label_trust.py).
    max_suspect_share: float = 1.0
    # The labels' judge: `{category: description}` from the triage prompt (empty: nothing is judged).
    category_descriptions: dict[str, str] = field(default_factory=dict)
    # Answers `language` before the LLM (transform/language.py).
    languages: LanguageIdentifier = field(default_factory=LanguageIdentifier)
    # The small model an evaluation also measures (SmallLLMResource.describe; '': none).
    small_llm: str = ""

    @classmethod
    def from_settings(cls, settings: ProjectSettings, small_llm: str = "") -> CascadeSettings:
        return cls(
            settings.cascade,
            settings.cascade_proxy,
            settings.cascade_target_accuracy,
            settings.cascade_few_shot,
            settings.label_max_suspect_share,
            label_trust.category_descriptions(PromptTemplate.load("ticket_triage", settings.prompts_dir).system),
            LanguageIdentifier(tuple(settings.triage_languages.split(",")), settings.language_min_confidence),
            small_llm,
        )

    def describe(self) -> str:
        """What decides the cascade's answers besides the labels: part of the triage's code version
        and of an evaluation's id."""
        if not self.enabled:
            return "none"
        proxy = f"{self.proxy} target={self.target_accuracy:g} few_shot={self.few_shot}"
        small = f" small_llm={self.small_llm}" if self.small_llm else ""
        return f"{proxy} language={self.languages.describe()}{small}"

    def code_version(self, prompt_version: str, model: str) -> str:
        """The code version of the triage and of its evaluation: prompt, schema and parameters, model and
        cascade. A change to any marks both unsynced, and a rerun misses the cache for the triage only."""
        return f"{prompt_version}+{model}+{self.describe()}"


@dataclass(frozen=True)
class CascadePlan:
    """The rows to send to the LLM (with their `examples` column) and what the proxy answered."""

    rows: pl.DataFrame
    lineage: pl.DataFrame  # cascade.lineage_frame, keyed by row_key
    fitted: cascade.Cascade | None
    thresholds: dict[str, float | None]
    stats: dict
    audit: label_trust.LabelAudit | None = None
    languages: list[tuple[str, float] | None] = field(default_factory=list)  # the identifier's, per row

    def lineage_of(self, plan: str, llm_accuracy: Mapping[str, float]) -> pl.DataFrame:
        """The lineage for the labelled rows under another plan (triage_eval, once it knows how the LLM
        did: `cascade.plan_thresholds`), never with the proxy on a field whose labels the audit
        distrusts: only for a plan made with `rows_are_labels`."""
        keys = self.rows["row_key"].to_list()
        if plan == cascade.LLM_ALONE or self.fitted is None:
            languages = [] if plan == cascade.LLM_ALONE else self.languages
            return cascade.lineage_frame(keys, with_languages(cascade.no_answers(len(keys)), languages))
        thresholds = cascade.plan_thresholds(plan, self.fitted.calibration, llm_accuracy)
        answers = self.fitted.answer_examples(self.applied(thresholds))
        return cascade.lineage_frame(keys, with_languages(answers, self.languages))

    def whole_confidence(self) -> pl.DataFrame:
        """`row_key` and `confidence` of each row the cascade answered whole (no LLM said how sure it
        was): the held-out accuracy of the proxy's category answers at least as confident as its own
        (`Cascade.held_out_accuracy_from`). The vote's margin itself would not do: a half-sure vote is
        right more often than half the time, and would send the ticket to review."""
        whole = self.lineage.filter(pl.col("row_key").is_in(cascade.fully_answered(self.lineage)))
        margins = whole["proxy_category_confidence"].to_numpy()
        worth = self.fitted.held_out_accuracy_from("category", margins) if self.fitted and whole.height else []
        return whole.select("row_key", confidence=pl.Series(worth, dtype=pl.Float64))

    def applied(self, thresholds: Mapping[str, float | None]) -> dict[str, float | None]:
        """`thresholds` as the triage applies them: none for a field whose labels the audit distrusts."""
        return dict(self.audit.withhold(thresholds) if self.audit else thresholds)


def with_languages(
    answers: list[cascade.ProxyAnswer], languages: list[tuple[str, float] | None]
) -> list[cascade.ProxyAnswer]:
    """The proxy's answers with `language` the identifier's where it is sure (the LLM's elsewhere)."""
    return [
        cascade.ProxyAnswer({**a.answered, "language": found}, tuple(f for f in a.to_llm if f != "language"))
        if found
        else a
        for a, found in zip(answers, languages or [None] * len(answers), strict=True)
    ]


def identify_languages(settings: CascadeSettings, rows: pl.DataFrame) -> list[tuple[str, float] | None]:
    return settings.languages.identify(ticket_texts(rows))


def _label_lists(labels: pl.DataFrame) -> dict[str, list[str | None]]:
    return {name: labels[name].to_list() for name in cascade.CASCADE_FIELDS}


def audit_labels(
    settings: CascadeSettings, embeddings: EmbeddingResource, labels: pl.DataFrame, label_vectors: np.ndarray
) -> label_trust.LabelAudit:
    """The labels judged by the zero-shot match of their tickets (`label_vectors`, as `plan_cascade`
    embeds them) to the triage prompt's category descriptions (embedded as passages, cached)."""
    descriptions = settings.category_descriptions
    vectors = embed_with(embeddings, list(descriptions.values()), "passage")[0] if descriptions else []
    category = label_trust.audit_categories(
        labels["ticket_id"].to_list(),
        labels["category"].to_list(),
        label_vectors,
        dict(zip(descriptions, vectors)),
        settings.max_suspect_share,
    )
    return label_trust.LabelAudit({"category": category})


def audit_ticket_labels(
    settings: CascadeSettings, embeddings: EmbeddingResource, labels: pl.DataFrame
) -> label_trust.LabelAudit:
    """`audit_labels` of ticket_labels, embedding them first (from the cache once the cascade has)."""
    vectors = embed_with(embeddings, ticket_query_texts(labels, embeddings), "query")[0]
    return audit_labels(settings, embeddings, labels, vectors)


def plan_cascade(
    settings: CascadeSettings,
    embeddings: EmbeddingResource,
    labels: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    rows_are_labels: bool = False,
    llm_accuracy: Mapping[str, float] | None = None,
    plan: str = cascade.PROXY_LLM,
) -> CascadePlan:
    """Fits the proxy on `labels` (ticket_labels) and answers `rows` (keyed by `row_key`; with
    `rows_are_labels`, `rows` are `labels` themselves and each is answered held out) under `plan`
    (`cascade.plan_thresholds`; an evaluation chooses it). With `llm_accuracy` (the LLM's accuracy per
    field on the labels, from an evaluation) a field where the proxy's answers were at least as
    accurate is answered by the proxy on every row; under llm_alone the LLM answers every field (not
    even the language identifier's answer is taken). Whatever the plan, a ticket the proxy is unsure
    of at its calibrated thresholds shows the LLM the nearest labelled tickets, as in the evaluation
    that measured the plans. Off, or with no labels, the proxy answers nothing and `examples` is
    empty. A field whose labels the audit distrusts (`audit_labels`) is never the proxy's: its
    labels would teach it the wrong answer."""
    keys = rows["row_key"].to_list()
    if not settings.enabled or labels.is_empty() or rows.is_empty():
        languages = identify_languages(settings, rows) if settings.enabled else []
        off = with_languages(cascade.no_answers(rows.height), languages)
        reason = "off (AI_ASSETS_CASCADE)" if not settings.enabled else "no labelled tickets"
        return CascadePlan(
            rows.with_columns(examples=pl.lit("")),
            cascade.lineage_frame(keys, off),
            None,
            {},
            {"cascade": reason if rows.height else "no rows", **_language_stats(languages)},
            languages=languages,
        )
    label_vectors, label_stats, _ = embed_with(embeddings, ticket_query_texts(labels, embeddings), "query")
    fitted = cascade.fit_cascade(label_vectors, _label_lists(labels), settings.proxy, settings.target_accuracy)
    thresholds = cascade.plan_thresholds(plan, fitted.calibration, llm_accuracy or {})
    audit = audit_labels(settings, embeddings, labels, label_vectors)
    thresholds = audit.withhold(thresholds)
    if rows_are_labels:
        vectors, row_stats = label_vectors, label_stats
        votes = fitted.held_out
    else:
        vectors, row_stats, _ = embed_with(embeddings, ticket_query_texts(rows, embeddings), "query")
        votes = fitted.votes(vectors)
    answers = cascade.answers_at_thresholds(votes, thresholds, rows.height)
    # Examples wherever the proxy at its calibrated thresholds leaves a field to the LLM, whatever the plan:
    # the prompts the evaluation asked the LLM with, so that a plan runs as it was scored.
    unsure = cascade.answers_at_thresholds(votes, audit.withhold(fitted.thresholds), rows.height)
    examples = cascade.few_shot_texts(
        settings.few_shot,
        label_vectors,
        labels,
        vectors,
        unsure,
        _example_text,
        max_chars=EXAMPLE_CHARS,
        rows_are_labels=rows_are_labels,
    )
    languages = identify_languages(settings, rows)
    lineage = cascade.lineage_frame(keys, with_languages(answers, [] if plan == cascade.LLM_ALONE else languages))
    answered = {name: sum(name in a.answered for a in answers) for name in cascade.CASCADE_FIELDS}
    stats = {
        "cascade": settings.describe(),
        "plan": plan,
        "cascade_labels": labels.height,
        **{f"proxy_answered_{name}": count for name, count in answered.items()},
        "proxy_share": sum(answered.values()) / (len(answers) * len(cascade.CASCADE_FIELDS)),
        "embedding_calls": label_stats.calls + (0 if rows_are_labels else row_stats.calls),
        "label_audit": audit.describe(),
        "proxy_withheld": ", ".join(audit.distrusted),
        **_language_stats(languages),
    }
    return CascadePlan(
        rows.with_columns(examples=pl.Series(examples, dtype=pl.Utf8)),
        lineage,
        fitted,
        thresholds,
        stats,
        audit,
        languages,
    )


def _language_stats(languages: list[tuple[str, float] | None]) -> dict:
    return {"language_identified": sum(found is not None for found in languages)} if languages else {}


def _example_text(example: dict) -> str:
    answer = ", ".join(f"{name}: {example[name]}" for name in cascade.CASCADE_FIELDS if example.get(name))
    return (
        f"Labelled ticket similar to this one:\n<<<EXAMPLE\nSubject: {example['subject']}\n{example['body']}\n"
        f"EXAMPLE>>>\nIts correct triage: {answer}\n\n"
    )


def llm_accuracy(outputs: pl.DataFrame, labels: pl.DataFrame) -> dict[str, float]:
    """The LLM's own accuracy per triage field on the labelled rows it answered (before the proxy's or
    the language identifier's answers replace any), over the rows labelled with the field."""
    joined = labels.select("row_key", *cascade.FIELDS).join(
        outputs.select("row_key", *(pl.col(n).alias(f"llm_{n}") for n in cascade.FIELDS)), on="row_key"
    )
    scores = {name: accuracy(joined[name], joined[f"llm_{name}"]) for name in cascade.FIELDS}
    return {name: score for name, score in scores.items() if score is not None}
