"""The knowledge-base article file: YAML front matter between `---` lines, then markdown.

One format for the files in `landing/kb/` (read by `extract/knowledge_base.py`), the proposal drafts
in `kb_proposals/` (written by `defs/kb_updates/proposals.py`) and publishing (`load/kb_publishing.py`),
so that publishing a draft is a copy of its file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

FENCE = "---"
# A fence is a line of its own (editors may leave trailing spaces or a CR): a `---` inside a title or
# a body is text. Only `\n` ends a line here, as in YAML's own output for these files.
_FENCE_LINE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)


class UnclosedFrontMatter(ValueError):
    """The file opens with a `---` line and no `---` line closes it."""


def render_article(front_matter: dict, title: str, body: str) -> str:
    """An article file: the front matter (`article_id`, `title`, `category`, then any other keys), the
    title as its `# ` heading, and the body.

    The front matter is YAML from `yaml.safe_dump`, which quotes and indents any value so that no line
    of it is a fence: every title reads back as written. The heading is the title on one line."""
    meta = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    heading = " ".join(title.split())
    return f"{FENCE}\n{meta}{FENCE}\n# {heading}\n\n{body.strip()}\n"


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(the front matter's YAML text, the rest of the file): the front matter runs from a first line
    that is `---` to the next line that is `---`. (None, text) when the first line is not `---`;
    `UnclosedFrontMatter` when no line closes it."""
    first, _, rest = text.partition("\n")
    if not _FENCE_LINE.fullmatch(first):
        return None, text
    closing = _FENCE_LINE.search(rest)
    if closing is None:
        raise UnclosedFrontMatter(f"front matter opened with {FENCE} on the first line is never closed")
    return rest[: closing.start()], rest[closing.end() :]


def content_hash(text: str) -> str:
    """Identifies a file's exact text: publishing copies a draft only if it is the text that was checked."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def front_matter(text: str) -> dict:
    """The front matter's keys, or {} when there is none or it cannot be read (the reader of
    `landing/kb` says why such a file is rejected; here it is just not a proposal's)."""
    try:
        meta = yaml.safe_load(split_front_matter(text)[0] or "")
    except Exception:  # unclosed, or any YAML problem: no usable front matter
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
