"""The triage cascade's proxy: nearest labelled tickets vote on each field before the LLM is asked.

Labelled tickets (the golden set, reviewer corrections) are embedded with the retrieval model; a
new ticket's k nearest of them vote per field, and the vote share is the proxy's confidence. Per
field, a threshold is chosen on the labelled tickets themselves (leave-one-out: each one is voted
on by the others) as the lowest confidence at which the proxy's answers reach a target accuracy.
A ticket's field is answered by the proxy when its confidence reaches that threshold, otherwise
it is left to the LLM, whose prompt can then carry the nearest labelled tickets as few-shot
examples. With no labelled tickets, or no threshold that reaches the target, the proxy answers
nothing and every field goes to the LLM.

Plain numpy/polars, no Dagster. Vectors are L2-normalised float32, so cosine similarity is a dot
product (what `LocalE5Embedder` and `/v1/embeddings` return). A held-out test set must never be
used here as examples or to calibrate: it would only measure itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

# The triage fields a row's lineage accounts for; summary, order_id and product are always the LLM's.
FIELDS = ("category", "urgency", "sentiment", "language")
# The fields the proxy votes on. Not language: multilingual e5 is trained to put a text and its
# translation together, so neighbours share a topic, not a language; and a labelled set that is
# mostly English (the golden set: 104 of 120) calibrates "en" as right nearly always.
CASCADE_FIELDS = ("category", "urgency", "sentiment")
# Chosen by leave-one-out over the sample golden set (benchmarks/triage_quality.py --cascade):
# k=5 with similarity-weighted votes answered the most rows at the target accuracy.
DEFAULT_K = 5
DEFAULT_WEIGHTED = True
DEFAULT_TARGET_ACCURACY = 0.9
# Below this many answered calibration rows an accuracy is too noisy to trust: with 10 rows,
# 9 right (0.9) is consistent with a true accuracy of 0.6 (95% Wilson bound), with 20 rows 18
# right still with 0.7. Fewer answered rows than this and the threshold is not taken.
DEFAULT_MIN_ANSWERED = 20

Labels = Mapping[str, Sequence[str | None]]


def text_key(subject: str | None, body: str | None) -> str:
    """The identity of a ticket's text: the same text labelled twice is one example, and a query
    is never its own neighbour in leave-one-out."""
    return hashlib.sha256(f"{subject or ''}\n{body or ''}".encode()).hexdigest()


def ticket_text(max_chars: int, subject: pl.Expr | str = "subject", body: pl.Expr | str = "body") -> pl.Expr:
    """The text embedded for a ticket, as `ticket_context` embeds it (kind "query"), cut at
    `max_chars` (`Settings.max_input_chars`)."""
    subject = pl.col(subject) if isinstance(subject, str) else subject
    body = pl.col(body) if isinstance(body, str) else body
    return pl.concat_str(subject.fill_null(""), body.fill_null(""), separator="\n").str.slice(0, max_chars)


# --- voting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldVotes:
    """One field's vote for each query: the winning label (None with no voters) and its share."""

    labels: list[str | None]
    confidence: np.ndarray  # float64, in [0, 1]


