"""The cascade as an option of a declared LLMStep (no Python): a proxy fitted on a labelled table of
one's own answers the enum fields it is sure of, the LLM the rest with the nearest labelled rows as
examples, and every row says which fields the proxy answered. Against the fake server, whose
embeddings are bags of words: a review's keyword is what the proxy can learn."""

from __future__ import annotations

import json
from dataclasses import replace
from random import Random

import dagster as dg
import pytest

from ai_assets.config import load_settings
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.declared import check_results, declare, errors_said, materialise, with_project
from ai_assets_tests.fakes.llm_server import FakeLLMServer, Fault

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
    # {examples} is the cascade's: a step without one has no such column.
    prompt = PROMPT if step["attributes"].get("cascade") else PROMPT.replace("{examples}", "")
    declare(sandbox.defs_folder_path / "shop_review_tone", step, prompt=prompt)


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


def test_a_row_whose_every_field_the_proxy_answers_costs_no_call(pipeline: Pipeline, sandbox):
    truth = _land(pipeline)
    tone_only = {"type": STEP["type"], "attributes": {**STEP["attributes"], "fields": [TONE]}}
    _declare_all(sandbox, tone_only)
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        for table in ("shop_reviews", "shop_review_labels"):
            materialise(pipeline, defs, DAY_1, [table, f"{table}_quarantine"])
        result = materialise(pipeline, defs, DAY_1, STEP_ASSETS)

    assert all(check_results(result).values()), check_results(result)
    proxied = pipeline.count("shop_review_tone", "proxy_fields = ['tone']")
    assert proxied >= 6 and pipeline.count("shop_review_tone") == len(truth)
    # Only the rows the proxy was unsure of were asked; the others say no model answered them.
    prompts = [m["content"] for body in pipeline.server.requests for m in body["messages"] if m["role"] == "user"]
    assert len(prompts) == len(truth) - proxied
    no_call = "model = 'cascade' and prompt_tokens = 0 and cost_usd = 0 and not cache_hit and input_hash <> ''"
    assert pipeline.count("shop_review_tone", no_call) == proxied
    metadata = result.asset_materializations_for_node("shop_review_tone")[0].metadata
    assert metadata["rows_without_llm"].value == proxied


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
    assert message in errors_said(raised.value)


@pytest.mark.parametrize("target", [0.7, 0.95])
def test_a_declared_evaluation_scores_the_step_on_its_labels_and_gates_it(pipeline: Pipeline, sandbox, target):
    _land(pipeline)
    evaluated = {**STEP["attributes"], "eval": {"targets": {"tone": target}, "blocking": True}}
    _declare_all(sandbox, {**STEP, "attributes": evaluated})
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        graph = defs.resolve_asset_graph()
        # The evaluation runs with eval_job, and gates the step: upstream of it in the graph.
        assert graph.get(dg.AssetKey("shop_review_tone_evals")).group_name == "evals"
        assert dg.AssetKey("shop_review_tone_evals") in graph.get(dg.AssetKey("shop_review_tone")).parent_keys
        eval_job = defs.resolve_job_def("eval_job")
        assert dg.AssetKey("shop_review_tone_evals") in eval_job.asset_layer.executable_asset_keys
        for table in ("shop_reviews", "shop_review_labels"):
            materialise(pipeline, defs, DAY_1, [table, f"{table}_quarantine"])

        refused = materialise(pipeline, defs, DAY_1, STEP_ASSETS, succeed=False)
        assert "has not been evaluated" in refused.failure_data_for_node("shop_review_tone").error.message

        def evaluate() -> dg.ExecuteInProcessResult:
            keys = [dg.AssetKey("shop_review_tone_evals")]
            return eval_job.execute_in_process(instance=pipeline.instance, asset_selection=keys, raise_on_error=False)

        first = evaluate()
        calls = pipeline.server.call_count
        ((n, score, llm_score),) = pipeline.sql(
            "select n, accuracy_tone, llm_accuracy_tone from shop_review_tone_evals"
        )
        assert n == 75 and calls == 75  # every labelled row asked once, each held out from the proxy
        # The fake server's answers are as good as chance; the proxy's are what makes the step right
        # (measured: 0.84 with the proxy, 0.33 the LLM alone).
        assert score > 0.8 > 0.5 > llm_score
        checks = check_results(first)
        assert checks["shop_review_tone_accuracy_meets_target"] == (score >= target)
        # A blocking check that fails stops what comes after it in the run, the schema check too.
        assert checks.get("shop_review_tone_evals_matches_contract") == (True if score >= target else None)
        # The plan: the proxy's tone on every row is right most often (and the cheapest, were the gist not a
        # call on every row anyway); the step runs it.
        ((plan, why, calls_per_1k),) = pipeline.sql(
            "select plan, plan_reason, llm_calls_per_1k from shop_review_tone_evals"
        )
        assert (plan, calls_per_1k) == ("proxy_only", 1000.0) and "llm_alone 1,000 calls $0.0000 (1 short)" in why
        assert why.startswith("proxy_only: the cheapest plan" if score >= target else "proxy_only: no plan meets")
        # Unchanged: the same evaluation, not a second row, and no call.
        evaluate()
        assert pipeline.server.call_count == calls and pipeline.count("shop_review_tone_evals") == 1

        step = materialise(pipeline, defs, DAY_1, STEP_ASSETS, succeed=score >= target)
    if score >= target:  # evaluated and above its target: the step writes, every tone the proxy's
        assert pipeline.count("shop_review_tone") == 15
        assert pipeline.count("shop_review_tone", "proxy_fields <> ['tone']") == 0
        assert step.asset_materializations_for_node("shop_review_tone")[0].metadata["plan"].value == "proxy_only"
    else:  # below it: the step writes nothing, and says why
        assert (
            f"tone accuracy {score:.3f} is below its target 0.95"
            in step.failure_data_for_node("shop_review_tone").error.message
        )


