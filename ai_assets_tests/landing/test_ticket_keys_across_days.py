"""A ticket is (created_date, ticket_id), also inside one run over several days (a backfill group):
the same id for two customers on two days never mixes one customer's data into the other's rows."""

from __future__ import annotations

import json

from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline

DUP = "T-DUP"
A, B = "C-DUP-A", "C-DUP-B"
B_EARLIER = {"T-B-OLD-1": "Bravo invoice 7731 twice", "T-B-OLD-2": "Bravo password reset loop"}


def _land(pipeline: Pipeline, day: str, name: str, records: list[dict]) -> None:
    folder = pipeline.settings.landing_dir / "tickets" / day
    lines = [json.dumps({"channel": "web", **r}) for r in records]
    (folder / name).write_text("\n".join(lines) + "\n")


def test_the_same_id_for_two_customers_on_two_days_in_one_run(pipeline: Pipeline):
    # The body refers to earlier contact, so the model asks for the customer's history.
    body = "I wrote before about this and nothing happened. Please check again."
    _land(
        pipeline,
        DAY_1,
        "dup.jsonl",
        [
            {
                "ticket_id": DUP,
                "customer_id": A,
                "created_at": f"{DAY_1}T09:00:00Z",
                "subject": "Alpha help",
                "body": body,
            },
            *(
                {"ticket_id": t, "customer_id": B, "created_at": f"{DAY_1}T0{n}:00:00Z", "subject": s, "body": "x"}
                for n, (t, s) in enumerate(B_EARLIER.items(), 1)
            ),
        ],
    )
    _land(
        pipeline,
        DAY_2,
        "dup.jsonl",
        [
            {
                "ticket_id": DUP,
                "customer_id": B,
                "created_at": f"{DAY_2}T09:00:00Z",
                "subject": "Bravo help",
                "body": body,
            }
        ],
    )
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", days=(DAY_1, DAY_2))  # one run, both days

    def per_day(query: str) -> dict[str, tuple]:
        rows = pipeline.sql(query.format(where=f"ticket_id = '{DUP}'"))
        assert len(rows) == 2, (query, rows)
        return {str(day): tuple(rest) for day, *rest in rows}

    # ticket_context: each row is its own customer's memory.
    context = per_day(
        "select created_date, customer_id, [h.ticket_id for h in history] from ticket_context where {where}"
    )
    assert context == {DAY_1: (A, []), DAY_2: (B, sorted(B_EARLIER, reverse=True))}

    # tool_calls: A's customer_history call answered with A's history (none), B's with B's.
    calls = per_day(
        "select created_date, result from tool_calls where {where} and tool = 'customer_history' and status = 'ok'"
    )
    assert json.loads(calls[DAY_1][0]) == {"earlier_tickets": []}
    assert {t["ticket_id"] for t in json.loads(calls[DAY_2][0])["earlier_tickets"]} == set(B_EARLIER)
    # ... and the facts the replies are written from.
    facts = per_day("select created_date, facts from ticket_investigations where {where}")
    assert "Earlier tickets of this customer: 0." in facts[DAY_1][0]
    assert "Earlier tickets of this customer: 2 " in facts[DAY_2][0]

    # Nothing of B reaches a row of A's ticket downstream: drafts, the queue, outcomes, the outbox.
    b_words = [*B_EARLIER, *B_EARLIER.values(), "Bravo"]
    drafts = per_day("select created_date, coalesce(reply, '') from reply_drafts where {where}")
    assert not [w for w in b_words if w in drafts[DAY_1][0]], drafts
    outcomes = per_day("select created_date, customer_id, coalesce(final_reply, '') from ticket_outcomes where {where}")
    assert outcomes[DAY_1][0] == A and outcomes[DAY_2][0] == B
    assert not [w for w in b_words if w in outcomes[DAY_1][1]], outcomes
    queue = pipeline.sql(f"select created_date::varchar, subject from review_queue where ticket_id = '{DUP}'")
    for day, subject in queue:
        assert subject == {DAY_1: "Alpha help", DAY_2: "Bravo help"}[day]
    actions = pipeline.sql(f"select created_date::varchar, payload from outbox where ticket_id = '{DUP}'")
    # Each day's ticket went to a reviewer or has an action (a reply sent without one).
    assert {day for day, _ in queue + actions} == {DAY_1, DAY_2}
    for day, payload in actions:
        assert json.loads(payload)["customer_id"] == {DAY_1: A, DAY_2: B}[day]
        if day == DAY_1:
            assert not [w for w in b_words if w in payload], payload

    # A reviewer's decision without its day cannot tell the two tickets apart: it decides neither,
    # and its edited text reaches no one.
    reviews = pipeline.settings.landing_dir / "reviews"
    reviews.mkdir(parents=True, exist_ok=True)
    edited = "Alpha, your refund is on its way."
    (reviews / "undated.jsonl").write_text(
        json.dumps(
            {"ticket_id": DUP, "decision": "edit", "edited_text": edited, "reviewer": "ana", "category": "billing"}
        )
        + "\n"
    )
    for day in (DAY_1, DAY_2):
        pipeline.run("reviews_job", day)
    statuses = pipeline.sql(f"select status, coalesce(final_reply, '') from ticket_outcomes where ticket_id = '{DUP}'")
    assert len(statuses) == 2 and all(s != "human_edited" and edited not in reply for s, reply in statuses), statuses
    assert pipeline.count("outbox", f"payload like '%{edited}%'") == 0
    # Nor does its correction label either ticket: it waits in quarantine for its day.
    pipeline.run("reference_data_job")
    assert pipeline.count("ticket_labels", f"ticket_id = '{DUP}' and source = 'review'") == 0
    (reason,) = pipeline.sql(f"select reason from ticket_labels_quarantine where ticket_id = '{DUP}'")[0]
    assert "an id on several days: add its created_date" in reason
