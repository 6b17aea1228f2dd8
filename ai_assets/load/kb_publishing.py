"""Publish approved knowledge-base article proposals: copy each one's draft file into `landing/kb/`.

A copy appears whole (written beside the folder, then linked in under its name, which fails rather
than replace an existing file), exactly once (a proposal whose article is already there writes
nothing), and only as checked (the draft's text must still have the hash the proposal recorded).
An article id another article already has is refused, never overwritten. Plain Python, no Dagster.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from ai_assets.defs.kb_updates.tables import KB_PUBLICATIONS
from ai_assets.quality.article_files import ArticleFile, article_files, content_hash

# What a publication row repeats of its proposal.
_FROM_PROPOSAL = ("proposal_id", "article_id", "category", "reviewer", "decided_at")


def _taken_by(article: ArticleFile) -> str:
    origin = f"published from proposal {article.proposal_id}" if article.proposal_id else "hand-written"
    return f"{article.path.name}, {origin}"


def _copy_in(text: str, target: Path) -> None:
    """Writes `text` to `target` atomically; FileExistsError if `target` exists (even one created meanwhile)."""
    # Beside the kb folder, not in it: a reader of landing/kb must never see the partial file.
    handle, partial = tempfile.mkstemp(prefix=".kb-publishing-", dir=target.parent.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.link(partial, target)
    finally:
        os.unlink(partial)


def _publish(proposal: dict, data_dir: Path, kb_dir: Path, existing: list[ArticleFile]) -> tuple[str | None, bool]:
    """(why it is refused, or None; whether it was written now)."""
    if any(f.proposal_id == proposal["proposal_id"] for f in existing):
        return None, False
    taken = next((f for f in existing if f.article_id == proposal["article_id"]), None)
    if taken is not None:
        return (
            f"article id {proposal['article_id']} is taken by landing/kb/{_taken_by(taken)}: reject this proposal "
            "(landing/kb_reviews/), or give that article another id"
        ), False
    draft = data_dir / proposal["draft_file"]
    text = draft.read_text(encoding="utf-8") if draft.exists() else None
    if text is None or content_hash(text) != proposal["content_hash"]:
        return (
            f"{proposal['draft_file']} is missing or changed since it was checked: materialise kb_article_proposals "
            "again (it rewrites the draft), then approve the proposal it makes"
        ), False
    kb_dir.mkdir(parents=True, exist_ok=True)
    try:
        _copy_in(text, kb_dir / f"{proposal['article_id']}.md")
    except FileExistsError:
        return f"landing/kb/{proposal['article_id']}.md exists: reject this proposal, or move that file", False
    return None, True


def publish_approved(proposals: pl.DataFrame, data_dir: Path, kb_dir: Path) -> pl.DataFrame:
    """One row per approved (or already published) proposal: published (now, or before), or refused with
    the reason. Nothing else is ever written to `kb_dir`."""
    existing = article_files(kb_dir)
    rows = []
    for proposal in proposals.filter(pl.col("status").is_in(["approved", "published"])).iter_rows(named=True):
        found = any(f.proposal_id == proposal["proposal_id"] for f in existing)
        if proposal["status"] == "published" and not found:
            continue  # its article was removed by hand since: never published again behind anyone's back
        reason, now = _publish(proposal, data_dir, kb_dir, existing)
        if now:
            existing = article_files(kb_dir)
        rows.append(
            {
                **{name: proposal[name] for name in _FROM_PROPOSAL},
                "status": "refused" if reason else "published",
                "reason": reason,
                "source_file": f"kb/{proposal['article_id']}.md",
                "published_now": now,
            }
        )
    return pl.DataFrame(rows, schema=KB_PUBLICATIONS.polars_schema)
