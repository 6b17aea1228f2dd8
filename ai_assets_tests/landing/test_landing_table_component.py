"""A data set of one's own (product reviews) from landing files to an LLM-enriched table, declared in
two defs.yaml files and a prompt, no Python: every record read is in the table or its quarantine
with the reason, a day that had rows is never replaced by nothing, and the LLM step reads the table."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.declared import check_results, declare, materialise, with_project

REVIEWS = {
    "type": "ai_assets.components.LandingTable",
    "attributes": {
        "name": "store_reviews",
        "description": "One row per product review posted on the shop, from its daily export.",
        "folder": "store_reviews",
        "key": ["review_id"],
        "fields": [
            {"name": "review_id", "description": "The shop's id of the review"},
            {"name": "product", "description": "The product reviewed", "max_length": 80},
            {"name": "rating", "type": "integer", "minimum": 1, "maximum": 5, "description": "Stars given"},
            {"name": "text", "description": "What the customer wrote", "nullable": True},
        ],
    },
}
SENTIMENT = {
    "type": "ai_assets.components.LLMStep",
    "attributes": {
        "name": "store_review_tone",
        "description": "One row per product review, with the LLM's reading of its sentiment.",
        "input": "store_reviews",
        "key": ["review_id"],
        "fields": [
            {"name": "sentiment", "type": "enum", "values": ["positive", "neutral", "negative"], "description": "Tone"}
        ],
    },
}
PROMPT = """[system]
You read product reviews and judge their tone. Answer with JSON only.

