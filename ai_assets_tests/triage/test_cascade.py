"""The cascade's proxy as plain numpy/polars: votes, thresholds, calibration, lineage, few-shot."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ai_assets.transform import cascade


def unit(*angles_deg: float) -> np.ndarray:
    """L2-normalised 2-d vectors at these angles: cosine similarity is the cosine of the angle between."""
    radians = np.radians(angles_deg)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


# Three "billing" examples around 0 degrees, two "shipping" ones around 90.
EXAMPLES = unit(0, 10, 20, 80, 90)
LABELS = {"category": ["billing", "billing", "billing", "shipping", "shipping"]}


def test_the_k_nearest_vote_and_the_share_is_the_confidence():
    votes = cascade.knn_votes(EXAMPLES, LABELS, unit(5, 85), k=3, weighted=False)["category"]
    # 5 degrees: the three billing ones are nearest; 85: both shipping ones and billing at 20.
    assert votes.labels == ["billing", "shipping"]
    assert votes.confidence == pytest.approx([1.0, 2 / 3])


def test_weighted_votes_count_similarity():
    votes = cascade.knn_votes(EXAMPLES, LABELS, unit(85), k=3, weighted=True)["category"]
    shipping = np.cos(np.radians(5)) * 2
    billing = np.cos(np.radians(65))
    assert votes.labels == ["shipping"]
    assert votes.confidence[0] == pytest.approx(shipping / (shipping + billing), rel=1e-5)


def test_a_tie_goes_to_the_nearer_voters():
    vectors = unit(0, 40)
    votes = cascade.knn_votes(vectors, {"category": ["billing", "shipping"]}, unit(30), k=2, weighted=False)
    assert votes["category"].labels == ["shipping"]
    assert votes["category"].confidence == pytest.approx([0.5])


def test_an_example_without_a_label_for_a_field_does_not_vote_on_it():
    labels = {"category": ["billing", None, "shipping"], "urgency": ["low", "high", "high"]}
    votes = cascade.knn_votes(unit(0, 1, 50), labels, unit(0), k=2, weighted=False)
    assert votes["category"].labels == ["billing"] and votes["category"].confidence == pytest.approx([1.0])
    assert votes["urgency"].confidence == pytest.approx([0.5])


def test_leave_one_out_excludes_the_query_and_every_copy_of_its_text():
    # The first two are the same text, labelled twice: the query and its copy are left out as near-copies.
    labels = {"category": ["billing", "billing", "shipping", "shipping", "shipping"]}
    vectors = unit(0, 0, 30, 40, 50)
    indices, _ = cascade.nearest(vectors, vectors[:1], 5, below_similarity=0.99)
    assert set(indices[0][:3]) == {2, 3, 4}
    votes = cascade.knn_votes(vectors, labels, vectors[:1], k=2, below_similarity=0.99)
    assert votes["category"].labels == ["shipping"]
    without_keys = cascade.knn_votes(vectors, labels, vectors[:1], k=2)
    assert without_keys["category"].labels == ["billing"]  # it would have voted for itself


def test_the_lowest_threshold_that_meets_the_target_on_enough_rows():
    confidence = [1.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    correct = [True, True, True, True, True, False, False, True]
    # Answered at 0.7: 5/5; at 0.6: 5/6 (0.83); at 0.4: 6/8 (0.75).
    assert cascade.choose_threshold(confidence, correct, 0.8, min_answered=1, guarantee=None) == 0.6
    assert cascade.choose_threshold(confidence, correct, 0.9, min_answered=1, guarantee=None) == 0.7
    assert cascade.choose_threshold(confidence, correct, 0.75, min_answered=1, guarantee=None) == 0.4
    # Too few answered rows to trust: 0.7 answers 5, so with 6 required only 0.6 or lower counts.
    assert cascade.choose_threshold(confidence, correct, 0.8, min_answered=6, guarantee=None) == 0.6
    assert cascade.choose_threshold(confidence, correct, 0.9, min_answered=6, guarantee=None) is None


def test_a_threshold_answers_all_rows_with_that_confidence():
    # Four rows at 0.5, two right: a threshold of 0.5 answers all four, never only the two right ones.
    confidence = [0.9, 0.5, 0.5, 0.5, 0.5]
    assert (
        cascade.choose_threshold(confidence, [True, True, True, False, False], 0.9, min_answered=1, guarantee=None)
        == 0.9
    )
    assert (
        cascade.choose_threshold(confidence, [True, False, False, True, True], 0.9, min_answered=1, guarantee=None)
        == 0.9
    )


def test_no_threshold_when_the_target_is_out_of_reach():
    assert cascade.choose_threshold([0.9, 0.8, 0.7], [False, True, False], 0.9, min_answered=1, guarantee=None) is None
    assert cascade.choose_threshold([], [], 0.9, min_answered=1) is None
    assert cascade.choose_threshold([1.0] * 5, [True] * 5, 0.9, min_answered=20, guarantee=None) is None


def test_the_guarantee_takes_a_threshold_only_on_enough_evidence():
    # 5 of 5 right is accuracy 1.0, but consistent with a true 0.65 (95% lower bound): not enough
    # for 0.9; 60 of 60 is (bound 0.957).
    assert cascade.choose_threshold([0.9] * 5, [True] * 5, 0.9, min_answered=1) is None
    assert cascade.choose_threshold([0.9] * 60, [True] * 60, 0.9, min_answered=1) == 0.9
    confidence = [0.9] * 60 + [0.5] * 40
    correct = [True] * 60 + [True] * 34 + [False] * 6  # 0.94 right at 0.5: above 0.9, its bound is not
    assert cascade.choose_threshold(confidence, correct, 0.9, guarantee=None) == 0.5
    assert cascade.choose_threshold(confidence, correct, 0.9) == 0.9


def test_the_threshold_chosen_on_one_half_meets_its_target_on_the_other():
    rng = np.random.default_rng(20261124)
    confidence = rng.uniform(0.2, 1.0, 4000)
    correct = rng.uniform(size=4000) < confidence  # right as often as it is confident
    first, second = slice(0, 2000), slice(2000, 4000)
    threshold = cascade.choose_threshold(confidence[first], correct[first], 0.9)
    assert threshold is not None
    answered = confidence[second] >= threshold
    assert answered.sum() >= 200  # it does answer: about a sixth of the rows are at 0.87 or more
    assert correct[second][answered].mean() >= 0.9 - 0.02


def clusters(seed: int, n: int, spread: float) -> tuple[np.ndarray, list[str]]:
    """Four overlapping clusters in 16 dimensions: near a centre the vote is sure and right, near
    a border unsure and sometimes wrong, as with ticket embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16))
    cluster = rng.integers(4, size=n)
    points = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    points = points[cluster] + rng.normal(0, spread, (n, 16))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), [f"c{c}" for c in cluster]


