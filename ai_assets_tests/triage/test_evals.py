"""Labelled data as a source, the triage evaluation and its accuracy check: real runs against the fake server.

The fake server triages by keywords, so the labelled tickets below are written so that its answer
is known: some labels agree with it, some do not, and the scores are worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.config import EVAL_TARGETS, SettingsError, load_settings
from ai_assets.definitions import build_definitions
from ai_assets.llm.task import packaged_prompt
from ai_assets.transform.language import LanguageIdentifier
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.llm_server import FakeLLMServer, Fault


def _ticket(ticket_id: str, subject: str, body: str, day: str = "2026-10-20") -> dict:
    return {
        "ticket_id": ticket_id,
        "customer_id": "C-00001",
        "created_at": f"{day}T09:00:00Z",
        "channel": "email",
        "subject": subject,
        "body": body,
    }


def _labelled(ticket: dict, category: str, urgency: str, sentiment: str, language: str) -> dict:
    labels = {"category": category, "urgency": urgency, "sentiment": sentiment, "language": language}
    return {**ticket, "labels": labels}


# What the fake server answers for each (category, urgency, sentiment, language), and the label given.
HAND_SET = [
    # fake: billing, medium, neutral, en -> all four right
    _labelled(_ticket("L-1", "Refund for invoice", "I was charged twice on my invoice."), "billing", "medium",
              "neutral", "en"),
    # fake: shipping, medium, neutral, en -> urgency wrong
    _labelled(_ticket("L-2", "Where is my package", "The tracking page shows nothing new."), "shipping", "high",
              "neutral", "en"),
    # fake: technical, medium, neutral, en -> category and sentiment wrong
    _labelled(_ticket("L-3", "Crash on start", "The app shows an error on start."), "account", "medium",
              "negative", "en"),
    # fake: other, medium, neutral, es -> all four right
    _labelled(_ticket("L-4", "Hola", "Hola, mi pedido no aparece, por favor ayuda."), "other", "medium",
              "neutral", "es"),
]  # fmt: skip
# Valid answers, wrong on every field of every label above: what a broken prompt makes a model say.
WRONG_ANSWER = json.dumps(
    {
        "category": "feedback",
        "urgency": "critical",
        "sentiment": "positive",
        "language": "fr",
        "confidence": 0.9,
    }
)
ACHIEVABLE = "category=0.7,urgency=0.7,sentiment=0.7,language=0.9"


def _write_labels(pipeline: Pipeline, rows: list, name: str = "hand.jsonl", keep_golden: bool = False) -> Path:
    folder = pipeline.settings.landing_dir / "labels"
    if not keep_golden:
        (folder / "golden.jsonl").unlink()
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _checks(result: dg.ExecuteInJobResult) -> dict[str, tuple[bool, dg.AssetCheckSeverity]]:
    return {
        e.asset_check_evaluation_data.check_name: (
            e.asset_check_evaluation_data.passed,
            e.asset_check_evaluation_data.severity,
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _metadata(result: dg.ExecuteInJobResult, node: str, table: str) -> dict:
    """The metadata of the materialisation of `table` by the asset `node` in `result`."""
    (materialization,) = [m for m in result.asset_materializations_for_node(node)
                          if m.asset_key == dg.AssetKey(table)]  # fmt: skip
    return {k: v.value for k, v in materialization.metadata.items()}


def _eval_metadata(result: dg.ExecuteInJobResult) -> dict:
    return _metadata(result, "triage_eval", "eval_runs")


def _rebuilt(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, **env: str) -> Pipeline:
    """The same data, instance and server, with definitions built from changed settings."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    return Pipeline(settings, build_definitions(settings), pipeline.instance, pipeline.server)


def _triage_day(pipeline: Pipeline) -> dg.ExecuteInJobResult:
    """raw_tickets and ticket_triage of DAY_1 only (not the rest of the day's graph)."""
    keys = [
        dg.AssetKey(k) for k in ("raw_tickets", "raw_tickets_quarantine", "ticket_triage", "ticket_triage_failures")
    ]
    return pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, asset_selection=keys, raise_on_error=False
    )


def _failure_messages(result: dg.ExecuteInJobResult) -> str:
    return "\n".join(str(e.message) + str(getattr(e.step_failure_data, "error", "")) for e in result.all_events
                     if e.is_step_failure)  # fmt: skip


