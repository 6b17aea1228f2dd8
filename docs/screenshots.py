"""Screenshots of the Dagster UI for the docs: the asset graph and the ticket_triage asset page.

    .venv/bin/pip install playwright   # once; it drives the system's Chromium, it downloads none
    .venv/bin/python docs/screenshots.py [--chromium /usr/bin/chromium] [--out docs]

Run it after `make run` (or `ai-assets demo`) so the pages have runs and metadata to show. It starts
`dagster dev` on a free port with the same data directory and DAGSTER_HOME as `ai-assets dev`,
waits for the UI, opens each page in headless Chromium, takes the screenshot, then stops the server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ai_assets.automation.instance import ensure_dagster_home  # noqa: E402
from ai_assets.config import load_settings  # noqa: E402
from ai_assets_tests.dagster_dev import DagsterDev  # noqa: E402

PAGES = {
    "asset-graph.png": "/asset-groups",  # the global asset lineage
    "ticket-triage.png": "/assets/ticket_triage?view=overview",
}


def dismiss_dialog(page) -> None:
    """The UI's first-visit "Join the Dagster community" dialog, when it shows."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.click()
        page.wait_for_timeout(500)


def hide_panels(page) -> None:
    """The navigation and the asset tree beside the graph, so the graph has the page. The groups
    stay folded: one per feature (landing, reference, triage, ..., marts), each with its assets."""
    page.get_by_role("button", name="Hide navigation").click()
    page.locator('[aria-label="panel_show_right"]').first.click()
    page.reload(wait_until="networkidle")  # laid out again for the wider view
    page.wait_for_timeout(3000)
    dismiss_dialog(page)


def take_screenshots(chromium: str, base_url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright  # a tool of this script only, not of the project

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        for name, path in PAGES.items():
            page.goto(base_url + path, wait_until="networkidle")
            page.wait_for_timeout(3000)
            dismiss_dialog(page)
            if name == "asset-graph.png":
                hide_panels(page)
            page.screenshot(path=str(out / name))
            print(f"{out / name}: {path}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    settings = load_settings()
    home = ensure_dagster_home(settings.dagster_home)
    (settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    dev = DagsterDev(settings.data_dir / "logs" / "screenshots_dagster_dev.log", dagster_home=home)
    try:
        take_screenshots(args.chromium, dev.url, args.out)
    finally:
        dev.stop()


if __name__ == "__main__":
    main()
