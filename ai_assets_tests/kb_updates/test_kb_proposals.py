"""Knowledge-base updates: an article drafted for each category kb_gaps flags, from the replies reviewers
approved or edited, approved by a decision file, published into landing/kb/, embedded (its chunks only),
and the gap it was written for closes. Real Dagster runs, real dbt, the fake LLM server on loopback."""

from __future__ import annotations

import json
import re

import dagster as dg

from ai_assets.defs.kb_updates.proposals import MAX_TICKETS
from ai_assets.llm.task import PromptTemplate
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.llm_server import default_responder
from ai_assets_tests.pipeline_tools import CRITIQUE_SYSTEM

ARTICLE_SYSTEM = PromptTemplate.load("kb_article").system
MONEY = r"(?i)refund|discount|credit|voucher|\$|€|£"


def _responder(answer=default_responder):
    """`answer`, but the critic fails every reply: they all go to a human; and each reply names the
    ticket's subject, as a real model's does, so an article written from the replies a reviewer
    approved shares the tickets' words."""

    def respond(body: dict) -> str:
        if body["messages"][0]["content"] == CRITIQUE_SYSTEM:
            return json.dumps({"grounded": False, "policy_ok": True, "tone_ok": True, "problems": ["unsupported"]})
        content = answer(body)
        subject = re.search(r"^Subject: (.+)$", body["messages"][-1]["content"], flags=re.MULTILINE)
        draft = json.loads(content) if subject and content.startswith("{") else {}
        if "reply" not in draft:
            return content
        return json.dumps(draft | {"reply": f'About "{subject.group(1)[:60]}": {draft["reply"]}'})

    return respond


def _article_responder(article):
    """The fake model, with each article draft replaced by `article(request, default answer)`."""

    def respond(body: dict) -> str:
        if body["messages"][0]["content"] == ARTICLE_SYSTEM:
            return json.dumps(article(body, json.loads(default_responder(body))))
        return default_responder(body)

    return respond


def _write(pipeline: Pipeline, folder: str, name: str, records: list[dict]) -> None:
    path = pipeline.settings.landing_dir / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _gap(pipeline: Pipeline, category: str) -> tuple[float, float]:
    return pipeline.sql(f"select avg_top_score, poorly_covered_share from kb_gaps where category = '{category}'")[0]


def _day_with_reviewed_replies(pipeline: Pipeline, *categories: str) -> None:
    """A day whose replies all go to review; a reviewer approves or edits the replies of `categories`'
    tickets, but not one about money (an article may not promise a refund, discount or amount)."""
    pipeline.server.responder = _responder(pipeline.server.responder)
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)
    listed = ", ".join(f"'{c}'" for c in categories)
    tickets = pipeline.sql(
        "select ticket_id from ticket_triage join raw_tickets using (ticket_id, created_date)"
        f" where category in ({listed}) and not regexp_matches(body, '{MONEY}') order by 1"
    )
    edit = {"decision": "edit", "edited_text": "Parcels ship within one business day; tracking updates a day after."}
    decisions = [
        {"ticket_id": t, "created_date": DAY_1, "reviewer": "ana", **({"decision": "approve"} if i % 2 else edit)}
        for i, (t,) in enumerate(tickets)
    ]
    _write(pipeline, "reviews", "replies.jsonl", decisions)
    pipeline.run("reviews_job", DAY_1)
    pipeline.run("marts_job")


def _proposal(pipeline: Pipeline, category: str) -> dict:
    with pipeline.settings.warehouse.lake.connect(read_only=True) as conn:
        return conn.execute("select * from kb_article_proposals where category = ?", [category]).pl().to_dicts()[0]


def _kb_files(pipeline: Pipeline) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (pipeline.settings.landing_dir / "kb").iterdir()}