def test_eval_scores_a_hand_checked_set_and_records_failures_as_wrong(pipeline: Pipeline, monkeypatch):
    failing = _labelled(_ticket("L-5", "Invoice question", "Unique marker zq-fail please."), "billing", "low",
                        "neutral", "en")  # fmt: skip
    _write_labels(pipeline, [*HAND_SET, failing])
    # The LLM's answers alone, as worked out by hand (the cascade's tests are below).
    pipeline = _rebuilt(pipeline, monkeypatch, AI_ASSETS_EVAL_TARGETS=ACHIEVABLE, AI_ASSETS_CASCADE="off")
    pipeline.server.inject(Fault(status=400, match="zq-fail"))
    result = pipeline.run("eval_job")

    assert pipeline.count("ticket_labels") == 5
    assert pipeline.count("eval_predictions") == 5
    # L-5 failed: predicted null, wrong on every field, with the error.
    assert pipeline.sql(
        "select predicted_category, category_correct, urgency_correct, answered_by, error like 'provider_error%' "
        "from eval_predictions where ticket_id = 'L-5'"
    ) == [(None, False, False, None, True)]
    # By hand: category right on L-1, L-2, L-4 of 5; urgency on L-1, L-3, L-4; sentiment on L-1, L-2, L-4;
    # language on L-1..L-4.
    row = pipeline.sql(
        "select n, accuracy_category, accuracy_urgency, accuracy_sentiment, accuracy_language, coverage, "
        "proxy_share, macro_f1_category from eval_runs"
    )
    n, category, urgency, sentiment, language, coverage, proxy, f1_category = row[0]
    assert (n, category, urgency, sentiment, language, coverage, proxy) == (5, 0.6, 0.6, 0.6, 0.8, 0.8, 0.0)
    # Category classes: billing (tp 1, fn 1: L-5 failed) 2/3; shipping 1; account (fn 1) 0; technical (fp 1) 0;
    # other 1 -> (2/3 + 1 + 0 + 0 + 1) / 5.
    assert f1_category == pytest.approx((2 / 3 + 2) / 5)
    metadata = _eval_metadata(result)
    assert metadata["accuracy_category"] == pytest.approx(0.6) and isinstance(metadata["cost_per_1k_usd"], float)
    assert "| billing | 0 | 1 | 0 | 0 | 0 | 1 |" in metadata["confusion_category"]
    # 0.6 is below the category target 0.7: the check fails, as a warning (blocking is off by default).
    assert _checks(result)["triage_accuracy_meets_target"] == (False, dg.AssetCheckSeverity.WARN)


def test_eval_rerun_makes_no_calls_and_adds_no_row(pipeline: Pipeline, monkeypatch):
    # The sample golden set, as the generator lands it in landing/labels/golden.jsonl. The cascade is on;
    # without few-shot examples no prompt shows another ticket's label, so a label change asks nothing.
    pipeline = _rebuilt(pipeline, monkeypatch, AI_ASSETS_CASCADE_FEW_SHOT="0")
    first = pipeline.run("eval_job")
    calls = pipeline.calls("ticket_triage")
    assert calls == pipeline.count("ticket_labels") == 100
    assert pipeline.count("eval_predictions") == 100 and pipeline.count("eval_runs") == 1
    recorded = pipeline.sql("select * from eval_runs")

    second = pipeline.run("eval_job")
    assert pipeline.calls("ticket_triage") == calls  # all from the cache
    assert pipeline.sql("select * from eval_runs") == recorded  # not duplicated, not rewritten
    assert pipeline.count("eval_predictions") == 100
    assert _eval_metadata(second)["accuracy_category"] == _eval_metadata(first)["accuracy_category"]

    # One label changed: another evaluation, appended next to the first; only nothing new is asked.
    path = pipeline.settings.landing_dir / "labels" / "golden.jsonl"
    lines = path.read_text().splitlines()
    first_label = json.loads(lines[0])
    first_label["labels"]["urgency"] = "critical" if first_label["labels"]["urgency"] != "critical" else "low"
    path.write_text("\n".join([json.dumps(first_label), *lines[1:]]) + "\n")
    pipeline.run("eval_job")
    assert pipeline.calls("ticket_triage") == calls
    assert pipeline.count("eval_runs") == 2 and pipeline.count("eval_predictions") == 200


