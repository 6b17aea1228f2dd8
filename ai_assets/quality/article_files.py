"""The knowledge-base article file: YAML front matter between `---` lines, then markdown.

One format for the files in `landing/kb/` (read by `extract/knowledge_base.py`), the proposal drafts
in `kb_proposals/` (written by `transform/kb_proposals.py`) and publishing (`load/kb_publishing.py`),
so that publishing a draft is a copy of its file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

FENCE = "---"


def render_article(front_matter: dict, title: str, body: str) -> str:
    """An article file: the front matter (`article_id`, `title`, `category`, then any other keys), the
    title as its `# ` heading, and the body."""
    meta = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"{FENCE}\n{meta}{FENCE}\n# {title}\n\n{body.strip()}\n"


def content_hash(text: str) -> str:
    """Identifies a file's exact text: publishing copies a draft only if it is the text that was checked."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def front_matter(text: str) -> dict:
    """The front matter's keys, or {} when there is none or it cannot be read (the reader of
    `landing/kb` says why such a file is rejected; here it is just not a proposal's)."""
    parts = text.split(FENCE, 2) if text.startswith(FENCE) else []
    try:
        meta = yaml.safe_load(parts[1]) if len(parts) == 3 else None
    except Exception:  # any YAML problem: no usable front matter
        return {}
    return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class ArticleFile:
    path: Path
    article_id: str
    proposal_id: str | None  # set on articles published from a proposal


def article_files(kb_dir: Path) -> list[ArticleFile]:
    """Every `.md` file of the knowledge-base folder (any letter case), with its article id (the front
    matter's, else the file name's, as the reader takes it) and the proposal it was published from."""
    files = []
    for path in sorted(kb_dir.glob("*")) if kb_dir.is_dir() else []:
        if path.suffix.lower() != ".md" or not path.is_file():
            continue
        meta = front_matter(path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace"))
        proposal = meta.get("proposal_id")
        files.append(ArticleFile(path, str(meta.get("article_id") or path.stem), proposal and str(proposal)))
    return files
