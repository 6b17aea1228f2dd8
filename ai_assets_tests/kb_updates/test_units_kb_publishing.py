"""Publishing approved article proposals into landing/kb/: once, only as checked, never over an article."""

from __future__ import annotations

import polars as pl
import pytest

from ai_assets.defs.kb_updates.proposals import draft_text
from ai_assets.defs.kb_updates.tables import KB_ARTICLE_PROPOSALS
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.load.kb_publishing import publish_approved
from ai_assets.quality.article_files import article_files, content_hash


def _proposal(
    data_dir, article_id: str, status: str = "approved", title: str = "Changing: the delivery address", **overrides
) -> dict:
    row = {
        "proposal_id": f"p-{article_id}",
        "category": "shipping",
        "article_id": article_id,
        "title": title,
        "body": "## Can I change the address?\nYes, until the parcel ships.",
        "cited_ticket_ids": ["2026-11-01/T-1"],
        "status": status,
        "reviewer": "lee",
    }
    text = draft_text(row)
    (data_dir / "kb_proposals").mkdir(parents=True, exist_ok=True)
    (data_dir / "kb_proposals" / f"{row['proposal_id']}.md").write_text(text)
    return {
        **row,
        "draft_file": f"kb_proposals/{row['proposal_id']}.md",
        "content_hash": content_hash(text),
        **overrides,
    }


def _frame(*rows: dict) -> pl.DataFrame:
    schema = KB_ARTICLE_PROPOSALS.polars_schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def test_an_approved_draft_is_copied_once_and_reads_as_an_article(tmp_path):
    kb = tmp_path / "landing" / "kb"
    approved = _proposal(tmp_path, "kb-shipping-address-change")
    undecided = _proposal(tmp_path, "kb-shipping-undecided", status="proposed")

    first = publish_approved(_frame(approved, undecided), tmp_path, kb)
    assert first.select("status", "published_now").rows() == [("published", True)]
    published = kb / "kb-shipping-address-change.md"
    assert published.read_text() == (tmp_path / approved["draft_file"]).read_text()
    assert sorted(p.name for p in kb.iterdir()) == [published.name]  # no partial file, nothing undecided
    articles, rejects = read_kb_articles(kb)
    assert rejects.is_empty()
    assert articles.select("article_id", "title", "category").rows() == [
        ("kb-shipping-address-change", "Changing: the delivery address", "shipping")
    ]

    mtime = published.stat().st_mtime_ns
    again = publish_approved(_frame(approved), tmp_path, kb)
    assert again.select("status", "published_now").rows() == [("published", False)]
    assert published.stat().st_mtime_ns == mtime


def test_a_taken_article_id_or_a_changed_draft_is_refused_never_overwritten(tmp_path):
    kb = tmp_path / "landing" / "kb"
    kb.mkdir(parents=True)
    hand_written = kb / "tracking.md"
    hand_written.write_text("---\narticle_id: kb-shipping-tracking\ntitle: Tracking\ncategory: shipping\n---\nHi.\n")
    colliding = _proposal(tmp_path, "kb-shipping-tracking")
    edited = _proposal(tmp_path, "kb-shipping-edited")
    (tmp_path / edited["draft_file"]).write_text(draft_text(edited) + "\nVisit www.example.com\n")

    result = publish_approved(_frame(colliding, edited), tmp_path, kb)
    reasons = dict(result.select("article_id", "reason").rows())
    assert result["status"].to_list() == ["refused", "refused"]
    assert "taken by landing/kb/tracking.md, hand-written" in reasons["kb-shipping-tracking"]
    assert "changed since it was checked" in reasons["kb-shipping-edited"]
    assert sorted(p.name for p in kb.iterdir()) == ["tracking.md"]
    assert hand_written.read_text().endswith("Hi.\n")


TITLES = [
    "Shipping FAQ --- read this first",
    "---",
    "Returns: what to send back: and when",
    "Refunds\n---\ncategory: billing\nproposal_id: p-someone-else",
    "Two lines\r\n---\r\n...\n# and a heading",
]


@pytest.mark.parametrize("title", TITLES)
def test_any_title_survives_publishing_reading_and_the_next_publishing_pass(tmp_path, title):
    kb = tmp_path / "landing" / "kb"
    approved = _proposal(tmp_path, "kb-shipping-faq", title=title)

    first = publish_approved(_frame(approved), tmp_path, kb)
    assert first.select("status", "reason", "published_now").rows() == [("published", None, True)]
    # The knowledge-base reader: the whole title, the proposal's category, no front matter in the body.
    articles, rejects = read_kb_articles(kb)
    assert rejects.is_empty()
    assert articles.select("article_id", "title", "category").rows() == [("kb-shipping-faq", title, "shipping")]
    body = articles["body"][0]
    assert "2026-11-01/T-1" not in body and "cited_tickets" not in body and body.endswith("until the parcel ships.")
    # The next publishing pass knows the file as this proposal's: nothing written, nothing refused.
    assert [(f.article_id, f.proposal_id) for f in article_files(kb)] == [("kb-shipping-faq", "p-kb-shipping-faq")]
    again = publish_approved(_frame(approved), tmp_path, kb)
    assert again.select("status", "reason", "published_now").rows() == [("published", None, False)]
    assert [p.name for p in kb.iterdir()] == ["kb-shipping-faq.md"]
