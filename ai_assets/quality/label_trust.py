"""Labels you can trust: ticket_labels judged by a signal that does not come from the labels.

A poisoned label set (every shipping ticket relabelled billing, say) poisons the proxy and the
evaluation at once: the proxy learns the wrong answer and the evaluation scores it against the same
wrong answer, so neither notices. The judge here is zero-shot: each labelled ticket's embedding
against the category descriptions of the triage prompt. A label is suspect when the ticket is
clearly nearer another category's description than its own label's (by `SUSPECT_MARGIN`).

Similarities are standardised per description over the labelled tickets (z-scores), so the
embedder's similarity scale and a description that attracts every ticket drop out, and one margin
serves any embedder. The judge speaks only where it is informative: its answers must agree with the
labels of most categories (the median per-category agreement at least `MIN_JUDGE_AGREEMENT`). A
targeted flip poisons one or two categories and leaves that median alone; an embedder too weak to
match tickets to one-line descriptions (the tests' bag-of-words one) fails it, and then nothing is
flagged and the audit says why. Measured on the sample golden set (120 labels), multilingual-e5-small:
the judge agrees with 0.88 of the labels of the median category; clean, 4 of them are suspect (0.04); with its
19 shipping labels turned into billing, 20 are (0.19), 16 of them flipped ones.

Plain numpy/polars, no Dagster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ai_assets.quality.vocabulary import CATEGORIES

# In standard deviations of the similarity to a description over the labelled tickets. 1.0 keeps a
# clean golden set at 0.04 suspect while the flip above reaches 0.19 (0.5: 0.05 and 0.18).
SUSPECT_MARGIN = 1.0
# Below this median agreement with the labels per category the judge is guessing (bag-of-words: ~0.5,
# e5: ~0.9 clean and ~0.9 with one category flipped: the median ignores the poisoned ones).
MIN_JUDGE_AGREEMENT = 0.7
MIN_ROWS_PER_CATEGORY = 5  # a category's agreement over fewer labels is noise
MIN_JUDGED = 20  # fewer judged labels and a share means little


def category_descriptions(system_prompt: str) -> dict[str, str]:
    """`{category: "<category>: <description>"}` for each category the triage prompt's `- category:`
    line describes as `name (description)`; a category without one (`other`) cannot be judged."""
    found = re.search(r"^- category:(.*?)(?=^- |\Z)", system_prompt, re.S | re.M)
    described = dict(re.findall(r"\b([a-z]+) \(([^)]*)\)", " ".join(found.group(1).split()))) if found else {}
    return {name: f"{name}: {described[name]}" for name in CATEGORIES if name in described}


@dataclass(frozen=True)
class FieldAudit:
    """One field's labels against the judge: which are suspect, and whether the judge could tell."""

    field: str
    judged: int  # labels the judge could answer (their category has a description)
    suspects: list[str] = field(default_factory=list)  # their ticket ids
    agreement: float | None = None  # median per-category agreement of the judge with the labels
    trusted_judge: bool = False
    max_share: float = 1.0

    @property
    def share(self) -> float:
        return len(self.suspects) / self.judged if self.judged else 0.0

    @property
    def distrusted(self) -> bool:
        """The field's labels are too suspect for the proxy to answer it."""
        return self.trusted_judge and self.share > self.max_share

    def describe(self) -> str:
        if not self.trusted_judge:
            why = (
                f"only {self.judged} labels have a described category (at least {MIN_JUDGED} needed)"
                if self.agreement is None
                else f"it agrees with only {self.agreement:.2f} of the labels of the median category "
                f"(at least {MIN_JUDGE_AGREEMENT} needed): too weak on this embedder"
            )
            return f"{self.field}: not judged: the zero-shot match to the category descriptions tells little ({why})"
        verdict = (
            f"above AI_ASSETS_LABEL_MAX_SUSPECT_SHARE {self.max_share:g}: the proxy does not answer {self.field} "
            "until the labels are fixed (check the suspects in landing/labels/ or landing/reviews/)"
            if self.distrusted
            else f"within AI_ASSETS_LABEL_MAX_SUSPECT_SHARE {self.max_share:g}"
        )
        ids = f": {', '.join(self.suspects)}" if self.suspects else ""
        return (
            f"{self.field}: {len(self.suspects)} of {self.judged} labels ({self.share:.2f}) disagree with the "
            f"zero-shot match of their ticket to the category descriptions, {verdict}{ids}"
        )

    def to_metadata(self) -> dict:
        return {
            f"{self.field}_judged": self.judged,
            f"{self.field}_suspects": len(self.suspects),
            f"{self.field}_suspect_share": self.share,
            f"{self.field}_judge_agreement": self.agreement,
            f"{self.field}_suspect_ids": ", ".join(self.suspects),
        }


@dataclass(frozen=True)
class LabelAudit:
    """The audit of every audited field (today: category, the field with descriptions)."""

    fields: dict[str, FieldAudit]

    @property
    def distrusted(self) -> list[str]:
        return [name for name, audit in self.fields.items() if audit.distrusted]

    def withhold(self, thresholds: Mapping[str, float | None]) -> dict[str, float | None]:
        """The proxy's thresholds with every distrusted field's removed (None: the LLM answers it)."""
        return {name: None if name in self.distrusted else t for name, t in thresholds.items()}

    def describe(self) -> str:
        return "; ".join(audit.describe() for audit in self.fields.values())

    def to_metadata(self) -> dict:
        metadata: dict = {"distrusted_fields": ", ".join(self.distrusted)}
        for audit in self.fields.values():
            metadata |= audit.to_metadata()
        return {k: v for k, v in metadata.items() if v is not None}


def audit_categories(
    ticket_ids: Sequence[str],
    categories: Sequence[str | None],
    ticket_vectors: np.ndarray,
    description_vectors: Mapping[str, np.ndarray],
    max_share: float,
    *,
    margin: float = SUSPECT_MARGIN,
) -> FieldAudit:
    """The category labels judged by the zero-shot match of each ticket's vector to the
    descriptions' vectors (L2-normalised, so a dot product is the cosine similarity)."""
    names = list(description_vectors)
    labels = np.array(categories, object)
    judged = np.array([label in description_vectors for label in labels], bool)
    if judged.sum() < MIN_JUDGED or len(names) < 2:
        return FieldAudit("category", int(judged.sum()), max_share=max_share)
    similarity = np.asarray(ticket_vectors, np.float64) @ np.stack([description_vectors[n] for n in names]).T
    spread = similarity.std(axis=0)
    score = (similarity - similarity.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    answer = np.array(names, object)[score.argmax(axis=1)]
    own = np.array([score[row, names.index(label)] if ok else np.nan for row, (label, ok) in
                    enumerate(zip(labels, judged))])  # fmt: skip
    suspect = judged & (score.max(axis=1) - np.nan_to_num(own, nan=np.inf) >= margin)
    per_category = [
        float(np.mean(answer[labels == name] == name))
        for name in names
        if (labels == name).sum() >= MIN_ROWS_PER_CATEGORY
    ]
    agreement = float(np.median(per_category)) if per_category else None
    return FieldAudit(
        "category",
        int(judged.sum()),
        [str(ticket_ids[i]) for i in np.flatnonzero(suspect)],
        agreement,
        trusted_judge=agreement is not None and agreement >= MIN_JUDGE_AGREEMENT,
        max_share=max_share,
    )
