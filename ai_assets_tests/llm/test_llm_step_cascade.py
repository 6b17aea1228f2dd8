"""The cascade as an option of a declared LLMStep (no Python): a proxy fitted on a labelled table of
one's own answers the enum fields it is sure of, the LLM the rest with the nearest labelled rows as
examples, and every row says which fields the proxy answered. Against the fake server, whose
embeddings are bags of words: a review's keyword is what the proxy can learn."""

from __future__ import annotations

import json
from random import Random

import dagster as dg
import pytest

from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.declared import check_results, declare, materialise, with_project

# Each tone's words; the fillers say nothing about tone.
TONE_WORDS = {
    "positive": ("love", "excellent", "perfect", "wonderful"),
    "negative": ("broken", "awful", "refund", "terrible"),
    "neutral": ("okay", "average", "decent", "ordinary"),
}
# Words no labelled review has: a review of them alone is like none the proxy learnt from.
UNSEEN = ["zebra", "quartz", "violin", "meadow", "harbor", "glacier", "pepper", "saddle"]
FILLERS = [
    "kettle",
    "lamp",
    "chair",
    "table",
    "sofa",
    "shelf",
    "drawer",
    "blanket",
    "pillow",
    "mirror",
    "carpet",
    "curtain",
    "basket",
    "candle",
    "clock",
]


def _text(rng: Random, tone: str) -> str:
    return " ".join([rng.choice(TONE_WORDS[tone]), *rng.sample(FILLERS, 4)])


def _landing_table(name: str, fields: list[dict]) -> dict:
    return {
        "type": "ai_assets.components.LandingTable",
        "attributes": {
            "name": name,
            "description": f"One row per record of landing/{name}/.",
            "folder": name,
            "key": [fields[0]["name"]],
            "fields": fields,
        },
    }


TONE = {"name": "tone", "type": "enum", "values": ["positive", "neutral", "negative"], "description": "The tone"}
REVIEWS = _landing_table(
    "shop_reviews",
    [{"name": "review_id", "description": "The review's id"}, {"name": "text", "description": "What was written"}],
)
LABELS = _landing_table(
    "shop_review_labels",
    [
        {"name": "label_id", "description": "The labelled example's id"},
        {"name": "text", "description": "A review"},
        {**TONE, "description": "Its right tone"},
    ],
)
STEP = {
    "type": "ai_assets.components.LLMStep",
    "attributes": {
        "name": "shop_review_tone",
        "description": "One row per shop review, with its tone.",
        "input": "shop_reviews",
        "key": ["review_id"],
        "fields": [TONE, {"name": "gist", "type": "string", "max_length": 60, "description": "In a few words"}],
        "cascade": {"labels": "shop_review_labels", "fields": ["tone"], "target_accuracy": 0.95},
    },
}
PROMPT = """[system]
You read shop reviews and judge their tone. Answer with JSON only.

[user]
{examples}Review: {text}
"""
STEP_ASSETS = ["shop_review_tone", "shop_review_tone_failures"]


