"""`python -m ai_assets.sample_data`: write the sample data set and summarise it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ai_assets.config import ProjectSettings
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets.settings import environment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ai_assets.sample_data", description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ProjectSettings.from_env(environment()).data_dir,
        help="where to write (default: $AI_ASSETS_DATA_DIR or ./data)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tickets-per-day", type=int, default=150)
    parser.add_argument("--reviews-per-day", type=int, default=30, help="product reviews (ai_assets/defs/reviews/)")
    args = parser.parse_args(argv)

    summary = generate_sample_data(
        args.data_dir,
        seed=args.seed,
        days=args.days,
        tickets_per_day=args.tickets_per_day,
        reviews_per_day=args.reviews_per_day,
    )
    bad = sum(sum(e.bad.values()) for e in summary.expectations.values())
    valid = sum(e.valid_unique for e in summary.expectations.values())
    print(
        f"Wrote {len(summary.days)} days of landing tickets ({summary.days[0]} to {summary.days[-1]}) "
        f"to {args.data_dir.resolve()}: {summary.tickets_written} records, of which {valid} distinct "
        f"valid tickets and {bad} deliberately bad ones (every bad and hostile kind appears on "
        f"{summary.days[0]}), plus {summary.customers} customers, {summary.kb_articles} KB articles "
        f"and {summary.golden_tickets} golden and {summary.handwritten_tickets} hand-written labelled tickets "
        f"(seed {args.seed}). Expected per-day outcomes "
        f"are in eval/landing_expectations.json, true labels in eval/ticket_labels.jsonl."
    )


if __name__ == "__main__":
    main()