def nearest(
    example_vectors: np.ndarray,
    query_vectors: np.ndarray,
    k: int,
    *,
    example_keys: Sequence[str] | None = None,
    query_keys: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities) of each query's k nearest examples, nearest first, both of shape
    (queries, min(k, examples)). An example with the query's key is never its neighbour; where
    fewer than k are left, the missing places have similarity -inf."""
    similarity = np.asarray(query_vectors, np.float32) @ np.asarray(example_vectors, np.float32).T
    if example_keys is not None and query_keys is not None:
        similarity[np.asarray(query_keys, object)[:, None] == np.asarray(example_keys, object)[None, :]] = -np.inf
    k = min(k, similarity.shape[1])
    if k == 0:
        return np.zeros((similarity.shape[0], 0), int), np.zeros((similarity.shape[0], 0), np.float32)
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
    indices = np.take_along_axis(top, order, axis=1)
    return indices, np.take_along_axis(similarity, indices, axis=1)


def knn_votes(
    example_vectors: np.ndarray,
    example_labels: Labels,
    query_vectors: np.ndarray,
    k: int = DEFAULT_K,
    *,
    weighted: bool = DEFAULT_WEIGHTED,
    example_keys: Sequence[str] | None = None,
    query_keys: Sequence[str] | None = None,
) -> dict[str, FieldVotes]:
    """Per field of `example_labels`, the k nearest examples' majority label and vote share.

    `weighted` weighs each vote by its cosine similarity (negative similarities count 0) instead
    of 1. An example without a label for a field (None: a correction of another field) does not
    vote on it. Ties go to the label whose voters are nearer in total. Pass `example_keys` and
    `query_keys` (`text_key`) to leave out examples with the query's text (leave-one-out).
    """
    n_queries = len(query_vectors)
    indices, similarity = nearest(example_vectors, query_vectors, k, example_keys=example_keys, query_keys=query_keys)
    present = np.isfinite(similarity)
    closeness = np.where(present, np.clip(similarity, 0.0, None), 0.0)
    weight = closeness if weighted else present.astype(np.float64)
    votes = {}
    for name, labels in example_labels.items():
        vocabulary = sorted({label for label in labels if label is not None})
        if not vocabulary or indices.shape[1] == 0:
            votes[name] = FieldVotes([None] * n_queries, np.zeros(n_queries))
            continue
        codes = np.array([vocabulary.index(label) if label is not None else -1 for label in labels])
        neighbour_codes = codes[indices]
        voting = (neighbour_codes >= 0) & present
        score = np.zeros((n_queries, len(vocabulary)))
        nearness = np.zeros((n_queries, len(vocabulary)))
        rows = np.broadcast_to(np.arange(n_queries)[:, None], indices.shape)
        np.add.at(score, (rows[voting], neighbour_codes[voting]), weight[voting])
        np.add.at(nearness, (rows[voting], neighbour_codes[voting]), closeness[voting])
        # A vote share first; total closeness only breaks ties (it is far below one vote).
        winner = np.argmax(score + 1e-6 * nearness / (1.0 + nearness.sum(axis=1, keepdims=True)), axis=1)
        total = score.sum(axis=1)
        best = score[np.arange(n_queries), winner]
        confidence = np.divide(best, total, out=np.zeros(n_queries), where=total > 0)
        votes[name] = FieldVotes([vocabulary[w] if t > 0 else None for w, t in zip(winner, total)], confidence)
    return votes


# --- thresholds -----------------------------------------------------------------------------


def choose_threshold(
    confidences: np.ndarray | Sequence[float],
    correct: np.ndarray | Sequence[bool],
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    *,
    min_answered: int = DEFAULT_MIN_ANSWERED,
) -> float | None:
    """The lowest confidence threshold at which the answers with confidence >= it are at least
    `target_accuracy` right on these calibration rows, counting only thresholds that answer at
    least `min_answered` rows (a smaller sample's accuracy is noise); None when none does, and
    then the proxy answers nothing for the field. The threshold is the lowest of many tried, so
    its calibration accuracy is a little optimistic: on new rows expect the target give or take a
    few points (ten 300/300 splits in the tests: 0.90 on average, 0.845 at worst)."""
    confidences = np.asarray(confidences, np.float64)
    correct = np.asarray(correct, bool)
    order = np.argsort(-confidences, kind="stable")
    confidences, correct = confidences[order], correct[order]
    answered = np.arange(1, len(correct) + 1)
    accuracy = np.cumsum(correct) / answered
    # A threshold answers every row with that confidence, so only the last of a run of ties counts.
    last_of_value = np.append(confidences[1:] != confidences[:-1], True)
    meets = last_of_value & (answered >= min_answered) & (accuracy >= target_accuracy - 1e-12)
    if not meets.any():
        return None
    return float(confidences[np.flatnonzero(meets)[-1]])


@dataclass(frozen=True)
class FieldCalibration:
    """A field's threshold and what it gave on the calibration rows (leave-one-out)."""

    threshold: float | None
    rows: int  # calibration rows with a label for the field
    answered: int  # of them, answered by the proxy at the threshold
    accuracy: float | None  # of the answered ones; None when none is
    top_vote_accuracy: float  # of the top vote on every row, the proxy's ceiling without a threshold

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "answered": self.answered,
            "coverage": self.answered / self.rows if self.rows else 0.0,
            "accuracy": self.accuracy,
            "top_vote_accuracy": self.top_vote_accuracy,
        }


