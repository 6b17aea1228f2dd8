"""Read knowledge-base articles (`landing/kb/*.md`, with a small front-matter header)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import yaml

from ai_assets.quality.tables import KB_ARTICLES, KB_ARTICLES_QUARANTINE
from ai_assets.quality.validate import split_valid

_FENCE = "---"


def _split_front_matter(text: str) -> tuple[dict, str]:
    if not text.startswith(_FENCE):
        return {}, text
    _, header, body = text.split(_FENCE, 2)
    meta = yaml.safe_load(header)
    return (meta if isinstance(meta, dict) else {}), body.strip()


def _article(path: Path, kb_dir: Path) -> dict:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        meta, body = _split_front_matter(text)
    except (ValueError, yaml.YAMLError):
        meta, body = {}, text
    first_heading = next((line[2:].strip() for line in body.splitlines() if line.startswith("# ")), None)
    return {
        "article_id": str(meta.get("article_id") or path.stem),
        "title": str(meta.get("title") or first_heading or ""),
        "category": str(meta.get("category") or "other"),
        "body": body,
        "content_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
        "source_file": path.relative_to(kb_dir.parent).as_posix(),
    }


def read_kb_articles(kb_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (articles, rejected articles with a `reason`)."""
    paths = sorted(kb_dir.glob("*.md")) if kb_dir.is_dir() else []
    frame = pl.DataFrame(
        [_article(path, kb_dir) for path in paths],
        schema={name: pl.Utf8 for name in KB_ARTICLES.column_names},
    )
    valid, rejected = split_valid(frame, KB_ARTICLES.schema)
    return valid, rejected.select(KB_ARTICLES_QUARANTINE.column_names)