def test_bad_label_rows_are_quarantined_with_a_reason(pipeline: Pipeline):
    good = HAND_SET[0]
    no_labels = _ticket("B-1", "Refund", "Charged twice.")
    off_vocabulary = _labelled(_ticket("B-2", "Refund", "Charged twice."), "refunds", "medium", "neutral", "en")
    missing_urgency = {**_ticket("B-3", "Refund", "Charged twice."),
                       "labels": {"category": "billing", "sentiment": "neutral", "language": "en"}}  # fmt: skip
    missing_subject = _labelled({**_ticket("B-4", "x", "Charged twice."), "subject": None}, "billing", "low",
                                "neutral", "en")  # fmt: skip
    duplicate = _labelled(_ticket("L-1", "Refund again", "Another copy."), "billing", "low", "neutral", "en")
    mixed_case = _labelled(_ticket("B-5", "Refund", "Charged twice."), "Billing", "LOW", "Neutral", "en-US")
    _write_labels(
        pipeline,
        [good, no_labels, off_vocabulary, missing_urgency, missing_subject, "{broken", duplicate, mixed_case],
    )
    labels = pipeline.settings.landing_dir / "labels"
    (labels / "flat.csv").write_text(
        "ticket_id,customer_id,created_at,channel,subject,body,label_category,label_urgency,label_sentiment,"
        "label_language\n"
        "C-1,C-00001,2026-10-21T10:00:00Z,chat,Login,I cannot sign in.,account,high,negative,en\n"
        "C-2,C-00001,2026-10-21T10:00:00Z,chat,Login,I cannot sign in.,account,,negative,en\n"
    )
    (labels / "notes.txt").write_text("not labels\n")
    pipeline.run("eval_job")

    assert sorted(pipeline.sql("select ticket_id, source from ticket_labels")) == [
        ("B-5", "file"),
        ("C-1", "file"),
        ("L-1", "file"),
    ]
    assert pipeline.sql("select category, urgency, sentiment, language from ticket_labels where ticket_id = 'B-5'") == [
        ("billing", "low", "neutral", "en")
    ]
    reasons = {
        (file, line): reason
        for file, line, reason in pipeline.sql("select source_file, source_line, reason from ticket_labels_quarantine")
    }
    assert reasons[("labels/hand.jsonl", 2)].startswith("labels must be an object")
    assert "category" in reasons[("labels/hand.jsonl", 3)] and "refunds" in reasons[("labels/hand.jsonl", 3)]
    assert reasons[("labels/hand.jsonl", 4)] == "urgency is missing or null"
    assert "subject" in reasons[("labels/hand.jsonl", 5)]
    assert reasons[("labels/hand.jsonl", 6)].startswith("malformed JSON")
    assert (
        reasons[("labels/hand.jsonl", 7)] == "duplicate ticket_id on 2026-10-20: kept the copy at labels/hand.jsonl:1"
    )
    assert reasons[("labels/flat.csv", 3)] == "urgency is missing or null"
    assert "unsupported extension .txt" in reasons[("labels/notes.txt", 0)]
    assert len(reasons) == 8


def test_a_reviewer_correction_is_a_label_that_wins(pipeline: Pipeline):
    reviews_job = pipeline.defs.resolve_job_def("reviews_job")
    _triage_day(pipeline)
    ticket_id, created_at, subject = pipeline.sql(
        "select ticket_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), subject from raw_tickets order by ticket_id "
        "limit 1"
    )[0]
    raw = dict(zip(("customer_id", "channel", "body"), pipeline.sql(
        f"select customer_id, channel, body from raw_tickets where ticket_id = '{ticket_id}'")[0]))  # fmt: skip
    file_label = _labelled({"ticket_id": ticket_id, "created_at": created_at, "subject": subject, **raw}, "billing",
                           "low", "neutral", "de")  # fmt: skip
    _write_labels(pipeline, [file_label, HAND_SET[0]])
    reviews = pipeline.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True, exist_ok=True)
    decisions = [
        {"ticket_id": ticket_id, "created_date": DAY_1, "decision": "approve", "reviewer": "ana",
         "decided_at": "2026-11-02T10:00:00Z", "category": "Shipping", "urgency": "high"},
        # A correction of a ticket that does not exist: quarantined, not a label.
        {"ticket_id": "T-NOPE", "decision": "reject", "reviewer": "ana", "category": "billing"},
        # No correction: a decision only.
        {"ticket_id": "L-1", "decision": "approve", "reviewer": "ana"},
    ]  # fmt: skip
    (reviews / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decisions))
    review_keys = [dg.AssetKey("review_decisions"), dg.AssetKey("review_decisions_quarantine")]
    reviews_job.execute_in_process(instance=pipeline.instance, partition_key=DAY_1, asset_selection=review_keys)
    pipeline.run("eval_job")

    # The reviewer's fields win; what the reviewer left alone keeps the file label's value.
    assert pipeline.sql(
        "select source, category, urgency, sentiment, language, subject, source_file from ticket_labels "
        f"where ticket_id = '{ticket_id}'"
    ) == [("review", "shipping", "high", "neutral", "de", subject, "reviews/decisions.jsonl")]
    assert pipeline.sql("select source from ticket_labels where ticket_id = 'L-1'") == [("file",)]
    assert pipeline.count("ticket_labels") == 2
    assert pipeline.sql("select source_file, source_line, ticket_id, reason from ticket_labels_quarantine") == [
        (
            "reviews/decisions.jsonl",
            2,
            "T-NOPE",
            "reviewer correction of ticket T-NOPE (any day) but no such ticket in raw_tickets",
        )
    ]
    assert pipeline.sql(f"select source from eval_predictions where ticket_id = '{ticket_id}'") == [("review",)]
    # Reviewer-confirmed labels are scored apart from the imported ones.
    by_source = dict(pipeline.sql(
        "select source, avg(category_correct::int) from eval_predictions group by source"))  # fmt: skip
    assert pipeline.sql("select n_reviewed, accuracy_category_reviewed, accuracy_category_imported from eval_runs") == [
        (1, by_source["review"], by_source["file"])
    ]


