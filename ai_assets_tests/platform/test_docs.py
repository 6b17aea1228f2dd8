"""The docs keep up with the code: every setting documented, the README short, every link alive."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s#]+\.md|#)(#[^)\s]*)?\)")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {"#" + re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_setting_is_documented():
    owners = ["config.py", "resources.py", "load/resources.py", "warehouse/resource.py", "cluster/celery.py"]
    text = "".join((REPO / "ai_assets" / owner).read_text() for owner in owners)
    names = set(re.findall(r'"((?:AI_ASSETS|OPENAI)_[A-Z0-9_]+)"', text))
    documented = (REPO / "docs/settings.md").read_text()
    assert names and {n for n in names if f"`{n}`" not in documented} == set()


def test_the_readme_is_a_front_door_and_every_link_resolves():
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) < 200
    for page in [readme, *sorted((REPO / "docs").glob("*.md"))]:
        for target, anchor in LINK.findall(page.read_text()):
            linked = page if target == "#" else (page.parent / target).resolve()
            assert linked.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in _anchors(linked.read_text()), f"{page.name}: {target}{anchor}"