# Spreads at which each proxy's top answer is below the target, so the threshold has work to do.
@pytest.mark.parametrize("proxy, spread", [("knn", 0.42), ("linear", 0.5)])
def test_calibration_held_out_meets_its_target_on_a_split(proxy, spread):
    accuracies = []
    for seed in range(10):
        vectors, labels = clusters(seed, 600, spread=spread)
        fitted = cascade.fit_cascade(vectors[:300], {"category": labels[:300]}, proxy, target_accuracy=0.9)
        c = fitted.calibration["category"]
        assert c.top_vote_accuracy < 0.9  # so the threshold has work to do
        if c.threshold is None:
            continue  # the guarantee cannot be met on this split: the proxy answers nothing
        assert c.accuracy_bound >= 0.9 and c.answered >= cascade.DEFAULT_MIN_ANSWERED
        answers = fitted.answer(vectors[300:])
        right = [a.answered["category"][0] == t for a, t in zip(answers, labels[300:]) if "category" in a.answered]
        assert len(right) >= 50
        accuracies.append(np.mean(right))
    # The other half meets the target on average with a margin (0.93 over these splits; 0.90 before
    # the guarantee), and the worst split stays within binomial noise of it (0.878; 0.845 before).
    assert len(accuracies) >= 9
    assert np.mean(accuracies) >= 0.92
    assert min(accuracies) >= 0.9 - 0.03


def test_with_no_labelled_examples_the_cascade_is_off_and_answers_nothing():
    empty = np.zeros((0, 2), np.float32)
    assert cascade.fit_cascade(empty, {"category": []}) is None
    votes = cascade.knn_votes(empty, {"category": []}, unit(0, 90), k=5)
    assert votes["category"].labels == [None, None]
    answers = cascade.answers_at_thresholds(votes, {"category": 0.0}, 2)
    assert all(a.answered == {} and a.to_llm == cascade.FIELDS for a in answers)
    assert cascade.no_answers(2) == answers


def test_every_field_is_answered_by_exactly_one_of_proxy_and_llm():
    labels = {"category": LABELS["category"], "urgency": ["low", "high", "low", "high", "low"]}
    fitted = cascade.fit_cascade(EXAMPLES, labels, "knn", 0.5, k=3, min_answered=1)
    answers = fitted.answer(unit(5, 85), thresholds={"category": 0.9, "urgency": None})
    assert answers[0].answered == {"category": ("billing", pytest.approx(1.0))}
    assert answers[1].answered == {}  # shipping won with 2/3 of the vote, below 0.9
    frame = cascade.lineage_frame(["r1", "r2"], answers)
    assert frame["proxy_fields"].to_list() == [["category"], []]
    assert frame["llm_fields"].to_list() == [["urgency", "sentiment", "language"], list(cascade.FIELDS)]
    assert frame["proxy_category"].to_list() == ["billing", None]
    for proxy, llm in zip(frame["proxy_fields"].to_list(), frame["llm_fields"].to_list()):
        assert sorted(proxy + llm) == sorted(cascade.FIELDS)