def _broken_prompt(tmp_path: Path) -> Path:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    text = packaged_prompt("ticket_triage").read_text()
    (prompts / "ticket_triage.txt").write_text(text.replace("\n", "\nAnswer tersely.\n", 1))
    return prompts


def test_a_prompt_change_below_target_warns_by_default(pipeline: Pipeline, monkeypatch, tmp_path):
    _write_labels(pipeline, HAND_SET)
    # The LLM alone: on four labels the cascade's proxy would take over the fields the broken prompt gets wrong.
    pipeline = _rebuilt(pipeline, monkeypatch, AI_ASSETS_EVAL_TARGETS=ACHIEVABLE, AI_ASSETS_CASCADE="off")
    assert _checks(pipeline.run("eval_job"))["triage_accuracy_meets_target"] == (True, dg.AssetCheckSeverity.WARN)
    before = pipeline.defs.resolve_assets_def("eval_runs").code_versions_by_key[dg.AssetKey("eval_runs")]

    changed = _rebuilt(pipeline, monkeypatch, AI_ASSETS_PROMPTS_DIR=str(_broken_prompt(tmp_path)))
    after = changed.defs.resolve_assets_def("eval_runs").code_versions_by_key[dg.AssetKey("eval_runs")]
    assert after != before  # the prompt edit marks the evaluation unsynced
    for _ in HAND_SET:
        changed.server.inject(Fault(content=WRONG_ANSWER))
    result = changed.run("eval_job")  # the run succeeds: a warning, not a stop
    assert _checks(result)["triage_accuracy_meets_target"] == (False, dg.AssetCheckSeverity.WARN)
    assert changed.count("eval_runs") == 2
    assert changed.sql("select accuracy_category from eval_runs order by evaluated_at") == [(0.75,), (0.0,)]
    assert _triage_day(changed).success  # not blocking: the triage still writes


def test_blocking_stops_ticket_triage_until_the_eval_meets_target(pipeline: Pipeline, monkeypatch, tmp_path):
    _write_labels(pipeline, HAND_SET)
    blocking = _rebuilt(
        pipeline, monkeypatch, AI_ASSETS_EVAL_TARGETS=ACHIEVABLE, AI_ASSETS_EVAL_BLOCKING="on", AI_ASSETS_CASCADE="off"
    )

    # Not evaluated yet: the triage writes nothing and says what to do.
    first = _triage_day(blocking)
    assert not first.success
    assert "has not been evaluated: materialise triage_eval (eval_job) first" in _failure_messages(first)
    assert blocking.count("ticket_triage") == 0

    # Evaluated and on target: it runs.
    assert _checks(blocking.run("eval_job"))["triage_accuracy_meets_target"] == (True, dg.AssetCheckSeverity.ERROR)
    assert _triage_day(blocking).success
    triaged = blocking.count("ticket_triage")
    assert triaged > 0

    # A prompt change whose answers are wrong: the eval fails its blocking check, and the triage stops.
    changed = _rebuilt(blocking, monkeypatch, AI_ASSETS_PROMPTS_DIR=str(_broken_prompt(tmp_path)))
    for _ in HAND_SET:
        changed.server.inject(Fault(content=WRONG_ANSWER))
    evaluation = changed.defs.resolve_job_def("eval_job").execute_in_process(
        instance=changed.instance, raise_on_error=False
    )
    assert _checks(evaluation)["triage_accuracy_meets_target"] == (False, dg.AssetCheckSeverity.ERROR)
    assert not evaluation.success  # a blocking check that fails fails its step
    assert changed.count("eval_runs") == 2  # recorded all the same: the history shows the bad version
    calls = changed.server.call_count
    stopped = _triage_day(changed)
    assert not stopped.success
    message = _failure_messages(stopped)
    assert "category accuracy 0.000 is below its target 0.7" in message
    assert "urgency accuracy 0.000 is below its target 0.7" in message
    assert changed.server.call_count == calls  # stopped before any call
    assert changed.count("ticket_triage") == triaged  # the day written by the good version stays


