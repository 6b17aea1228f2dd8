"""Labels you can trust (issue 23, item 6): a poisoned label set is flagged by a signal that is not
the labels (the zero-shot match of each ticket to the triage prompt's category descriptions), and
the proxy stops answering the poisoned field.

The flip: the sample golden set's 19 shipping labels (of 120) turned into billing. The judge is
measured on the embedded default's embedder (multilingual-e5-small, in process, a few seconds);
the fake server's bag-of-words embeddings are too weak a judge, and the audit says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.embeddings import LocalE5Embedder
from ai_assets.llm.task import PromptTemplate
from ai_assets.quality import label_trust
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import DAY_1, Pipeline, configure_env
from ai_assets_tests.fakes.llm_server import _embedding

CHECK = "ticket_labels_are_trustworthy"


def _golden(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "landing" / "labels" / "golden.jsonl").open()]


def _flip_shipping_to_billing(data_dir: Path) -> list[str]:
    """Turns every shipping label of the golden set into billing; the flipped ticket ids."""
    path = data_dir / "landing" / "labels" / "golden.jsonl"
    rows, flipped = _golden(data_dir), []
    for row in rows:
        if row["labels"]["category"] == "shipping":
            row["labels"]["category"] = "billing"
            flipped.append(row["ticket_id"])
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return flipped


def _descriptions() -> dict[str, str]:
    return label_trust.category_descriptions(PromptTemplate.load("ticket_triage").system)


def _audit(rows: list[dict], embed) -> label_trust.FieldAudit:
    descriptions = _descriptions()
    tickets = embed([f"{r['subject']}\n{r['body']}" for r in rows], "query")
    vectors = dict(zip(descriptions, embed(list(descriptions.values()), "passage")))
    return label_trust.audit_categories(
        [r["ticket_id"] for r in rows], [r["labels"]["category"] for r in rows], tickets, vectors, 0.1
    )


def _e5(texts: list[str], kind: str) -> np.ndarray:
    return LocalE5Embedder().embed(texts, kind)[0]


def _bag_of_words(texts: list[str], kind: str) -> np.ndarray:
    return np.array([_embedding(t) for t in texts], np.float32)


def test_the_category_descriptions_come_from_the_triage_prompt():
    descriptions = _descriptions()
    assert descriptions["shipping"] == "shipping: delivery, tracking, lost or late parcels"
    assert set(descriptions) == {"billing", "shipping", "returns", "technical", "account", "feedback"}  # not other


def test_on_e5_the_judge_flags_the_flip_and_passes_the_clean_set(tmp_path):
    generate_sample_data(tmp_path, days=1, tickets_per_day=10, golden_size=120, handwritten=False)
    clean = _audit(_golden(tmp_path), _e5)
    assert clean.trusted_judge and not clean.distrusted, clean.describe()
    flipped = _flip_shipping_to_billing(tmp_path)
    assert len(flipped) == 19
    poisoned = _audit(_golden(tmp_path), _e5)
    assert poisoned.trusted_judge and poisoned.distrusted, poisoned.describe()
    assert len(set(poisoned.suspects) & set(flipped)) >= 15  # measured: 16 of the 19
    assert "the proxy does not answer category" in poisoned.describe()


def test_a_judge_that_cannot_tell_the_categories_apart_flags_nothing(tmp_path):
    generate_sample_data(tmp_path, days=1, tickets_per_day=10, golden_size=120, handwritten=False)
    _flip_shipping_to_billing(tmp_path)
    audit = _audit(_golden(tmp_path), _bag_of_words)
    # Bag-of-words against one-line descriptions agrees with ~0.4 of a category's labels: guessing.
    assert not audit.trusted_judge and not audit.distrusted
    assert "not judged" in audit.describe() and "too weak on this embedder" in audit.describe()


@pytest.fixture
def embedded_default(tmp_path, monkeypatch, llm_server) -> Pipeline:
    """The fake chat server, but embedded as on the embedded default (e5, in process) and with its
    cascade target (0: the proxy answers every proxied field it is allowed to)."""
    monkeypatch.setenv("AI_ASSETS_EMBED_BASE_URL", "embedded")
    monkeypatch.setenv("AI_ASSETS_CASCADE_TARGET_ACCURACY", "0")
    settings = configure_env(monkeypatch, tmp_path / "data", llm_server)
    generate_sample_data(settings.data_dir, days=1, tickets_per_day=15, golden_size=120, handwritten=False)
    with dg.DagsterInstance.ephemeral() as instance:
        yield Pipeline(settings, build_definitions(load_settings()), instance, llm_server)


def _evaluate_and_triage(pipeline: Pipeline) -> tuple[dg.AssetCheckEvaluation, dict]:
    """eval_job's labels and evaluation, then DAY_1's triage: the labels check and the triage's metadata."""
    evaluated = pipeline.run("eval_job")
    (check,) = [
        e.asset_check_evaluation_data
        for e in evaluated.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == CHECK
    ]
    keys = [
        dg.AssetKey(k) for k in ("raw_tickets", "raw_tickets_quarantine", "ticket_triage", "ticket_triage_failures")
    ]
    triaged = pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, asset_selection=keys
    )
    (materialization,) = [
        m
        for m in triaged.asset_materializations_for_node("ticket_triage")
        if m.asset_key == dg.AssetKey("ticket_triage")
    ]
    return check, {k: v.value for k, v in materialization.metadata.items()}


def test_poisoned_labels_fail_the_check_and_the_proxy_stops_answering_that_field(embedded_default: Pipeline):
    pipeline = embedded_default
    flipped = _flip_shipping_to_billing(pipeline.settings.data_dir)
    check, triage = _evaluate_and_triage(pipeline)

    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "above AI_ASSETS_LABEL_MAX_SUSPECT_SHARE 0.1: the proxy does not answer category" in check.description
    named = set(check.metadata["category_suspect_ids"].value.split(", "))
    assert len(named & set(flipped)) >= 15 and all(i in check.description for i in named)
    # The proxy answers no category (before the fix: every one, proxy_share 1.0) but still the other fields.
    assert triage["proxy_answered_category"] == 0 and triage["proxy_withheld"] == "category"
    assert pipeline.count("ticket_triage", "list_contains(proxy_fields, 'category')") == 0
    assert pipeline.count("ticket_triage", "list_contains(proxy_fields, 'urgency')") == pipeline.count("ticket_triage")
    assert pipeline.count("eval_predictions", "list_contains(proxy_fields, 'category')") == 0
    (proxy_share,) = pipeline.sql("select proxy_share from eval_runs")[0]
    assert proxy_share == pytest.approx(2 / 3)


def test_clean_labels_pass_the_check_and_the_proxy_still_answers(embedded_default: Pipeline):
    pipeline = embedded_default
    check, triage = _evaluate_and_triage(pipeline)

    assert check.passed, check.description
    assert check.metadata["category_suspect_share"].value <= 0.1
    assert triage["proxy_answered_category"] == pipeline.count("ticket_triage") > 0
    assert triage["proxy_withheld"] == ""