def calibrate(
    example_vectors: np.ndarray,
    example_labels: Labels,
    example_keys: Sequence[str],
    k: int = DEFAULT_K,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    *,
    weighted: bool = DEFAULT_WEIGHTED,
    min_answered: int = DEFAULT_MIN_ANSWERED,
) -> dict[str, FieldCalibration]:
    """Per field, the threshold chosen by leave-one-out over the labelled examples: each is voted
    on by the others (and by no copy of its own text), and `choose_threshold` picks on those
    votes. The examples are the neighbours and the calibration data at once; that is why a copy
    of a text must not vote on it."""
    votes = knn_votes(
        example_vectors,
        example_labels,
        example_vectors,
        k,
        weighted=weighted,
        example_keys=example_keys,
        query_keys=example_keys,
    )
    calibration = {}
    for name, labels in example_labels.items():
        labelled = np.array([label is not None for label in labels], bool)
        predicted = votes[name].labels
        correct = np.array([p is not None and p == t for p, t in zip(predicted, labels)], bool)[labelled]
        confidence = votes[name].confidence[labelled]
        threshold = choose_threshold(confidence, correct, target_accuracy, min_answered=min_answered)
        answered = confidence >= threshold if threshold is not None else np.zeros(len(correct), bool)
        calibration[name] = FieldCalibration(
            threshold=threshold,
            rows=int(labelled.sum()),
            answered=int(answered.sum()),
            accuracy=float(correct[answered].mean()) if answered.any() else None,
            top_vote_accuracy=float(correct.mean()) if len(correct) else 0.0,
        )
    return calibration


# --- answering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyAnswer:
    """One ticket's proxy answer: the fields it answered, with label and confidence, and the
    fields left to the LLM (lineage: every field is in exactly one of them)."""

    answered: dict[str, tuple[str, float]] = field(default_factory=dict)
    to_llm: tuple[str, ...] = FIELDS

    @property
    def needs_llm(self) -> bool:
        """Whether the ticket still needs an LLM call. A call also writes summary, order_id and
        product, so a triage that needs those calls for every ticket; this is the call saved
        only where those are not wanted."""
        return bool(self.to_llm)


@dataclass(frozen=True)
class Cascade:
    """A fitted proxy: the labelled examples, the vote settings and the per-field thresholds."""

    example_vectors: np.ndarray
    example_labels: Labels
    example_keys: Sequence[str]
    k: int
    weighted: bool
    calibration: dict[str, FieldCalibration]

    @property
    def thresholds(self) -> dict[str, float | None]:
        return {name: c.threshold for name, c in self.calibration.items()}

    def votes(self, query_vectors: np.ndarray, query_keys: Sequence[str] | None = None) -> dict[str, FieldVotes]:
        """The top vote per field for every query (whatever its confidence)."""
        return knn_votes(
            self.example_vectors,
            self.example_labels,
            query_vectors,
            self.k,
            weighted=self.weighted,
            example_keys=self.example_keys if query_keys is not None else None,
            query_keys=query_keys,
        )

    def answer(
        self,
        query_vectors: np.ndarray,
        query_keys: Sequence[str] | None = None,
        thresholds: Mapping[str, float | None] | None = None,
    ) -> list[ProxyAnswer]:
        """What the proxy answers for each query, at the calibrated thresholds unless others are
        given (`thresholds_against_llm`); pass `query_keys` to keep a labelled ticket from
        answering itself."""
        chosen = self.thresholds if thresholds is None else thresholds
        return answers_at_thresholds(self.votes(query_vectors, query_keys), chosen, len(query_vectors))