def test_eval_settings_are_validated():
    settings = load_settings({"AI_ASSETS_EVAL_TARGETS": "urgency=0.4, language=1"})
    assert settings.project.eval_targets == {**EVAL_TARGETS, "urgency": 0.4, "language": 1.0}
    assert settings.project.eval_blocking is False
    assert load_settings({"AI_ASSETS_EVAL_BLOCKING": "on"}).project.eval_blocking is True
    for bad in ("category=1.5", "mood=0.5", "category"):
        with pytest.raises(SettingsError, match="AI_ASSETS_EVAL_TARGETS"):
            load_settings({"AI_ASSETS_EVAL_TARGETS": bad})
    with pytest.raises(SettingsError, match="AI_ASSETS_EVAL_BLOCKING='maybe' must be on or off"):
        load_settings({"AI_ASSETS_EVAL_BLOCKING": "maybe"})


# --- the cascade ------------------------------------------------------------------------------

PROXIED = ["category", "sentiment", "urgency"]  # sorted, as list_sort gives them
CASCADE = f"linear target=0.9 few_shot=3 language={LanguageIdentifier().describe()}"


def _land_labels(pipeline: Pipeline) -> None:
    """ticket_labels from landing/labels, as reference_data_job lands them before the days are triaged."""
    keys = [dg.AssetKey("ticket_labels"), dg.AssetKey("ticket_labels_quarantine")]
    pipeline.defs.resolve_job_def("eval_job").execute_in_process(instance=pipeline.instance, asset_selection=keys)


def test_the_cascade_answers_what_it_is_sure_of_and_shows_the_llm_examples_for_the_rest(pipeline: Pipeline):
    _land_labels(pipeline)  # the sample golden set
    result = _triage_day(pipeline)
    assert result.success
    answered = [fields for (fields,) in pipeline.sql("select list_sort(proxy_fields) from ticket_triage")]
    assert all(set(fields) <= {*PROXIED, "language"} for fields in answered)
    # Language by the identifier: every sample ticket is in a language it is sure of.
    assert all("language" in fields for fields in answered)
    proxied = [[f for f in fields if f in PROXIED] for fields in answered]
    assert sum(map(len, proxied)) > 0  # the proxy was sure of some answers
    prompts = pipeline.prompts("ticket_triage")
    # One call a ticket the cascade did not answer whole; none for the others (model 'cascade', no tokens).
    whole = sum(len(fields) == len(PROXIED) + 1 for fields in answered)
    assert len(prompts) == len(answered) - whole and len(answered) == pipeline.count("raw_tickets")
    assert pipeline.count("ticket_triage", "model = 'cascade'") == whole
    # The rows that leave a field to the LLM show it the three nearest labelled tickets; the others none.
    with_examples = [p for p in prompts if "<<<EXAMPLE" in p]
    assert len(with_examples) == sum(len(fields) < len(PROXIED) for fields in proxied)
    assert all(p.count("<<<EXAMPLE") == 3 and "Its correct triage: category: " in p for p in with_examples)
    metadata = _metadata(result, "ticket_triage", "ticket_triage")
    assert metadata["proxy_share"] == pytest.approx(sum(map(len, proxied)) / (3 * len(proxied)))
    assert metadata["cascade"] == CASCADE and metadata["language_identified"] == len(answered)

    calls = pipeline.server.call_count
    assert _triage_day(pipeline).success
    assert pipeline.server.call_count == calls  # a rerun: every answer and vector from the caches


def test_without_labels_only_language_is_answered_and_with_the_cascade_off_nothing_is(pipeline: Pipeline, monkeypatch):
    assert _triage_day(pipeline).success  # ticket_labels not landed yet: nothing to learn from
    assert pipeline.count("ticket_triage", "proxy_fields <> ['language']") == 0  # the identifier's only
    assert not any("<<<EXAMPLE" in p for p in pipeline.prompts("ticket_triage"))

    _land_labels(pipeline)
    off = _rebuilt(pipeline, monkeypatch, AI_ASSETS_CASCADE="off")
    calls = off.server.call_count
    assert _triage_day(off).success
    assert off.server.call_count == calls  # the same prompts as without labels: all from the cache
    assert off.count("ticket_triage", "len(proxy_fields) > 0") == 0