[user]
{product}, {rating} stars: {text}
"""
JSONL = [
    json.dumps({"review_id": "R-1", "product": "Kettle", "rating": 5, "text": "Boils fast", "shop": "ignored"}),
    json.dumps({"review_id": 2, "product": "Lamp", "rating": "4", "text": "Fine"}),  # a number as id, text as int
    json.dumps({"review_id": "R-3", "product": "Lamp", "rating": 9, "text": "Too bright"}),
    json.dumps({"review_id": "R-4", "rating": 2, "text": "Broke"}),
    '{"review_id": "R-5", "product": ',
    json.dumps({"review_id": "R-1", "product": "Kettle", "rating": 1, "text": "a second copy"}),
    json.dumps({"review_id": "R-6", "product": "Mug", "rating": 3}),
]
CSV = 'review_id,product,rating,text\nR-7,Mug,4,"Big, and it keeps tea hot"\nR-8,Mug,,no stars given\n'


def _land(pipeline: Pipeline, day: str) -> None:
    folder = pipeline.settings.landing_dir / "store_reviews" / day
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("\n".join(JSONL) + "\n")
    (folder / "b.csv").write_text(CSV)
    latin_1 = json.dumps({"review_id": "R-9", "product": "Caf\xe9", "rating": 5}, ensure_ascii=False)
    (folder / "c.jsonl").write_bytes(latin_1.encode("latin-1") + b"\n")
    (folder / "notes.txt").write_text("not a record file")


def test_declared_reviews_land_in_the_table_or_the_quarantine_and_an_llm_step_reads_them(pipeline: Pipeline, sandbox):
    declare(sandbox.defs_folder_path / "reviews" / "store_reviews", REVIEWS)
    declare(sandbox.defs_folder_path / "reviews" / "store_review_tone", SENTIMENT, prompt=PROMPT)
    _land(pipeline, DAY_1)
    with sandbox.build_all_defs() as declared:
        defs = with_project(pipeline, declared)
        graph = defs.resolve_asset_graph()
        assert graph.get(dg.AssetKey("store_reviews")).parent_keys == {dg.AssetKey("landing_store_reviews")}
        assert graph.get(dg.AssetKey("store_reviews")).group_name == "store_reviews"
        daily_job = set(defs.resolve_job_def("daily_tickets_job").asset_layer.executable_asset_keys)
        assert {dg.AssetKey("store_reviews"), dg.AssetKey("store_review_tone")} <= daily_job

        extracted = materialise(pipeline, defs, DAY_1, ["store_reviews", "store_reviews_quarantine"])
        rows = dict(pipeline.sql("select review_id, rating from store_reviews order by review_id"))
        assert rows == {"2": 4, "R-1": 5, "R-6": 3, "R-7": 4}
        reasons = dict(pipeline.sql("select source_file || ':' || source_line, reason from store_reviews_quarantine"))
        assert "less than or equal to 5" in reasons["store_reviews/2026-11-01/a.jsonl:3"]
        assert "product: Field required" in reasons["store_reviews/2026-11-01/a.jsonl:4"]
        assert "JSON" in reasons["store_reviews/2026-11-01/a.jsonl:5"]
        assert "kept the copy at store_reviews/2026-11-01/a.jsonl:1" in reasons["store_reviews/2026-11-01/a.jsonl:6"]
        assert "rating" in reasons["store_reviews/2026-11-01/b.csv:3"]
        assert "UTF-8" in reasons["store_reviews/2026-11-01/c.jsonl:1"]
        assert "store_reviews/2026-11-01/notes.txt:0" in reasons
        # Every record read (and every file not read) is in exactly one of the two tables.
        metadata = extracted.asset_materializations_for_node("store_reviews")[0].metadata
        assert metadata["records"].value == len(rows) + len(reasons) == 11
        assert all(check_results(extracted).values())

        sentiment = materialise(pipeline, defs, DAY_1, ["store_review_tone", "store_review_tone_failures"])
        assert pipeline.count("store_review_tone") == len(rows)
        assert all(check_results(sentiment).values()), check_results(sentiment)

        # The day's files gone: a rerun refuses to replace the day's rows with nothing.
        for path in (pipeline.settings.landing_dir / "store_reviews" / DAY_1).iterdir():
            path.unlink()
        (pipeline.settings.landing_dir / "store_reviews" / DAY_1).rmdir()
        refused = materialise(pipeline, defs, DAY_1, ["store_reviews", "store_reviews_quarantine"], succeed=False)
        assert not refused.success and pipeline.count("store_reviews") == len(rows)
        assert "no day is replaced with nothing" in refused.failure_data_for_node("store_reviews").error.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": ["id"]}, "key 'id' is not a field"),
        ({"fields": [{"name": "review_id", "description": "x"}, {"name": "reason", "description": "x"}]}, "reserved"),
        ({"fields": [{"name": "review_id", "description": "x", "nullable": True}]}, "may not be nullable"),
        (
            {
                "fields": [
                    {"name": "review_id", "description": "x"},
                    {"name": "mood", "type": "enum", "description": "x"},
                ]
            },
            "enum has no values",
        ),
    ],
)
def test_a_wrong_landing_declaration_names_what_is_wrong(sandbox, change, message):
    declare(sandbox.defs_folder_path / "store_reviews", {**REVIEWS, "attributes": {**REVIEWS["attributes"], **change}})
    with pytest.raises(Exception) as raised, sandbox.build_all_defs():
        pass
    assert message in str(raised.value) or message in str(raised.value.__cause__)


def test_the_shipped_reviews_domain_runs_with_each_day_of_tickets(pipeline: Pipeline):
    """ai_assets/defs/reviews/ (two defs.yaml files and a prompt) in the day's job, on the demo's sample."""
    generate_sample_data(
        pipeline.settings.data_dir, days=1, tickets_per_day=30, golden_size=100, handwritten=False, reviews_per_day=6
    )
    pipeline.run("daily_tickets_job", DAY_1)
    assert pipeline.count("product_reviews") == 6 == pipeline.count("review_sentiment")
    reasons = [reason for (reason,) in pipeline.sql("select reason from product_reviews_quarantine order by 1")]
    assert len(reasons) == 3 and "duplicate review_id" in reasons[0] and "rating" in reasons[-1]

    def review_calls() -> int:
        return sum(r["messages"][0]["content"].startswith("You read product reviews") for r in pipeline.server.requests)

    assert review_calls() == 6
    pipeline.run("daily_tickets_job", DAY_1)
    assert review_calls() == 6  # an unchanged rerun asks nothing
