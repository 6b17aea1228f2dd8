"""Sample product reviews: the second domain of the demo, declared in ai_assets/defs/reviews/ as a
LandingTable (landing/product_reviews/YYYY-MM-DD/reviews.jsonl) and an LLMStep, with no Python.

A day's file holds `per_day` reviews of the catalog's products and, like the ticket files, a few
records the landing table must quarantine: a rating out of range, a repeated review id, a broken line.
"""

from __future__ import annotations

import json
from datetime import date
from random import Random

from ai_assets.sample_data.catalog import PRODUCTS

# (rating, words): what a customer writes with that many stars.
REVIEW_TEXTS = (
    (5, "Exactly what I hoped for. Well made and it arrived early."),
    (5, "Second one I bought, as a gift this time. Still love it."),
    (4, "Does the job well; the manual could be clearer."),
    (4, "Good value. A little smaller than the photos suggest."),
    (3, "It's fine. Nothing special, nothing wrong."),
    (3, "Works, but the box was dented and one part was loose."),
    (2, "Stopped working properly after two weeks of daily use."),
    (2, "Looks nice, but it is much louder than described."),
    (1, "Arrived broken and support took a week to answer."),
    (1, "Returned it. Cheap materials for this price."),
)


def review_lines(seed: int, day: date, per_day: int) -> list[str]:
    """The JSONL lines of one day's export, in order: valid reviews, then the records to quarantine."""
    rng = Random(f"{seed}:reviews:{day.isoformat()}")
    reviews = []
    for number in range(1, per_day + 1):
        rating, text = rng.choice(REVIEW_TEXTS)
        reviews.append(
            {
                "review_id": f"PR-{day:%Y%m%d}-{number:03d}",
                "product": rng.choice(PRODUCTS).name,
                "rating": rating,
                "text": text,
                "posted_at": f"{day.isoformat()}T{rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}:00Z",
            }
        )
    lines = [json.dumps(review, ensure_ascii=False) for review in reviews]
    out_of_range = {**reviews[0], "review_id": f"PR-{day:%Y%m%d}-900", "rating": 7}
    return [*lines, json.dumps(out_of_range), lines[-1], '{"review_id": "PR-broken", "rating": ']
