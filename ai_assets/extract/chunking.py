"""Split knowledge-base articles into retrievable chunks: one per section, long sections by size."""

from __future__ import annotations

import hashlib
import re

import polars as pl

from ai_assets.defs.reference.tables import KB_CHUNKS

_HEADING = re.compile(r"^#{2,6}\s+(.*)$")


def _sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) per `##`-or-deeper section; text before the first one goes under ""."""
    sections, heading, lines = [], "", []
    for line in body.splitlines():
        if line.startswith("# "):
            continue  # the article title: it prefixes every chunk anyway
        match = _HEADING.match(line)
        if match:
            sections.append((heading, "\n".join(lines).strip()))
            heading, lines = match.group(1).strip(), []
        else:
            lines.append(line)
    sections.append((heading, "\n".join(lines).strip()))
    return [(h, t) for h, t in sections if t]


def _by_size(text: str, max_chars: int) -> list[str]:
    """Paragraphs packed up to `max_chars`; a paragraph longer than that is cut at word boundaries."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        words, current = paragraph.split(), ""
        for word in words:
            if current and len(current) + 1 + len(word) > max_chars:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 2 + len(piece) <= max_chars:
            packed[-1] = f"{packed[-1]}\n\n{piece}"
        else:
            packed.append(piece)
    return packed


def chunk_articles(articles: pl.DataFrame, max_chars: int) -> pl.DataFrame:
    """One row per chunk of `kb_articles`; `text` is what gets embedded (title and heading included,
    so a chunk stands on its own), `content_hash` identifies it for the embedding cache."""
    rows = []
    for article in articles.sort("article_id").iter_rows(named=True):
        index = 0
        for heading, section in _sections(article["body"]):
            for piece in _by_size(section, max_chars):
                text = f"{article['title']} - {heading}\n{piece}" if heading else f"{article['title']}\n{piece}"
                rows.append(
                    {
                        "chunk_id": f"{article['article_id']}#{index}",
                        "article_id": article["article_id"],
                        "chunk_index": index,
                        "category": article["category"],
                        "title": article["title"],
                        "heading": heading,
                        "text": text,
                        "content_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
                    }
                )
                index += 1
    return pl.DataFrame(rows, schema=KB_CHUNKS.polars_schema)
