"""The triage cascade's proxy: labelled tickets answer each field before the LLM is asked.

Labelled tickets (the golden set, reviewer corrections) are embedded with the retrieval model. The
proxy is either a linear classifier over those embeddings (`linear`, the default: one-vs-rest
ridge regression, confidence the margin of the top class) or the vote of a new ticket's k nearest
labelled tickets (`knn`, confidence the vote share). Per field, a threshold is chosen on the
labelled tickets themselves (held out by group: each is answered by a proxy fitted without it and
without its near-duplicates) as the lowest confidence at which the proxy's answers reach a target
accuracy.
A ticket's field is answered by the proxy when its confidence reaches that threshold, otherwise
it is left to the LLM, whose prompt can then carry the nearest labelled tickets as few-shot
examples. With no labelled tickets, or no threshold that reaches the target, the proxy answers
nothing and every field goes to the LLM.

Plain numpy/polars, no Dagster. Vectors are L2-normalised float32, so cosine similarity is a dot
product (what `LocalE5Embedder` and `/v1/embeddings` return). A held-out test set must never be
used here as examples or to calibrate: it would only measure itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ai_assets.quality.metrics import accuracy_lower_bound
from ai_assets.quality.vocabulary import CASCADE_PLANS, PROXIED_FIELDS

# The triage fields a row's lineage accounts for; summary, order_id and product are always the LLM's.
FIELDS = ("category", "urgency", "sentiment", "language")
# The fields the proxy votes on. Not language: multilingual e5 is trained to put a text and its
# translation together, so neighbours share a topic, not a language; and a labelled set that is
# mostly English (the golden set: 104 of 120) calibrates "en" as right nearly always.
CASCADE_FIELDS = PROXIED_FIELDS
# Chosen by leave-one-out over the sample golden set: k=5 with similarity-weighted votes answered
# the most rows at the target accuracy (benchmarks/cascade.py prints the grid).
DEFAULT_K = 5
DEFAULT_WEIGHTED = True
PROXIES = ("linear", "knn")
# Chosen on the golden set, leaving out each ticket with its near-duplicates (cosine >= 0.92): 0.03
# had the best mean accuracy over the three fields (0.814; 0.811 for 0.01, 0.808 for 0.1, 0.70 for
# 1). The linear proxy beat every k of the vote there, and on the hand-written held-out set
# (docs/benchmarks.md). The 10-fold grid benchmarks/cascade.py prints ranks 0.01 first by 0.005.
DEFAULT_PROXY = "linear"
DEFAULT_PENALTY = 0.03
# Two labelled tickets this similar (cosine) are one template written twice: calibration holds them
# out together, or the proxy would be scored on near-copies of its examples and its thresholds
# would be far too low. 0.92 is the golden set's 99th percentile of pairwise similarity (e5).
NEAR_DUPLICATE_SIMILARITY = 0.92
CALIBRATION_FOLDS = 10
DEFAULT_TARGET_ACCURACY = 0.9
# Below this many answered calibration rows an accuracy is too noisy to trust: with 10 rows,
# 9 right (0.9) is consistent with a true accuracy of 0.6 (95% Wilson bound), with 20 rows 18
# right still with 0.7. Fewer answered rows than this and the threshold is not taken.
DEFAULT_MIN_ANSWERED = 20
# The probability with which the proxy's answers meet the target accuracy (LOTUS and BARGAIN choose
# cascade thresholds on such a bound): their accuracy's 95% lower confidence bound must reach it.
DEFAULT_GUARANTEE = 0.95

Labels = Mapping[str, Sequence[str | None]]


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
    below_similarity: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities) of each query's k nearest examples, nearest first, both of shape
    (queries, min(k, examples)). An example at least `below_similarity` alike (the query's own text
    and its near-copies) is never its neighbour; where fewer than k are left, the missing places
    have similarity -inf."""
    similarity = np.asarray(query_vectors, np.float32) @ np.asarray(example_vectors, np.float32).T
    if below_similarity is not None:
        similarity[similarity >= below_similarity - 1e-6] = -np.inf
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
    below_similarity: float | None = None,
) -> dict[str, FieldVotes]:
    """Per field of `example_labels`, the k nearest examples' majority label and vote share.

    `weighted` weighs each vote by its cosine similarity (negative similarities count 0) instead
    of 1. An example without a label for a field (None: a correction of another field) does not
    vote on it. Ties go to the label whose voters are nearer in total. `below_similarity` leaves out
    examples that alike (see `nearest`).
    """
    n_queries = len(query_vectors)
    indices, similarity = nearest(example_vectors, query_vectors, k, below_similarity=below_similarity)
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
    guarantee: float | None = DEFAULT_GUARANTEE,
) -> float | None:
    """The lowest confidence threshold at which the answers with confidence >= it on these
    calibration rows (held out) are at least `target_accuracy` right with probability `guarantee`:
    the lower confidence bound of their accuracy (`accuracy_lower_bound`) reaches the target, not
    only the accuracy itself, so a threshold that passes by luck on few rows is not taken (without
    the bound, ten 300/300 splits in the tests fell to 0.845 on the other half). `guarantee=None`
    compares the plain accuracy. Only thresholds that answer at least `min_answered` rows count;
    None when none does, and then the proxy answers nothing for the field."""
    if target_accuracy <= 0:
        return 0.0  # any answer will do: the proxy answers every row, however unsure
    confidences = np.asarray(confidences, np.float64)
    correct = np.asarray(correct, bool)
    order = np.argsort(-confidences, kind="stable")
    confidences, correct = confidences[order], correct[order]
    answered = np.arange(1, len(correct) + 1)
    right = np.cumsum(correct)
    accuracy = right / answered if guarantee is None else accuracy_lower_bound(right, answered, guarantee)
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
    accuracy_bound: float | None = None  # the 95% lower confidence bound of `accuracy`

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "answered": self.answered,
            "coverage": self.answered / self.rows if self.rows else 0.0,
            "accuracy": self.accuracy,
            "accuracy_bound": self.accuracy_bound,
            "top_vote_accuracy": self.top_vote_accuracy,
        }