def _land(pipeline: Pipeline) -> dict[str, str]:
    """75 labelled reviews (15 with no tone word) and 15 new ones: 4 of each tone, and 3 of words no
    labelled review has ("unclear"); returns each new review's tone."""
    rng = Random(11)
    landing = pipeline.settings.landing_dir
    labels = [
        {"label_id": f"L{i}", "text": _text(rng, tone), "tone": tone}
        for i, tone in enumerate(tone for tone in TONE_WORDS for _ in range(20))
    ]
    # Reviews with no tone word, labelled every tone in turn: what the proxy cannot be sure of.
    tones = list(TONE_WORDS)
    labels += [{"label_id": f"M{i}", "text": " ".join(rng.sample(FILLERS, 5)), "tone": tones[i % 3]} for i in range(15)]
    reviews = {f"R{i}": tone for i, tone in enumerate([*(t for t in TONE_WORDS for _ in range(4)), *["unclear"] * 3])}
    texts = {
        rid: _text(rng, tone) if tone in TONE_WORDS else " ".join(rng.sample(UNSEEN, 5))
        for rid, tone in reviews.items()
    }
    for folder, records in (
        ("shop_review_labels", labels),
        ("shop_reviews", [{"review_id": rid, "text": texts[rid]} for rid in reviews]),
    ):
        (landing / folder / DAY_1).mkdir(parents=True)
        (landing / folder / DAY_1 / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return reviews


def _declare_all(sandbox, step: dict = STEP) -> None:
    declare(sandbox.defs_folder_path / "shop_reviews", REVIEWS)
    declare(sandbox.defs_folder_path / "shop_review_labels", LABELS)
    declare(sandbox.defs_folder_path / "shop_review_tone", step, prompt=PROMPT)


def test_the_proxy_answers_the_tone_it_is_sure_of_and_the_llm_the_rest(pipeline: Pipeline, sandbox):
    truth = _land(pipeline)
    _declare_all(sandbox)
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        node = defs.resolve_asset_graph().get(dg.AssetKey("shop_review_tone"))
        # The labels decide answers: upstream in the graph, and the cascade's settings in the code version.
        assert dg.AssetKey("shop_review_labels") in node.parent_keys
        assert "+cascade shop_review_labels[tone] linear target=0.95 few_shot=" in node.code_version
        for table in ("shop_reviews", "shop_review_labels"):
            materialise(pipeline, defs, DAY_1, [table, f"{table}_quarantine"])
        result = materialise(pipeline, defs, DAY_1, STEP_ASSETS)
        calls = pipeline.server.call_count
        rerun = materialise(pipeline, defs, DAY_1, STEP_ASSETS)

    rows = pipeline.sql("select review_id, tone, proxy_fields, gist from shop_review_tone order by review_id")
    assert len(rows) == len(truth) and all(check_results(result).values()), check_results(result)
    proxied = {rid: tone for rid, tone, fields, _ in rows if fields == ["tone"]}
    # A review's tone word is in 20 labelled reviews: the proxy is sure of most, and right; a review
    # without one is left to the LLM.
    assert len(proxied) >= 6 and all(truth[rid] == tone for rid, tone in proxied.items())
    assert not [rid for rid in proxied if truth[rid] == "unclear"]
    assert all(fields in ([], ["tone"]) for _, _, fields, _ in rows)
    metadata = result.asset_materializations_for_node("shop_review_tone")[0].metadata
    assert metadata["proxy_answered_tone"].value == len(proxied) and metadata["cascade_labels"].value == 75
    # Every row is still asked (its gist is the LLM's); one the proxy was not sure of is shown examples.
    prompts = [message["content"] for body in pipeline.server.requests for message in body["messages"]]
    with_examples = [p for p in prompts if "A labelled row similar to this one" in p]
    assert len(with_examples) == len(truth) - len(proxied)
    # An unchanged rerun asks nothing.
    assert pipeline.server.call_count == calls and all(check_results(rerun).values())


@pytest.mark.parametrize(
    ("cascade", "message"),
    [
        ({"labels": "shop_review_labels", "fields": ["gist"]}, "cascade field 'gist' is not an enum field"),
        ({"labels": "shop_reviews", "fields": ["tone"]}, "labels table shop_reviews has no column 'tone'"),
        ({"labels": "nowhere", "fields": ["tone"]}, "LLMStep cascade labels 'nowhere' is neither"),
    ],
)
def test_a_wrong_cascade_names_what_is_wrong(sandbox, cascade, message):
    _declare_all(sandbox, {**STEP, "attributes": {**STEP["attributes"], "cascade": cascade}})
    with pytest.raises(Exception) as raised, sandbox.build_all_defs():
        pass
    chain, error = [], raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert message in "".join(chain)
