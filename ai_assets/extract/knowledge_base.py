"""Read knowledge-base articles (`landing/kb/*.md`, with a small front-matter header).

An article is one file: a file that is not UTF-8, or whose front matter cannot be read, is one
rejected row with the reason, as is every entry of the folder that is not a `.md` file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import yaml

from ai_assets.defs.reference.tables import KB_ARTICLES, KB_ARTICLES_QUARANTINE
from ai_assets.extract.landing import FileRule, not_utf8, scan_folder, unreadable
from ai_assets.quality.article_files import UnclosedFrontMatter, split_front_matter
from ai_assets.quality.validate import split_valid

KB_FILES = FileRule((".md",), gzip=False, expected="knowledge-base articles are .md files, in any letter case")


class ArticleError(ValueError):
    """Why a file cannot be read as an article."""


def _split_front_matter(text: str) -> tuple[dict, str]:
    try:
        yaml_text, body = split_front_matter(text)
    except UnclosedFrontMatter as error:
        raise ArticleError(str(error)) from None
    if yaml_text is None:
        return {}, text
    try:
        meta = yaml.safe_load(yaml_text)
    except yaml.YAMLError as error:
        raise ArticleError(f"front matter is not valid YAML: {str(error)[:200]}") from None
    except Exception as error:  # e.g. RecursionError
        raise ArticleError(f"front matter {unreadable(error)}") from None
    if meta is not None and not isinstance(meta, dict):
        raise ArticleError(f"front matter must be `key: value` lines, got {type(meta).__name__}")
    return meta or {}, body.strip()


def _article(path: Path, kb_dir: Path) -> dict:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ArticleError(not_utf8(error)) from None
    meta, body = _split_front_matter(text)
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
    """Returns (articles, rejected files with a `reason`)."""
    folder = scan_folder(kb_dir, KB_FILES)
    articles, unread = [], []
    for path in folder.files:
        try:
            articles.append(_article(path, kb_dir))
        except ArticleError as error:
            unread.append((path, str(error)))
        except OSError as error:
            unread.append((path, f"cannot be read: {error.strerror or error}"))
        except Exception as error:  # whatever breaks one article costs that article only
            unread.append((path, f"article {unreadable(error)}"))
    unread += [(s.path, s.reason) for s in folder.skipped]
    frame = pl.DataFrame(articles, schema={name: pl.Utf8 for name in KB_ARTICLES.column_names})
    valid, rejected = split_valid(frame, KB_ARTICLES.schema)
    unreadable_files = pl.DataFrame(
        [{"source_file": p.relative_to(kb_dir.parent).as_posix(), "reason": reason} for p, reason in unread],
        schema={"source_file": pl.Utf8, "reason": pl.Utf8},
    )
    rejects = pl.concat([rejected, unreadable_files], how="diagonal_relaxed")
    return valid, rejects.select(KB_ARTICLES_QUARANTINE.column_names).sort("source_file")