def linear_votes(
    example_vectors: np.ndarray, example_labels: Labels, query_vectors: np.ndarray, penalty: float = DEFAULT_PENALTY
) -> dict[str, FieldVotes]:
    """Per field of `example_labels`, the class a one-vs-rest ridge regression over the embeddings
    (targets +1/-1, a bias, `penalty` times the identity) scores highest, and as confidence its
    margin over the next class, halved and clipped to [0, 1] (a class on its target and the next on
    its own score 2 apart). Solved in the dual (examples x examples), which is small while there
    are fewer labelled tickets than dimensions. Examples without a label for a field are left out of it."""
    n_queries = len(query_vectors)
    votes = {}
    for name, labels in example_labels.items():
        labelled = np.array([label is not None for label in labels], bool)
        vocabulary = sorted({label for label in labels if label is not None})
        if not vocabulary:
            votes[name] = FieldVotes([None] * n_queries, np.zeros(n_queries))
            continue
        if len(vocabulary) == 1:  # nothing to tell apart: the one class, sure
            votes[name] = FieldVotes(vocabulary * n_queries, np.ones(n_queries))
            continue
        x = _with_bias(np.asarray(example_vectors, np.float64)[labelled])
        targets = np.array([label for label in labels if label is not None], object)
        y = np.where(targets[:, None] == np.array(vocabulary, object)[None, :], 1.0, -1.0)
        alpha = np.linalg.solve(x @ x.T + penalty * np.eye(len(x)), y)
        scores = _with_bias(np.asarray(query_vectors, np.float64)) @ (x.T @ alpha)
        top_two = -np.sort(-scores, axis=1)[:, :2]
        confidence = np.clip((top_two[:, 0] - top_two[:, 1]) / 2, 0.0, 1.0)
        votes[name] = FieldVotes([vocabulary[i] for i in scores.argmax(axis=1)], confidence)
    return votes


def _with_bias(vectors: np.ndarray) -> np.ndarray:
    return np.hstack([vectors, np.ones((len(vectors), 1))])