def test_the_llm_answers_a_field_only_where_it_beat_the_top_vote():
    calibration = {
        "category": cascade.FieldCalibration(0.4, 100, 90, 0.9, top_vote_accuracy=0.85),
        "urgency": cascade.FieldCalibration(None, 100, 0, None, top_vote_accuracy=0.6),
    }
    thresholds = cascade.thresholds_against_llm(calibration, {"category": 0.5, "urgency": 0.7})
    assert thresholds == {"category": 0.0, "urgency": None}


def test_few_shot_examples_are_the_nearest_labelled_tickets_trimmed():
    examples = pl.DataFrame(
        {
            "subject": ["charged twice", "where is it", "card declined"],
            "body": ["x" * 500, "tracking says nothing", None],
            "category": ["billing", "shipping", "billing"],
            "urgency": ["high", "medium", "low"],
        }
    )
    vectors = unit(0, 90, 20)
    shots = cascade.few_shot_examples(vectors, examples, unit(0, 80), n=2, max_chars=100, below_similarity=0.99)
    first, second = shots
    assert [s["subject"] for s in first] == ["card declined", "where is it"]  # not itself
    assert first[0] == {
        "subject": "card declined",
        "body": "",
        "category": "billing",
        "urgency": "low",
        "similarity": pytest.approx(np.cos(np.radians(20)), rel=1e-5),
    }
    assert [s["subject"] for s in second] == ["where is it", "card declined"]
    assert len(cascade.few_shot_examples(vectors, examples, unit(0), n=5)[0]) == 3
    assert cascade.few_shot_examples(vectors[:0], examples.head(0), unit(0), n=2) == [[]]


def test_the_linear_proxy_answers_the_side_a_ticket_is_on_with_its_margin_as_confidence():
    labels = {"category": LABELS["category"], "urgency": [None, "low", None, "low", None]}
    votes = cascade.linear_votes(EXAMPLES, labels, unit(5, 85, 45), penalty=0.01)
    assert votes["category"].labels == ["billing", "shipping", "billing"]  # 45 degrees: nearer the three
    near, far, middle = votes["category"].confidence
    assert near > 0.5 and far > 0.5 and middle < min(near, far)  # the border is where it is unsure
    assert votes["urgency"].labels == ["low"] * 3 and list(votes["urgency"].confidence) == [1.0] * 3
    none = cascade.linear_votes(EXAMPLES, {"category": [None] * 5}, unit(0))["category"]
    assert none.labels == [None] and none.confidence[0] == 0.0


def test_near_copies_form_one_group_and_chains_join_groups():
    groups = cascade.near_duplicate_groups(unit(0, 0, 10, 20, 90, 180), similarity=0.98)
    assert groups[0] == groups[1] == groups[2] == groups[3]  # 0-0, 0-10 and 10-20 are within 0.98
    assert len({groups[0], groups[4], groups[5]}) == 3


@pytest.mark.parametrize("proxy", cascade.PROXIES)
def test_held_out_answers_never_come_from_the_example_or_its_copies(proxy):
    # Each label has only its own copies near it: were a copy allowed to answer, every answer would be right.
    vectors = unit(0, 0, 60, 60)
    votes = cascade.held_out_votes(
        vectors, {"category": ["a", "a", "b", "b"]}, proxy, **({"k": 1} if proxy == "knn" else {})
    )
    assert votes["category"].labels == ["b", "b", "a", "a"]


def test_a_target_of_zero_answers_every_row_however_unsure():
    assert cascade.choose_threshold([0.9, 0.2], [False, False], 0.0) == 0.0
    fitted = cascade.fit_cascade(EXAMPLES, LABELS, "linear", 0.0)
    assert all("category" in a.answered for a in fitted.answer(unit(45, 46, 200)))


def test_a_row_is_answered_whole_only_when_every_field_is_the_cascades():
    answers = [
        cascade.ProxyAnswer({f: ("x", 1.0) for f in cascade.FIELDS}),
        cascade.ProxyAnswer({f: ("x", 1.0) for f in cascade.FIELDS[:3]}, ("language",)),
        cascade.ProxyAnswer(),
    ]
    lineage = cascade.lineage_frame(["a", "b", "c"], answers)
    assert cascade.fully_answered(lineage) == ["a"]
    assert cascade.fully_answered(lineage, cascade.FIELDS[:3]) == ["a", "b"]


def test_a_votes_worth_is_the_held_out_accuracy_of_votes_at_least_as_sure():
    confidence = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([True, True, True, False, True, False])
    worth = cascade.accuracy_from(confidence, correct, np.array([0.75, 0.6, 0.1, 0.95]), min_rows=2)
    # >= 0.75: 2 of 2; >= 0.6: 3 of 4; every vote: 4 of 6; surer than any: the 2 surest, 2 of 2.
    assert worth.tolist() == pytest.approx([1.0, 0.75, 4 / 6, 1.0])
    assert cascade.accuracy_from(confidence[:0], correct[:0], np.array([0.5])).tolist() == [0.0]