def test_a_reviewer_correction_changes_a_later_proxy_answer(pipeline: Pipeline, monkeypatch):
    sure = _rebuilt(pipeline, monkeypatch, AI_ASSETS_CASCADE_TARGET_ACCURACY="0")  # the proxy answers every field
    _land_labels(sure)
    assert _triage_day(sure).success
    ticket_id, category, proxied = sure.sql(
        "select ticket_id, category, list_sort(proxy_fields) from ticket_triage order by ticket_id limit 1"
    )[0]
    assert proxied == [*PROXIED[:1], "language", *PROXIED[1:]]
    corrected = "feedback" if category != "feedback" else "billing"
    reviews = sure.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True, exist_ok=True)
    decision = {"ticket_id": ticket_id, "created_date": DAY_1, "decision": "reject", "reviewer": "ana",
                "decided_at": "2026-11-02T10:00:00Z", "category": corrected}  # fmt: skip
    (reviews / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    review_keys = [dg.AssetKey("review_decisions"), dg.AssetKey("review_decisions_quarantine")]
    sure.defs.resolve_job_def("reviews_job").execute_in_process(
        instance=sure.instance, partition_key=DAY_1, asset_selection=review_keys
    )
    _land_labels(sure)
    assert sure.sql(f"select source, category from ticket_labels where ticket_id = '{ticket_id}'") == [
        ("review", corrected)
    ]
    assert _triage_day(sure).success
    assert sure.sql(f"select category, list_sort(proxy_fields) from ticket_triage where ticket_id = '{ticket_id}'") == [
        (corrected, [*PROXIED[:1], "language", *PROXIED[1:]])
    ]


def test_the_eval_scores_the_cascade_and_the_triage_follows_its_verdict(pipeline: Pipeline):
    # An LLM wrong on everything: wherever the proxy's held-out answers did better, the proxy answers every row.
    _land_labels(pipeline)
    for _ in range(pipeline.count("ticket_labels")):
        pipeline.server.inject(Fault(content=WRONG_ANSWER))
    result = pipeline.run("eval_job")
    (row,) = pipeline.sql(
        "select cascade, proxy_share, accuracy_category, llm_accuracy_category, proxy_accuracy_category, "
        "llm_accuracy_urgency, proxy_accuracy_urgency, llm_accuracy_sentiment, proxy_accuracy_sentiment from eval_runs"
    )
    cascade, share, category, *llm_and_proxy = row
    assert cascade == CASCADE
    for llm, proxy in zip(llm_and_proxy[::2], llm_and_proxy[1::2]):
        assert proxy > llm  # WRONG_ANSWER is right only where a label happens to be feedback, critical or positive
    assert share == 1.0 and category == llm_and_proxy[1] > 0.5
    # What the triage applies is recorded: from 0 (the proxy answers every row), with the bound there.
    (applied,) = pipeline.sql(
        "select proxy_threshold_category, proxy_threshold_urgency, proxy_threshold_sentiment,"
        " proxy_accuracy_bound_category, llm_accuracy_language from eval_runs"
    )
    assert applied[:3] == (0.0, 0.0, 0.0) and 0 < applied[3] < category and applied[4] is not None
    assert pipeline.count("eval_predictions", "answered_by <> 'proxy'") == 0
    assert _eval_metadata(result)["proxy_share"] == 1.0

    asked = len(pipeline.prompts("ticket_triage"))
    assert _triage_day(pipeline).success
    assert pipeline.count("ticket_triage", f"list_sort(proxy_fields) <> {sorted([*PROXIED, 'language'])}") == 0
    # Every ticket answered whole by the cascade: not one call, and lineage that says so.
    assert len(pipeline.prompts("ticket_triage")) == asked
    assert pipeline.count("ticket_triage", "model <> 'cascade' or prompt_tokens + completion_tokens > 0") == 0
    # Confidence: the held-out accuracy of the proxy's category votes at least as sure as the ticket's
    # (the least sure: of every held-out vote, the eval's proxy accuracy), never the vote's margin.
    least, most = pipeline.sql("select min(confidence), max(confidence) from ticket_triage")[0]
    assert category - 1e-9 <= most <= 1 and 0.5 <= least < most  # per ticket, not one figure for all
    assert pipeline.sql("select llm_call_share from eval_runs") == [(0.0,)]


def _latest_plans(pipeline: Pipeline) -> dict[str, tuple]:
    """plan -> (llm_calls_per_1k, meets_targets, chosen) of the latest evaluation."""
    rows = pipeline.sql(
        "select plan, llm_calls_per_1k, meets_targets, chosen from eval_plans where eval_id = "
        "(select eval_id from eval_runs order by evaluated_at desc limit 1)"
    )
    return {plan: tuple(rest) for plan, *rest in rows}


def _labels_the_llm_gets_right(pipeline: Pipeline, monkeypatch) -> None:
    """The golden tickets labelled with the fake LLM's own answers (an evaluation with the cascade off)."""
    _land_labels(pipeline)
    _rebuilt(pipeline, monkeypatch, AI_ASSETS_CASCADE="off").run("eval_job")
    assert pipeline.sql("select plan, chosen from eval_plans") == [("llm_alone", True)]  # nothing else to run
    fields = ("category", "urgency", "sentiment", "language")
    columns = ", ".join(f"predicted_{f}" for f in fields)
    answers = {
        tid: dict(zip(fields, rest))
        for tid, *rest in pipeline.sql(f"select ticket_id, {columns} from eval_predictions")
    }
    golden = pipeline.settings.landing_dir / "labels" / "golden.jsonl"
    tickets = [json.loads(line) for line in golden.read_text().splitlines()]
    _write_labels(pipeline, [{**t, "labels": {**t["labels"], **answers[t["ticket_id"]]}} for t in tickets])
    monkeypatch.delenv("AI_ASSETS_CASCADE")
    _land_labels(pipeline)


def test_the_eval_chooses_the_cheapest_plan_that_meets_the_targets_and_the_triage_runs_it(
    pipeline: Pipeline, monkeypatch
):
    _labels_the_llm_gets_right(pipeline, monkeypatch)

    # Every target at 1: only the LLM reaches them all, at a call per ticket.
    strict = _rebuilt(pipeline, monkeypatch, AI_ASSETS_EVAL_TARGETS="category=1,urgency=1,sentiment=1,language=1")
    result = strict.run("eval_job")
    assert _latest_plans(strict) == {
        "proxy_only": (0.0, False, False),
        "proxy_llm": (500.0, False, False),
        "llm_alone": (1000.0, True, True),
    }
    metadata = _eval_metadata(result)
    assert metadata["plan"] == "llm_alone" and metadata["plan_reason"].startswith("llm_alone: the cheapest plan")
    assert "proxy_llm 500 calls" in metadata["plan_reason"] and "| **llm_alone** (runs) |" in metadata["plans"]
    asked = len(strict.prompts("ticket_triage"))
    day = _triage_day(strict)
    assert day.success and strict.count("ticket_triage", "len(proxy_fields) > 0") == 0  # not even the language
    # A call per ticket not in the cache (tickets with the same text, one), none answered by the cascade.
    distinct = strict.sql("select count(distinct input_hash) from ticket_triage where not cache_hit")[0][0]
    assert len(strict.prompts("ticket_triage")) - asked == distinct > 30
    assert strict.count("ticket_triage", "model = 'cascade'") == 0
    triage = _metadata(day, "ticket_triage", "ticket_triage")
    assert triage["plan"] == "llm_alone" and triage["plan_reason"] == metadata["plan_reason"]

    # No target: the proxy alone, the cheapest, answers every ticket whole; not one call.
    lenient = _rebuilt(pipeline, monkeypatch, AI_ASSETS_EVAL_TARGETS="category=0,urgency=0,sentiment=0,language=0")
    assert lenient.run("eval_job").success
    assert {plan: chosen for plan, (_, _, chosen) in _latest_plans(lenient).items()}["proxy_only"]
    asked = len(lenient.prompts("ticket_triage"))
    day = _triage_day(lenient)
    assert day.success and len(lenient.prompts("ticket_triage")) == asked
    assert lenient.count("ticket_triage", "model <> 'cascade'") == 0
    assert _metadata(day, "ticket_triage", "ticket_triage")["plan"] == "proxy_only"

    # Back to the strict targets: that evaluation, already recorded, is the latest again (no new row), and
    # the triage follows it.
    runs = strict.count("eval_runs")
    assert strict.run("eval_job").success and strict.count("eval_runs") == runs
    assert _metadata(_triage_day(strict), "ticket_triage", "ticket_triage")["plan"] == "llm_alone"


def test_a_small_model_beside_the_endpoint_is_measured_in_the_same_choice_and_asked_when_it_wins(
    pipeline: Pipeline, monkeypatch
):
    _labels_the_llm_gets_right(pipeline, monkeypatch)
    priced = {"AI_ASSETS_PRICE_INPUT_PER_1M": "1", "AI_ASSETS_PRICE_OUTPUT_PER_1M": "4"}
    alone = _rebuilt(pipeline, monkeypatch, **priced)
    assert alone.run("eval_job").success
    # Targets the proxy alone misses and the proxy + the endpoint meets: that plan's own accuracies.
    fields = ("category", "urgency", "sentiment", "language")
    columns = ", ".join(f"accuracy_{f}" for f in fields)
    (cascaded,) = alone.sql(f"select {columns} from eval_plans where plan = 'proxy_llm'")
    (proxy_only,) = alone.sql(f"select {columns} from eval_plans where plan = 'proxy_only'")
    assert any(p < c for p, c in zip(proxy_only, cascaded))
    targets = ",".join(f"{f}={a!r}" for f, a in zip(fields, cascaded))
    assert _rebuilt(alone, monkeypatch, AI_ASSETS_EVAL_TARGETS=targets).run("eval_job").success
    assert {plan for plan, (*_, chosen) in _latest_plans(alone).items() if chosen} == {"proxy_llm"}

    # A second server, unpriced (a model on one's own machine), answering as the endpoint does.
    with FakeLLMServer(model_name="fake-small") as small_server:
        small = _rebuilt(alone, monkeypatch, AI_ASSETS_SMALL_LLM=small_server.base_url,
                         AI_ASSETS_SMALL_LLM_MODEL="fake-small")  # fmt: skip
        asked = alone.calls("ticket_triage")
        result = small.run("eval_job")
        # The small model asked about every labelled ticket, the endpoint nothing new (its answers are cached).
        assert alone.calls("ticket_triage") == asked and len(small_server.requests) == small.count("ticket_labels")
        plans = _latest_plans(small)
        assert list(plans) == ["proxy_only", "proxy_small_llm", "proxy_llm", "llm_alone"]
        assert plans["proxy_small_llm"][1:] == (True, True) and plans["proxy_llm"][1:] == (True, False)
        assert small.sql("select plan, model, cost_per_1k_usd = 0 from eval_plans where plan like 'proxy_%llm' and "
                         "eval_id = (select eval_id from eval_runs order by evaluated_at desc limit 1) order by plan"
                         ) == [("proxy_llm", "fake-model", False), ("proxy_small_llm", "fake-small", True)]  # fmt: skip
        metadata = _eval_metadata(result)
        assert metadata["plan"] == "proxy_small_llm" and "small_llm=fake-small@" in metadata["cascade"]
        assert metadata["small_llm_calls"] == len(small_server.requests) and metadata["small_llm_accuracy_category"]
        assert metadata["plan_reason"].startswith("proxy_small_llm: the cheapest plan that meets every target")

        # The triage follows: its LLM calls go to the small model, none to the endpoint.
        day = _triage_day(small)
        assert day.success and alone.calls("ticket_triage") == asked
        assert small.count("ticket_triage", "model = 'fake-small'") > 0
        assert small.count("ticket_triage", "model not in ('fake-small', 'cascade')") == 0
        assert _metadata(day, "ticket_triage", "ticket_triage")["plan"] == "proxy_small_llm"

        # Targets the proxy alone meets with no call: no plan can be cheaper, so the small model is not asked.
        requests = len(small_server.requests)
        lenient = _rebuilt(small, monkeypatch, AI_ASSETS_EVAL_TARGETS="category=0,urgency=0,sentiment=0,language=0")
        result = lenient.run("eval_job")
        assert len(small_server.requests) == requests and "proxy_small_llm" not in _latest_plans(lenient)
        assert "not asked (proxy_only meets every target with no LLM call" in _eval_metadata(result)["small_llm"]

        # Another small model that answers nothing fails its evaluation, naming it; nothing is recorded.
        runs = small.count("eval_runs")
        down = _rebuilt(small, monkeypatch, AI_ASSETS_SMALL_LLM_MODEL="fake-tiny", AI_ASSETS_EVAL_TARGETS=targets)
        small_server.inject(*[Fault(status=401)] * down.count("ticket_labels"))
        failed = down.defs.resolve_job_def("eval_job").execute_in_process(instance=down.instance, raise_on_error=False)
        assert not failed.success and "small model fake-tiny" in _failure_messages(failed)
        assert down.count("eval_runs") == runs


def test_an_eval_the_llm_mostly_did_not_answer_records_nothing_and_says_why(pipeline: Pipeline, monkeypatch):
    _land_labels(pipeline)
    broke = _rebuilt(pipeline, monkeypatch, AI_ASSETS_LLM_MAX_TOKENS_PER_RUN="1")  # every call over budget
    result = broke.defs.resolve_job_def("eval_job").execute_in_process(instance=broke.instance, raise_on_error=False)
    assert not result.success
    message = _failure_messages(result)
    # The budget lets the first call through, then stops: one answer of 100 measures nothing.
    assert "The LLM answered 1 of the 100 labelled tickets (failed: {'budget_exceeded': 99})" in message
    assert "AI_ASSETS_LLM_MAX_TOKENS_PER_RUN" in message
    assert broke.count("eval_runs") == 0 and broke.count("eval_plans") == 0