def proxy_votes(
    proxy: str,
    example_vectors: np.ndarray,
    example_labels: Labels,
    query_vectors: np.ndarray,
    *,
    k: int = DEFAULT_K,
    weighted: bool = DEFAULT_WEIGHTED,
    penalty: float = DEFAULT_PENALTY,
) -> dict[str, FieldVotes]:
    """The named proxy's answer per field for every query (whatever its confidence)."""
    if proxy == "linear":
        return linear_votes(example_vectors, example_labels, query_vectors, penalty)
    if proxy == "knn":
        return knn_votes(example_vectors, example_labels, query_vectors, k, weighted=weighted)
    raise ValueError(f"unknown proxy {proxy!r}: expected one of {PROXIES}")


def near_duplicate_groups(vectors: np.ndarray, similarity: float = NEAR_DUPLICATE_SIMILARITY) -> np.ndarray:
    """A group id per vector: vectors joined by a chain of pairs at least `similarity` alike (copies of
    one text always) share a group."""
    vectors = np.asarray(vectors, np.float32)
    parent = np.arange(len(vectors))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in np.argwhere(np.triu(vectors @ vectors.T >= similarity - 1e-6, k=1)):
        parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(vectors))])


def held_out_votes(
    example_vectors: np.ndarray, example_labels: Labels, proxy: str = DEFAULT_PROXY, **options
) -> dict[str, FieldVotes]:
    """Every labelled example answered by the proxy fitted on the others, held out by group: the
    examples are split into `CALIBRATION_FOLDS` folds of whole near-duplicate groups, and each
    fold is answered by a proxy fitted on the other folds. `options` are `proxy_votes`'."""
    n = len(example_vectors)
    fold = near_duplicate_groups(example_vectors) % CALIBRATION_FOLDS
    labels = {name: np.array(values, object) for name, values in example_labels.items()}
    answered = {name: [None] * n for name in labels}
    confidence = {name: np.zeros(n) for name in labels}
    for f in np.unique(fold):
        rest, held = fold != f, np.flatnonzero(fold == f)
        votes = proxy_votes(
            proxy,
            example_vectors[rest],
            {name: list(values[rest]) for name, values in labels.items()},
            example_vectors[held],
            **options,
        )
        for name, vote in votes.items():
            for position, row in enumerate(held):
                answered[name][row] = vote.labels[position]
            confidence[name][held] = vote.confidence
    return {name: FieldVotes(answered[name], confidence[name]) for name in labels}


def calibrate(
    example_vectors: np.ndarray,
    example_labels: Labels,
    proxy: str = DEFAULT_PROXY,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    *,
    min_answered: int = DEFAULT_MIN_ANSWERED,
    **options,
) -> tuple[dict[str, FieldCalibration], dict[str, FieldVotes]]:
    """Per field, the threshold `choose_threshold` picks on the held-out answers (`held_out_votes`)
    of the labelled examples, and those answers. `options` are `proxy_votes`'."""
    votes = held_out_votes(np.asarray(example_vectors, np.float32), example_labels, proxy, **options)
    calibration = {}
    for name, labels in example_labels.items():
        confidence, correct = _scored(votes[name], labels)
        threshold = choose_threshold(confidence, correct, target_accuracy, min_answered=min_answered)
        calibration[name] = field_calibration(confidence, correct, threshold)
    return calibration, votes