def test_an_approved_proposal_is_published_embedded_alone_and_closes_its_gap(pipeline: Pipeline):
    _day_with_reviewed_replies(pipeline, "shipping")
    before = _gap(pipeline, "shipping")
    assert pipeline.sql("select is_gap from kb_gaps where category = 'shipping'") == [(True,)]
    flagged = pipeline.count("kb_gaps", "is_gap")
    hand_written = _kb_files(pipeline)

    pipeline.run("kb_updates_job")
    proposal = _proposal(pipeline, "shipping")
    assert proposal["status"] == "proposed" and proposal["problems"] == [] and proposal["model"] == "fake-model"
    # Written from the poorly covered tickets whose reply a reviewer approved or edited, and citing them.
    approved = {
        f"{d}/{t}"
        for d, t in pipeline.sql(
            "select created_date, ticket_id from ticket_outcomes o join ticket_triage using (ticket_id, created_date)"
            " where ticket_triage.category = 'shipping' and o.status in ('human_approved', 'human_edited')"
        )
    }
    assert proposal["cited_ticket_ids"] and set(proposal["cited_ticket_ids"]) <= approved
    assert len(proposal["cited_ticket_ids"]) == min(len(approved), MAX_TICKETS)
    # Every other flagged category had nothing approved: a row saying so, and no LLM call.
    assert pipeline.calls("kb_article") == 1
    assert pipeline.count("kb_article_proposals", "status = 'needs_material' and reason is not null") == flagged - 1
    # The draft is an article file, in the format of landing/kb; nothing is published without approval.
    draft = pipeline.settings.data_dir / proposal["draft_file"]
    assert draft.read_text().startswith(f"---\narticle_id: {proposal['article_id']}\ntitle: ")
    assert _kb_files(pipeline) == hand_written
    pipeline.run("kb_updates_job")  # nothing changed: no LLM call, the same proposal
    assert pipeline.calls("kb_article") == 1 and _proposal(pipeline, "shipping")["cache_hit"]

    _approve(pipeline, proposal)
    pipeline.run("kb_updates_job")
    article = pipeline.settings.landing_dir / "kb" / f"{proposal['article_id']}.md"
    assert article.read_text() == draft.read_text()  # publishing is a copy of the checked draft
    assert pipeline.sql("select status, published_now from kb_publications") == [("published", True)]
    published = _kb_files(pipeline)
    pipeline.run("kb_updates_job")  # publishing twice writes nothing
    assert _kb_files(pipeline) == published
    assert pipeline.sql("select status, published_now from kb_publications") == [("published", False)]
    assert _proposal(pipeline, "shipping")["status"] == "published"
    assert pipeline.calls("kb_article") == 1

    chunks_before = pipeline.count("kb_embeddings")
    sent = len(pipeline.server.embedding_requests)
    reference = pipeline.run("reference_data_job")
    embedded = [text for body in pipeline.server.embedding_requests[sent:] for text in body["input"]]
    new_chunks = [
        t for (t,) in pipeline.sql(f"select text from kb_chunks where article_id = '{proposal['article_id']}'")
    ]
    assert new_chunks and sorted(embedded) == sorted(new_chunks)  # only the new article's chunks
    stats = reference.asset_materializations_for_node("kb_embeddings")[0].metadata
    assert stats["cache_hits"].value == chunks_before  # every old chunk from the cache
    assert pipeline.count("kb_embeddings") == chunks_before + len(new_chunks)

    pipeline.run("daily_tickets_job", DAY_1)
    pipeline.run("marts_job")
    after = _gap(pipeline, "shipping")
    print(f"shipping (avg_top_score, poorly_covered_share): before {before}, after {after}")
    assert after[0] > before[0] and after[1] < before[1]

    article.unlink()  # removed by hand (or, with a landing bucket, from the bucket): never published again
    pipeline.run("kb_updates_job")
    assert not article.exists() and _proposal(pipeline, "shipping")["status"] == "published"


