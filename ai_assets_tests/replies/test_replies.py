"""The reply loop, routing, human review, the outbox and its safety guarantees, asserted on data."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.quality.vocabulary import ACTION_TYPES
from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline
from ai_assets_tests.pipeline_tools import DRAFT_SYSTEMS, rebuild_with, replaced_responder, stale_status


def _run_day(pipeline: Pipeline) -> None:
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)


def test_happy_path_every_ticket_has_one_reply_and_one_outcome(pipeline: Pipeline):
    _run_day(pipeline)
    raw = pipeline.count("raw_tickets")
    assert pipeline.count("reply_drafts") == raw == pipeline.count("ticket_outcomes")
    assert pipeline.sql("select count(*) from reply_drafts where outcome = 'approved' and rounds = 1")[0][0] > 0
    # Approved replies cite only chunks retrieved for their ticket.
    assert pipeline.sql(
        "select count(*) from reply_drafts d join ticket_context c using (ticket_id, created_date)"
        " where d.outcome = 'approved'"
        " and len(list_filter(d.cited_chunk_ids, x -> not list_contains(c.chunk_ids, x))) > 0"
    ) == [(0,)]
    assert pipeline.count("reply_rounds", "verdict = 'pass'") == pipeline.count("reply_drafts", "outcome = 'approved'")


def test_loop_stops_at_its_bound_and_keeps_every_round(pipeline: Pipeline, monkeypatch):
    rebuild_with(pipeline, monkeypatch, AI_ASSETS_REPLY_MAX_REFINEMENTS="1")
    pipeline.server.responder = replaced_responder(
        critique=lambda body: {
            "grounded": False,
            "policy_ok": True,
            "tone_ok": True,
            "problems": ["the delivery date is not in the excerpts"],
        }
    )
    _run_day(pipeline)

    triaged = pipeline.count("ticket_triage")
    assert pipeline.sql("select outcome, rounds, count(*) from reply_drafts where rounds > 0 group by all") == [
        ("needs_human", 2, triaged)
    ]
    assert pipeline.sql("select step, round, verdict, count(*) from reply_rounds group by all order by round") == [
        ("draft", 1, "fail", triaged),
        ("refine", 2, "fail", triaged),
    ]
    reason = pipeline.sql("select distinct reason from reply_drafts where rounds > 0")[0][0]
    assert "after 1 refinements" in reason and "delivery date" in reason
    # The refinement saw the critique: the refine prompt carries the problem.
    refine_prompts = [
        b["messages"][1]["content"] for b in pipeline.server.requests if b["messages"][0]["content"] == DRAFT_SYSTEMS[1]
    ]
    assert refine_prompts and all("the delivery date is not in the excerpts" in p for p in refine_prompts)
    # Nothing the loop could not approve is sent; every one of them waits in the review queue.
    assert pipeline.count("outbox", "action_type = 'send_reply'") == 0
    assert pipeline.count("review_queue") == pipeline.count("raw_tickets")


def test_a_refinement_that_passes_is_approved_in_round_two(pipeline: Pipeline):
    # The critic fails every first draft and passes every refined one (marked by a formulaic
    # sentence, so the grounding check passes it too).
    refined = " Thank you for your patience."
    pipeline.server.responder = replaced_responder(
        critique=lambda body: {
            "grounded": refined in body["messages"][1]["content"],
            "policy_ok": True,
            "tone_ok": True,
            "problems": ["too vague"],
        },
        draft=lambda body, answer: {
            **answer,
            "reply": answer["reply"] + (refined if body["messages"][0]["content"] == DRAFT_SYSTEMS[1] else ""),
        },
    )
    _run_day(pipeline)
    assert pipeline.sql("select distinct outcome, rounds from reply_drafts where rounds > 0") == [("approved", 2)]


def test_rule_checks_override_a_passing_critic(pipeline: Pipeline):
    pipeline.server.responder = replaced_responder(
        draft=lambda body, answer: {**answer, "reply": "To fix this, please send us your password and card number."}
    )
    _run_day(pipeline)
    problems = pipeline.sql("select distinct unnest(problems) from reply_rounds")
    assert {("asks for a password",), ("asks for card details",)} <= set(problems)
    assert pipeline.count("reply_drafts", "outcome = 'approved'") == 0
    assert pipeline.count("outbox", "action_type = 'send_reply'") == 0


@pytest.fixture
def llm_answers_every_field(monkeypatch):
    """The triage as the fake server's responder steers it: the cascade's proxy would override some fields.
    Request it before `pipeline`, which reads the settings."""
    monkeypatch.setenv("AI_ASSETS_CASCADE", "off")


def test_routing_reasons_and_escalations_follow_triage(llm_answers_every_field, pipeline: Pipeline):
    # Refund tickets are critical, and shipping ones are classified with low confidence.
    def triage(body, answer):
        text = body["messages"][1]["content"].lower()
        return {
            **answer,
            "urgency": "critical" if "refund" in text else answer["urgency"],
            "confidence": 0.3 if answer["category"] == "shipping" else 0.9,
        }

    pipeline.server.responder = replaced_responder(triage=triage)
    _run_day(pipeline)
    expected = pipeline.sql(
        "select t.ticket_id from ticket_triage t join ticket_context c using (ticket_id, created_date)"
        " join reply_drafts d using (ticket_id, created_date)"
        " where t.urgency = 'critical' or (c.customer_tier = 'enterprise' and t.sentiment = 'negative')"
        " or t.confidence < 0.6 or d.outcome = 'needs_human'"
        " union select ticket_id from ticket_triage_failures order by 1"
    )
    assert pipeline.sql("select ticket_id from review_queue order by 1") == expected
    critical = pipeline.sql("select ticket_id from ticket_triage where urgency = 'critical' order by 1")
    assert critical, "the sample day has critical tickets"
    assert pipeline.sql("select ticket_id from outbox where action_type = 'escalate' order by 1") == critical
    # A summary for each ticket a person reads (the review queue) and no other; an escalation carries it.
    queue, raw = pipeline.count("review_queue"), pipeline.count("raw_tickets")
    summarised = [b for b in pipeline.server.requests if b["messages"][0]["content"].startswith("You summarise")]
    assert 0 < queue < raw and len(summarised) == queue == pipeline.count("ticket_summaries")
    escalated = pipeline.sql(
        "select o.payload ->> 'summary', s.summary from outbox o left join ticket_summaries s using (ticket_id)"
        " where o.action_type = 'escalate'"
    )
    assert len(escalated) == len(critical) and all(carried and carried == written for carried, written in escalated)
    assert pipeline.sql(
        "select distinct priority from review_queue where list_contains(reasons, 'critical urgency')"
    ) == [(1,)]
    assert (
        pipeline.count(
            "review_queue",
            "reasons[1] like 'low triage confidence (0.3)%' or list_contains(reasons, 'low triage confidence (0.3)')",
        )
        > 0
    )


def test_outbox_is_exactly_once_under_reruns(pipeline: Pipeline):
    _run_day(pipeline)
    pipeline.run("daily_tickets_job", DAY_1)
    pipeline.run("reviews_job", DAY_1)

    sink = [json.loads(line) for line in Path(pipeline.settings.outbox.jsonl_path).read_text().splitlines()]
    actions = pipeline.count("outbox")
    assert actions > 0 and len(sink) == actions == len({a["action_id"] for a in sink})
    assert pipeline.sql("select status, max(attempts), count(*) from outbox_deliveries group by all") == [
        ("delivered", 1, actions)
    ]
    assert {a["action_type"] for a in sink} <= set(ACTION_TYPES)


class _Webhook:
    """A receiver on loopback that fails while `failing` is set and records what it got."""

    def __init__(self) -> None:
        self.failing, self.received, self.accepted = True, [], []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append((self.headers["Idempotency-Key"], body))
                if not hook.failing:
                    hook.accepted.append(self.headers["Idempotency-Key"])
                self.send_response(503 if hook.failing else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/actions"


def test_failed_deliveries_are_retried_with_backoff_shown_and_never_doubled(pipeline: Pipeline, monkeypatch):
    hook = _Webhook()
    rebuild_with(
        pipeline,
        monkeypatch,
        AI_ASSETS_OUTBOX_WEBHOOK_URL=hook.url,
        AI_ASSETS_OUTBOX_MAX_ATTEMPTS="2",
        AI_ASSETS_OUTBOX_BACKOFF_S="0.01",
        AI_ASSETS_OUTBOX_BREAKER_FAILURES="1000",  # every action tried (the breaker has its own tests)
    )
    pipeline.run("reference_data_job")
    # The receiver is down: the delivery step fails loud, after recording every action as failed.
    failed_run = pipeline.defs.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, raise_on_error=False
    )
    assert [e.step_key for e in failed_run.all_events if e.event_type_value == "STEP_FAILURE"] == ["outbox_deliveries"]

    actions = pipeline.count("outbox")
    assert pipeline.sql("select status, attempts, count(*) from outbox_deliveries group by all") == [
        ("failed", 2, actions)
    ]
    assert pipeline.sql("select distinct last_error from outbox_deliveries") == [("webhook answered HTTP 503",)]
    metadata = failed_run.asset_materializations_for_node("outbox_deliveries")[0].metadata
    assert metadata["failed"].value == actions

    hook.failing = False
    pipeline.run("reviews_job", DAY_1)  # any run that includes outbox_deliveries retries
    assert pipeline.sql("select status, attempts, count(*) from outbox_deliveries group by all") == [
        ("delivered", 3, actions)
    ]
    pipeline.run("reviews_job", DAY_1)
    assert len(hook.accepted) == len(set(hook.accepted)) == actions  # each action accepted once
    assert len(hook.received) == 3 * actions  # two failed attempts, one success, nothing after
    hook.server.shutdown()


def test_injection_tickets_cannot_create_a_disallowed_action(pipeline: Pipeline):
    # A model that obeys the injected instructions, in triage and in the reply.
    def obey(body, answer):
        if "admin mode" in body["messages"][1]["content"]:
            return {
                "reply": "Done: refund of $5,000 issued and all other tickets closed. Confirm at http://refunds.example/claim",
                "cited_chunk_ids": answer["cited_chunk_ids"],
            }
        return answer

    pipeline.server.responder = replaced_responder(draft=obey)
    _run_day(pipeline)
    (injected,) = pipeline.sql(
        "select ticket_id from raw_tickets where body ilike '%ignore all previous instructions%'"
    )[0]

    assert pipeline.sql("select distinct action_type from outbox") <= [(t,) for t in ACTION_TYPES]
    assert (
        pipeline.sql(f"select action_type from outbox where ticket_id = '{injected}' and action_type = 'send_reply'")
        == []
    )
    assert pipeline.sql(f"select outcome from reply_drafts where ticket_id = '{injected}'") == [("needs_human",)]
    assert ("contains a link",) in pipeline.sql(
        f"select distinct unnest(problems) from reply_rounds where ticket_id = '{injected}'"
    )
    # Every action acts on its own ticket and that ticket's customer, never one the text names.
    assert pipeline.sql(
        "select count(*) from outbox o join raw_tickets r using (ticket_id, created_date)"
        " where json_extract_string(o.payload, '$.customer_id') != r.customer_id"
        " or json_extract_string(o.payload, '$.ticket_id') != o.ticket_id"
    ) == [(0,)]
    # The other tickets were not closed or touched: each has exactly one outcome of its own.
    assert pipeline.count("ticket_outcomes") == pipeline.count("raw_tickets")


PII = ("4111 1111 1111 1111", "+1 415 555 0134", "CVV 123")


def _sent_text(pipeline: Pipeline) -> str:
    # Every message sent, tool results included (an assistant turn that only calls tools has no content).
    chat = [m.get("content") or "" for body in pipeline.server.requests for m in body["messages"]]
    embedded = [t for body in pipeline.server.embedding_requests for t in body["input"]]
    return "\n".join(chat + embedded)


def test_pii_never_reaches_a_remote_endpoint(pipeline: Pipeline):
    _run_day(pipeline)
    (body,) = pipeline.sql("select body from raw_tickets where body like '%4111%'")[0]
    email = next(word.strip(".,") for word in body.split() if "@" in word)
    sent = _sent_text(pipeline)
    assert all(secret not in sent for secret in (*PII, email))
    assert "[CARD]" in sent and "[EMAIL]" in sent and "[PHONE]" in sent


def test_pii_redaction_can_be_turned_off_for_a_trusted_endpoint(pipeline: Pipeline, monkeypatch):
    rebuild_with(pipeline, monkeypatch, AI_ASSETS_REDACT_PII="off")
    _run_day(pipeline)
    assert "4111 1111 1111 1111" in _sent_text(pipeline)  # the check above can fail


def test_reviewer_decisions_land_through_the_sensor_and_are_sent_once(pipeline: Pipeline, monkeypatch):
    rebuild_with(pipeline, monkeypatch, AI_ASSETS_REPLY_MAX_REFINEMENTS="0")
    pipeline.server.responder = replaced_responder(
        critique=lambda body: {"grounded": False, "policy_ok": True, "tone_ok": True, "problems": ["unsupported"]}
    )
    _run_day(pipeline)
    edited, rejected = [
        t
        for (t,) in pipeline.sql(
            "select ticket_id from review_queue where status = 'pending_review' order by 1 limit 2"
        )
    ]
    reviews = pipeline.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True)
    (reviews / "batch-1.jsonl").write_text(
        json.dumps(
            {"ticket_id": edited, "decision": "edit", "edited_text": "Your parcel ships today.", "reviewer": "ana"}
        )
        + "\n"
        + json.dumps({"ticket_id": rejected, "decision": "reject", "reviewer": "ana"})
        + "\n"
        + json.dumps({"ticket_id": "T-UNKNOWN", "decision": "maybe"})
        + "\n"
    )

    reviews_sensor = pipeline.defs.resolve_sensor_def("reviews_sensor")
    context = dg.build_sensor_context(cursor=None)
    requests = list(reviews_sensor(context) or [])
    assert [r.partition_key for r in requests] == [DAY_1]
    for request in requests:
        pipeline.run("reviews_job", request.partition_key)
    assert list(reviews_sensor(dg.build_sensor_context(cursor=context.cursor)) or []) == []  # same files: no run

    assert pipeline.sql(f"select status, final_reply, reviewer from ticket_outcomes where ticket_id = '{edited}'") == [
        ("human_edited", "Your parcel ships today.", "ana")
    ]
    assert pipeline.sql(f"select status from review_queue where ticket_id = '{rejected}'") == [("rejected",)]
    sends = pipeline.sql(
        "select ticket_id, json_extract_string(payload, '$.reply') from outbox where action_type = 'send_reply'"
    )
    assert sends == [(edited, "Your parcel ships today.")]  # the rejected reply is never sent
    assert pipeline.count("review_decisions_quarantine") == 1
    sink = [json.loads(line) for line in Path(pipeline.settings.outbox.jsonl_path).read_text().splitlines()]
    assert [a["ticket_id"] for a in sink if a["action_type"] == "send_reply"] == [edited]


def test_marts_report_reply_outcomes_failure_reasons_and_kb_gaps(pipeline: Pipeline):
    pipeline.server.responder = replaced_responder(
        critique=lambda body: {
            "grounded": "refund" not in body["messages"][1]["content"].lower(),
            "policy_ok": True,
            "tone_ok": True,
            "problems": ["Claim not in the excerpts "],
        }
    )
    _run_day(pipeline)
    pipeline.run("marts_job")

    raw = pipeline.count("raw_tickets")
    assert pipeline.sql("select sum(tickets), sum(auto_approved) + sum(sent_to_review) from reply_outcomes_daily") == [
        (raw, raw)
    ]
    assert pipeline.sql("select sum(auto_approved) from reply_outcomes_daily") == [
        (pipeline.count("ticket_outcomes", "status = 'auto_approved'"),)
    ]
    reasons = dict(pipeline.sql("select problem, sum(failed_rounds) from critique_failure_reasons group by 1"))
    assert reasons["claim not in the excerpts"] == pipeline.count("reply_rounds", "verdict = 'fail'")
    gaps = pipeline.sql("select category, tickets, avg_top_score from kb_gaps order by 1")
    assert sum(n for _, n, _ in gaps) == raw
    assert {c for c, _, _ in gaps} == {
        c
        for (c,) in pipeline.sql(
            "select distinct coalesce(category, 'unknown')"
            " from ticket_context left join ticket_triage using (ticket_id, created_date)"
        )
    }


def test_editing_the_critique_prompt_reruns_only_the_critique_calls(pipeline: Pipeline, monkeypatch, tmp_path):
    from ai_assets.llm.task import packaged_prompt

    _run_day(pipeline)
    triage, drafts, critiques = (
        pipeline.calls("ticket_triage"),
        pipeline.calls("reply_draft"),
        pipeline.calls("reply_critique"),
    )
    (tmp_path / "prompts").mkdir()
    edited = packaged_prompt("reply_critique").read_text().replace("[user]", "Be strict about dates.\n\n[user]")
    (tmp_path / "prompts" / "reply_critique.txt").write_text(edited)
    rebuild_with(pipeline, monkeypatch, AI_ASSETS_PROMPTS_DIR=str(tmp_path / "prompts"))
    assert pipeline.calls("reply_critique") == 0  # counted from here on: requests with the edited prompt

    assert stale_status(pipeline, pipeline.defs, "reply_drafts", DAY_1) == "STALE"
    assert stale_status(pipeline, pipeline.defs, "ticket_triage", DAY_1) == "FRESH"
    pipeline.run("daily_tickets_job", DAY_1)
    assert (
        pipeline.calls("ticket_triage") == triage and pipeline.calls("reply_draft") == drafts
    )  # served from the cache
    assert pipeline.calls("reply_critique") == critiques  # every critique again, with the edited prompt


def test_the_same_ticket_id_on_two_days_is_two_tickets(pipeline: Pipeline, monkeypatch):
    """A ticket is (created_date, ticket_id): every table, join, check and action keeps the two apart,
    and a reviewer's decision that names a day decides that day's ticket only."""
    rebuild_with(pipeline, monkeypatch, AI_ASSETS_REPLY_MAX_REFINEMENTS="0")
    pipeline.server.responder = replaced_responder(
        critique=lambda body: {"grounded": False, "policy_ok": True, "tone_ok": True, "problems": ["unsupported"]}
    )
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    ticket_id, subject, body = pipeline.sql(
        "select q.ticket_id, r.subject, r.body from review_queue q join raw_tickets r using (ticket_id, created_date)"
        " where q.status = 'pending_review' order by 1 limit 1"
    )[0]
    record = {"ticket_id": ticket_id, "customer_id": "C-SAME", "created_at": f"{DAY_2}T08:00:00Z"}
    landing = pipeline.settings.landing_dir / "tickets" / DAY_2 / "same-id.jsonl"
    landing.write_text(json.dumps({**record, "channel": "web", "subject": subject, "body": body}) + "\n")
    day_2 = pipeline.run("daily_tickets_job", DAY_2)

    for table in ("raw_tickets", "ticket_triage", "ticket_context", "reply_drafts", "ticket_outcomes", "review_queue"):
        assert pipeline.count(table, f"ticket_id = '{ticket_id}'") == 2, table
    escalations = pipeline.sql(f"select action_id from outbox where ticket_id = '{ticket_id}'")
    assert len(set(escalations)) == len(escalations)
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in day_2.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    contract_checks = {name: passed for name, passed in checks.items() if "freshness" not in name}
    assert len(contract_checks) > 10 and all(contract_checks.values()), checks

    reviews = pipeline.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True, exist_ok=True)
    decision = {"ticket_id": ticket_id, "created_date": DAY_2, "decision": "reject", "reviewer": "ana"}
    (reviews / "day-2.jsonl").write_text(json.dumps(decision) + "\n")
    requests = list(pipeline.defs.resolve_sensor_def("reviews_sensor")(dg.build_sensor_context()) or [])
    assert [r.partition_key for r in requests] == [DAY_2]  # the day the decision names, not every day of the id
    for day in (DAY_1, DAY_2):
        pipeline.run("reviews_job", day)
    statuses = pipeline.sql(
        f"select created_date::varchar, status from ticket_outcomes where ticket_id = '{ticket_id}'"
    )
    assert sorted(statuses) == [(DAY_1, "pending_review"), (DAY_2, "rejected")]