def _scored(votes: FieldVotes, labels: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """The held-out votes' confidence and rightness on the rows labelled with the field."""
    labelled = np.array([label is not None for label in labels], bool)
    correct = np.array([p is not None and p == t for p, t in zip(votes.labels, labels)], bool)[labelled]
    return votes.confidence[labelled], correct


def field_calibration(confidence: np.ndarray, correct: np.ndarray, threshold: float | None) -> FieldCalibration:
    """What answering from `threshold` gives on these held-out rows."""
    answered = confidence >= threshold if threshold is not None else np.zeros(len(correct), bool)
    return FieldCalibration(
        threshold=threshold,
        rows=len(correct),
        answered=int(answered.sum()),
        accuracy=float(correct[answered].mean()) if answered.any() else None,
        top_vote_accuracy=float(correct.mean()) if len(correct) else 0.0,
        accuracy_bound=float(accuracy_lower_bound(correct[answered].sum(), answered.sum())) if answered.any() else None,
    )


def accuracy_from(
    confidence: np.ndarray, correct: np.ndarray, at: np.ndarray, min_rows: int = DEFAULT_MIN_ANSWERED
) -> np.ndarray:
    """For each confidence of `at`, the held-out accuracy of the answers at least that confident, over
    at least the `min_rows` most confident ones (a vote surer than any held-out one is judged on
    enough evidence, not on one or two)."""
    if not len(correct):
        return np.zeros(len(at))
    order = np.argsort(-confidence, kind="stable")
    right_so_far = np.cumsum(correct[order])
    count = np.searchsorted(-confidence[order], -np.asarray(at, float), side="right")
    count = np.clip(count, min(min_rows, len(correct)), len(correct))
    return right_so_far[count - 1] / count


# --- answering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyAnswer:
    """One ticket's proxy answer: the fields it answered, with label and confidence, and the
    fields left to the LLM (lineage: every field is in exactly one of them)."""

    answered: dict[str, tuple[str, float]] = field(default_factory=dict)
    to_llm: tuple[str, ...] = FIELDS


@dataclass(frozen=True)
class Cascade:
    """A fitted proxy: the labelled examples, the proxy's settings, the per-field thresholds, and
    the examples' own held-out answers (to evaluate the proxy on them)."""

    example_vectors: np.ndarray
    example_labels: Labels
    proxy: str
    options: dict
    calibration: dict[str, FieldCalibration]
    held_out: dict[str, FieldVotes]

    @property
    def thresholds(self) -> dict[str, float | None]:
        return {name: c.threshold for name, c in self.calibration.items()}

    def votes(self, query_vectors: np.ndarray) -> dict[str, FieldVotes]:
        """The proxy's answer per field for every query (whatever its confidence)."""
        return proxy_votes(self.proxy, self.example_vectors, self.example_labels, query_vectors, **self.options)

    def answer(
        self, query_vectors: np.ndarray, thresholds: Mapping[str, float | None] | None = None
    ) -> list[ProxyAnswer]:
        """What the proxy answers for each query, at the calibrated thresholds unless others are
        given (`thresholds_against_llm`)."""
        chosen = self.thresholds if thresholds is None else thresholds
        return answers_at_thresholds(self.votes(query_vectors), chosen, len(query_vectors))

    def calibration_at(self, thresholds: Mapping[str, float | None]) -> dict[str, FieldCalibration]:
        """The held-out figures at the thresholds a triage applies (after the evaluation's verdict
        and the label audit), rather than at the calibrated ones."""
        return {
            name: field_calibration(*_scored(self.held_out[name], self.example_labels[name]), thresholds.get(name))
            for name in self.calibration
        }

    def held_out_accuracy_from(self, name: str, confidences: np.ndarray) -> np.ndarray:
        """`accuracy_from` the held-out answers of field `name`: what a vote of each confidence is worth."""
        return accuracy_from(*_scored(self.held_out[name], self.example_labels[name]), confidences)

    def answer_examples(
        self, thresholds: Mapping[str, float | None] | None = None, fields: Sequence[str] = FIELDS
    ) -> list[ProxyAnswer]:
        """What the proxy answers for its own labelled examples, each held out (as calibrated): an
        example never answers itself, so this is fit to evaluate on."""
        chosen = self.thresholds if thresholds is None else thresholds
        return answers_at_thresholds(self.held_out, chosen, len(self.example_vectors), fields)


def fit_cascade(
    example_vectors: np.ndarray,
    example_labels: Labels,
    proxy: str = DEFAULT_PROXY,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    *,
    min_answered: int = DEFAULT_MIN_ANSWERED,
    **options,
) -> Cascade | None:
    """The cascade calibrated on these labelled examples; None (the cascade is off) without any.
    `options` are the proxy's: k and weighted for knn, penalty for linear."""
    if len(example_vectors) == 0:
        return None
    defaults = {"k": DEFAULT_K, "weighted": DEFAULT_WEIGHTED} if proxy == "knn" else {"penalty": DEFAULT_PENALTY}
    options = defaults | options
    vectors = np.asarray(example_vectors, np.float32)
    calibration, held_out = calibrate(
        vectors, example_labels, proxy, target_accuracy, min_answered=min_answered, **options
    )
    return Cascade(vectors, example_labels, proxy, options, calibration, held_out)


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


PROXY_ONLY, PROXY_SMALL_LLM, PROXY_LLM, LLM_ALONE = CASCADE_PLANS


def plan_thresholds(
    plan: str, calibration: Mapping[str, FieldCalibration], llm_accuracy: Mapping[str, float]
) -> dict[str, float | None]:
    """The thresholds a plan answers at: 0 for every field (proxy_only), none (llm_alone), or the
    calibrated ones with the proxy on every row where it beat the plan's LLM, whose accuracy
    `llm_accuracy` is (proxy_llm and proxy_small_llm, `thresholds_against_llm`)."""
    if plan not in CASCADE_PLANS:
        raise ValueError(f"unknown plan {plan!r}: expected one of {CASCADE_PLANS}")
    if plan == PROXY_ONLY:
        return dict.fromkeys(calibration, 0.0)
    if plan == LLM_ALONE:
        return dict.fromkeys(calibration)
    return thresholds_against_llm(calibration, llm_accuracy)


def answers_at_thresholds(
    votes: Mapping[str, FieldVotes],
    thresholds: Mapping[str, float | None],
    n_queries: int,
    fields: Sequence[str] = FIELDS,
) -> list[ProxyAnswer]:
    """Each query's fields whose vote reaches the field's threshold; every other field of
    `fields` (the triage's by default; and any field without a threshold) goes to the LLM."""
    answers = []
    for row in range(n_queries):
        answered = {}
        for name, threshold in thresholds.items():
            label, confidence = votes[name].labels[row], float(votes[name].confidence[row])
            if threshold is not None and label is not None and confidence >= threshold:
                answered[name] = (label, confidence)
        answers.append(ProxyAnswer(answered, tuple(f for f in fields if f not in answered)))
    return answers


def no_answers(n_queries: int) -> list[ProxyAnswer]:
    """The cascade switched off: every field of every query goes to the LLM."""
    return [ProxyAnswer() for _ in range(n_queries)]


def lineage_frame(
    row_keys: Sequence[str], answers: Sequence[ProxyAnswer], fields: Sequence[str] = FIELDS
) -> pl.DataFrame:
    """One row per row asked about: the proxy's label and confidence per field of `fields` (null
    where the LLM answers) and the lists of fields answered by the proxy and by the LLM."""
    columns: dict[str, list] = {"row_key": list(row_keys)}
    for name in fields:
        columns[f"proxy_{name}"] = [a.answered.get(name, (None, None))[0] for a in answers]
        columns[f"proxy_{name}_confidence"] = [a.answered.get(name, (None, None))[1] for a in answers]
    columns["proxy_fields"] = [[f for f in fields if f in a.answered] for a in answers]
    columns["llm_fields"] = [list(a.to_llm) for a in answers]
    schema = {"row_key": pl.Utf8, "proxy_fields": pl.List(pl.Utf8), "llm_fields": pl.List(pl.Utf8)}
    for name in fields:
        schema |= {f"proxy_{name}": pl.Utf8, f"proxy_{name}_confidence": pl.Float64}
    return pl.DataFrame(columns, schema=schema).select(list(columns))


def fully_answered(lineage: pl.DataFrame, fields: Sequence[str] = FIELDS) -> list[str]:
    """The row keys of `lineage` (`lineage_frame`) whose every field of `fields` the cascade answered:
    rows that need no LLM call."""
    return lineage.filter(pl.col("proxy_fields").list.set_intersection(list(fields)).list.len() == len(fields))[
        "row_key"
    ].to_list()


def plan_answers(outputs: pl.DataFrame, lineage: pl.DataFrame, fields: Sequence[str] = FIELDS) -> pl.DataFrame:
    """What a plan answers for rows an evaluation asked the LLM about (`outputs`, keyed by row_key):
    `apply_proxy`, and also the rows the plan answers whole whose call failed there (the plan would
    not have called), with the LLM's columns null."""
    missing = set(fully_answered(lineage, fields)) - set(outputs["row_key"].to_list())
    unasked = pl.DataFrame({"row_key": sorted(missing)}, schema={"row_key": pl.Utf8})
    return apply_proxy(pl.concat([outputs, unasked], how="diagonal_relaxed"), lineage, fields)


def apply_proxy(answers: pl.DataFrame, lineage: pl.DataFrame, fields: Sequence[str] = FIELDS) -> pl.DataFrame:
    """The LLM's answers (keyed by row_key) with each of `fields` the proxy answered replaced by the
    proxy's label (`lineage_frame`), and `proxy_fields`: which fields those are."""
    joined = answers.join(lineage, on="row_key", how="left")
    return joined.with_columns(
        *(pl.coalesce(f"proxy_{name}", name).alias(name) for name in fields),
        proxy_fields=pl.col("proxy_fields").fill_null(pl.lit([], pl.List(pl.Utf8))),
    ).drop([c for c in lineage.columns if c not in ("row_key", "proxy_fields")])


# --- few-shot examples ----------------------------------------------------------------------


def few_shot_examples(
    example_vectors: np.ndarray,
    examples: pl.DataFrame,
    query_vectors: np.ndarray,
    n: int = 3,
    *,
    max_chars: int = 300,
    below_similarity: float | None = None,
    text_columns: Sequence[str] = ("subject", "body"),
    fields: Sequence[str] = FIELDS,
) -> list[list[dict]]:
    """For each query, its `n` nearest labelled examples, nearest first, as dicts for a prompt:
    its `text_columns` (a ticket's subject and body) trimmed to `max_chars` each (a few-shot example
    needs the gist, not the thread), the labels of `fields` that `examples` has, and the cosine
    similarity. To evaluate on the examples themselves, pass `below_similarity`
    (`NEAR_DUPLICATE_SIMILARITY`): a row's own text and its near-copies are then never its examples."""
    indices, similarity = nearest(example_vectors, query_vectors, n, below_similarity=below_similarity)
    labels = [name for name in fields if name in examples.columns]
    trimmed = examples.select(
        *(pl.col(c).cast(pl.Utf8).fill_null("").str.slice(0, max_chars) for c in text_columns),
        *labels,
    ).to_dicts()
    return [
        [{**trimmed[i], "similarity": float(s)} for i, s in zip(row, sims) if np.isfinite(s)]
        for row, sims in zip(indices, similarity)
    ]


def few_shot_texts(
    n: int,
    example_vectors: np.ndarray,
    examples: pl.DataFrame,
    query_vectors: np.ndarray,
    answers: Sequence[ProxyAnswer],
    example_text: Callable[[dict], str],
    *,
    fields: Sequence[str] = CASCADE_FIELDS,
    text_columns: Sequence[str] = ("subject", "body"),
    max_chars: int = 300,
    rows_are_labels: bool = False,
) -> list[str]:
    """The examples block of each query's prompt: its `n` nearest labelled examples, each written by
    `example_text`, for queries that leave one of `fields` to the LLM; "" for the rest (their prompt
    is unchanged). With `rows_are_labels` (an evaluation) an example is never its own near-copy."""
    texts = [""] * len(answers)
    wanted = [i for i, a in enumerate(answers) if set(a.to_llm) & set(fields)]
    if n == 0 or not wanted:
        return texts
    shots = few_shot_examples(
        example_vectors,
        examples,
        query_vectors[wanted],
        n,
        max_chars=max_chars,
        below_similarity=NEAR_DUPLICATE_SIMILARITY if rows_are_labels else None,
        text_columns=text_columns,
        fields=fields,
    )
    for row, nearest_examples in zip(wanted, shots):
        texts[row] = "".join(example_text(example) for example in nearest_examples)
    return texts