def test_a_declared_evaluation_is_recorded_again_when_a_rerun_answers_rows_that_failed(pipeline: Pipeline, sandbox):
    _land(pipeline)
    evaluated = {**STEP["attributes"], "eval": {"targets": {"tone": 0.7}}}
    _declare_all(sandbox, {**STEP, "attributes": evaluated})
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        for table in ("shop_reviews", "shop_review_labels"):
            materialise(pipeline, defs, DAY_1, [table, f"{table}_quarantine"])
        eval_job = defs.resolve_job_def("eval_job")
        keys = [dg.AssetKey("shop_review_tone_evals")]
        # Two labelled rows the provider refuses (not retried): answered by neither LLM nor evaluation.
        for (text,) in pipeline.sql("select text from shop_review_labels order by label_id limit 2"):
            pipeline.server.inject(Fault(status=400, match=text))
        assert eval_job.execute_in_process(instance=pipeline.instance, asset_selection=keys).success
        assert pipeline.sql("select failures from shop_review_tone_evals") == [(2,)]
        calls = pipeline.server.call_count
        # The rerun asks only about the two (the rest from the cache) and replaces the row: one evaluation.
        assert eval_job.execute_in_process(instance=pipeline.instance, asset_selection=keys).success
        assert pipeline.server.call_count == calls + 2
        assert pipeline.sql("select failures from shop_review_tone_evals") == [(0,)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cascade": None, "eval": {"targets": {"tone": 0.9}}}, "eval needs a cascade"),
        ({"eval": {"targets": {"gist": 0.9}}}, "eval targets ['gist'] are not fields of its cascade"),
    ],
)
def test_a_wrong_evaluation_names_what_is_wrong(sandbox, change, message):
    _declare_all(sandbox, {**STEP, "attributes": {**STEP["attributes"], **change}})
    with pytest.raises(Exception) as raised, sandbox.build_all_defs():
        pass
    assert message in errors_said(raised.value)


def _right_tone(body: dict) -> str:
    """A small model that reads a review's tone from its words (neutral when it has none)."""
    words = body["messages"][-1]["content"].rsplit("Review:", 1)[-1].split()
    tone = next((t for t, said in TONE_WORDS.items() if any(w in words for w in said)), "neutral")
    return json.dumps({"tone": tone, "gist": "a review"})


def test_a_declared_evaluation_measures_the_small_model_and_the_step_asks_it_when_its_plan_wins(
    pipeline: Pipeline, sandbox, monkeypatch
):
    _land(pipeline)
    evaluated = {**STEP["attributes"], "eval": {"targets": {"tone": 0.86}}}
    _declare_all(sandbox, {**STEP, "attributes": evaluated})
    with FakeLLMServer(model_name="fake-small", responder=_right_tone) as small_server:
        monkeypatch.setenv("AI_ASSETS_SMALL_LLM", small_server.base_url)
        monkeypatch.setenv("AI_ASSETS_SMALL_LLM_MODEL", "fake-small")
        small = replace(pipeline, settings=load_settings())
        with sandbox.build_all_defs() as declared:
            defs = with_project(small, declared)
            for table in ("shop_reviews", "shop_review_labels"):
                materialise(small, defs, DAY_1, [table, f"{table}_quarantine"])
            keys = [dg.AssetKey("shop_review_tone_evals")]
            assert defs.resolve_job_def("eval_job").execute_in_process(instance=small.instance, asset_selection=keys)
            # Both models asked about every labelled row; the proxy + the small model is the plan that meets the target.
            assert len(small_server.requests) == pipeline.server.call_count == 75
            ((plan, why, score, cascade),) = small.sql(
                "select plan, plan_reason, accuracy_tone, cascade from shop_review_tone_evals"
            )
            assert plan == "proxy_small_llm" and why.startswith("proxy_small_llm: the cheapest plan that meets")
            assert score >= 0.86 and "small_llm=fake-small@" in cascade and "proxy_llm 1,000 calls" in why
            calls = pipeline.server.call_count
            step = materialise(small, defs, DAY_1, STEP_ASSETS)
        # Every review needs a call (its gist): each went to the small model, none to the endpoint.
        assert pipeline.server.call_count == calls and len(small_server.requests) == 75 + 15
        assert small.count("shop_review_tone", "model <> 'fake-small'") == 0
        metadata = step.asset_materializations_for_node("shop_review_tone")[0].metadata
        assert metadata["plan"].value == "proxy_small_llm" and metadata["model"].value == "fake-small"