def fit_cascade(
    example_vectors: np.ndarray, example_labels: Labels, example_keys: Sequence[str], **calibration_options
) -> Cascade | None:
    """The cascade calibrated on these labelled examples; None (the cascade is off) without any.
    `calibration_options` are `calibrate`'s: k, target_accuracy, weighted, min_answered."""
    if len(example_keys) == 0:
        return None
    options = {"k": DEFAULT_K, "weighted": DEFAULT_WEIGHTED} | calibration_options
    calibration = calibrate(example_vectors, example_labels, example_keys, **options)
    vectors = np.asarray(example_vectors, np.float32)
    return Cascade(vectors, example_labels, example_keys, options["k"], options["weighted"], calibration)


def thresholds_against_llm(
    calibration: Mapping[str, FieldCalibration], llm_accuracy: Mapping[str, float]
) -> dict[str, float | None]:
    """The calibrated thresholds, except that a field whose top vote was at least as accurate on
    the calibration rows as the LLM measured on the same rows is answered by the proxy on every
    row (threshold 0): sending it to the LLM could only make it worse."""
    return {
        name: 0.0 if name in llm_accuracy and c.top_vote_accuracy >= llm_accuracy[name] else c.threshold
        for name, c in calibration.items()
    }


def answers_at_thresholds(
    votes: Mapping[str, FieldVotes], thresholds: Mapping[str, float | None], n_queries: int
) -> list[ProxyAnswer]:
    """Each query's fields whose vote reaches the field's threshold; every other field of
    `FIELDS` (and any field without a threshold) goes to the LLM."""
    answers = []
    for row in range(n_queries):
        answered = {}
        for name, threshold in thresholds.items():
            label, confidence = votes[name].labels[row], float(votes[name].confidence[row])
            if threshold is not None and label is not None and confidence >= threshold:
                answered[name] = (label, confidence)
        answers.append(ProxyAnswer(answered, tuple(f for f in FIELDS if f not in answered)))
    return answers


def no_answers(n_queries: int) -> list[ProxyAnswer]:
    """The cascade switched off: every field of every query goes to the LLM."""
    return [ProxyAnswer() for _ in range(n_queries)]


def lineage_frame(row_keys: Sequence[str], answers: Sequence[ProxyAnswer]) -> pl.DataFrame:
    """One row per ticket: the proxy's label and confidence per field (null where the LLM
    answers) and the lists of fields answered by the proxy and by the LLM."""
    columns: dict[str, list] = {"row_key": list(row_keys)}
    for name in FIELDS:
        columns[f"proxy_{name}"] = [a.answered.get(name, (None, None))[0] for a in answers]
        columns[f"proxy_{name}_confidence"] = [a.answered.get(name, (None, None))[1] for a in answers]
    columns["proxy_fields"] = [[f for f in FIELDS if f in a.answered] for a in answers]
    columns["llm_fields"] = [list(a.to_llm) for a in answers]
    schema = {"row_key": pl.Utf8, "proxy_fields": pl.List(pl.Utf8), "llm_fields": pl.List(pl.Utf8)}
    for name in FIELDS:
        schema |= {f"proxy_{name}": pl.Utf8, f"proxy_{name}_confidence": pl.Float64}
    return pl.DataFrame(columns, schema=schema).select(list(columns))


# --- few-shot examples ----------------------------------------------------------------------


def few_shot_examples(
    example_vectors: np.ndarray,
    examples: pl.DataFrame,
    query_vectors: np.ndarray,
    n: int = 3,
    *,
    max_chars: int = 300,
    example_keys: Sequence[str] | None = None,
    query_keys: Sequence[str] | None = None,
) -> list[list[dict]]:
    """For each query, its `n` nearest labelled examples, nearest first, as dicts for a prompt:
    subject and body trimmed to `max_chars` each (a few-shot example needs the gist, not the
    thread), the labels of `FIELDS` that `examples` has, and the cosine similarity."""
    indices, similarity = nearest(example_vectors, query_vectors, n, example_keys=example_keys, query_keys=query_keys)
    labels = [name for name in FIELDS if name in examples.columns]
    trimmed = examples.select(
        pl.col("subject").fill_null("").str.slice(0, max_chars),
        pl.col("body").fill_null("").str.slice(0, max_chars),
        *labels,
    ).to_dicts()
    return [
        [{**trimmed[i], "similarity": float(s)} for i, s in zip(row, sims) if np.isfinite(s)]
        for row, sims in zip(indices, similarity)
    ]