def test_rejected_or_rule_breaking_proposals_never_publish(pipeline: Pipeline):
    def phishing_in_shipping(body: dict, answer: dict) -> dict:
        if "Category: shipping" in body["messages"][-1]["content"]:
            answer["body"] += "\n\n## Faster help\nSend us your password and visit www.example-help.com."
        return answer

    pipeline.server.responder = _article_responder(phishing_in_shipping)
    _day_with_reviewed_replies(pipeline, "shipping", "other")
    pipeline.run("kb_updates_job")
    blocked, other = _proposal(pipeline, "shipping"), _proposal(pipeline, "other")
    assert blocked["status"] == "blocked" and other["status"] == "proposed"
    assert set(blocked["problems"]) == {"asks for a password", "contains a link"}
    assert "asks for a password" in blocked["reason"]

    _write(
        pipeline,
        "kb_reviews",
        "proposals.jsonl",
        [
            {"proposal_id": blocked["proposal_id"], "decision": "approve", "reviewer": "lee"},
            {"proposal_id": other["proposal_id"], "decision": "approve", "reviewer": "lee"},
            {
                "proposal_id": other["proposal_id"],
                "decision": "reject",
                "reviewer": "kim",
                "decided_at": "2099-01-01T00:00:00",
            },
            {"proposal_id": other["proposal_id"], "decision": "publish", "reviewer": "kim"},
            {"proposal_id": other["proposal_id"], "decision": "approve"},
        ],
    )
    (pipeline.settings.landing_dir / "kb_reviews" / "notes.txt").write_text("approve everything")
    hand_written = _kb_files(pipeline)
    sensor = pipeline.defs.resolve_sensor_def("kb_reviews_sensor")
    context = dg.build_sensor_context(cursor=None)
    assert [r.run_key.split(":")[0] for r in sensor(context) or []] == ["kb_reviews"]  # one kb_updates_job run
    assert list(sensor(dg.build_sensor_context(cursor=context.cursor)) or []) == []  # same files: no run
    pipeline.run("kb_updates_job")
    assert _kb_files(pipeline) == hand_written  # neither the blocked nor the rejected one is published
    assert pipeline.count("kb_publications") == 0
    assert _proposal(pipeline, "shipping")["status"] == "blocked"  # an approval does not unblock it
    rejected = _proposal(pipeline, "other")
    assert rejected["status"] == "rejected" and rejected["reason"].startswith("rejected by kim")
    quarantined = pipeline.sql(
        "select source_file, source_line, reason from kb_review_decisions_quarantine order by 1, 2"
    )
    assert [(f, n) for f, n, _ in quarantined] == [("notes.txt", 0), ("proposals.jsonl", 4), ("proposals.jsonl", 5)]
    assert "decision" in quarantined[1][2] and "reviewer is missing" in quarantined[2][2]


def _approve(pipeline: Pipeline, proposal: dict) -> None:
    _write(
        pipeline,
        "kb_reviews",
        "proposals.jsonl",
        [{"proposal_id": proposal["proposal_id"], "decision": "approve", "reviewer": "lee"}],
    )


def test_a_title_with_fences_colons_and_line_breaks_survives_publishing_and_reading(pipeline: Pipeline):
    # The model's title, as an attacker or a careless model writes it; the title rule puts it on one line.
    title = "Shipping FAQ --- read this first\n---\ncategory: billing\nproposal_id: p-other"
    pipeline.server.responder = _article_responder(lambda body, answer: answer | {"title": title})
    _day_with_reviewed_replies(pipeline, "shipping")
    pipeline.run("kb_updates_job")
    proposal = _proposal(pipeline, "shipping")
    assert proposal["title"] == " ".join(title.split())
    _approve(pipeline, proposal)
    pipeline.run("kb_updates_job")
    published = _kb_files(pipeline)
    pipeline.run("kb_updates_job")  # the next pass knows the file as this proposal's own
    assert _kb_files(pipeline) == published
    assert pipeline.sql("select status, reason, published_now from kb_publications") == [("published", None, False)]
    assert _proposal(pipeline, "shipping")["status"] == "published"

    pipeline.run("reference_data_job")
    [(read_title, category, body)] = pipeline.sql(
        f"select title, category, body from kb_articles where article_id = '{proposal['article_id']}'"
    )
    assert (read_title, category) == (proposal["title"], "shipping")
    assert body.startswith(f"# {proposal['title']}\n") and "cited_tickets" not in body  # no front matter in it
