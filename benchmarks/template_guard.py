"""Which top chunks a template reply may quote: the relevance guard of `defs/replies/templates.py`,
measured (run by `template_replies.py`, which prints this table before its sample day).

Each ticket's top chunk is retrieved as `ticket_context` does (`retrieval_quality.py`'s code path:
the same embedder and SQL). A guard lets a template quote it when its article's category is the
ticket's triage category, and/or its cosine reaches a minimum. Per guard: coverage (the share of
tickets it lets quote) and precision (of the quotes, the share from the ticket's labelled article,
and from an article of its labelled category; a ticket no article answers is wrong either way).

The triage category is the embedded default's: the cascade's linear proxy over the golden labels
(a golden ticket answered by the proxy fitted without its near-duplicate group), as `ticket_triage`
answers it there. The guard is chosen on the generated golden set, the calibration data of every
threshold; the hand-written held-out set is only scored (benchmarks/heldout/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from retrieval_quality import rank_chunks, sample_knowledge_base, ticket_texts

from ai_assets.transform import cascade

HELDOUT = Path(__file__).resolve().parent / "heldout" / "triage_labels.jsonl"
TARGET_PRECISION = 0.9  # of right articles among the quotes, on the golden set
MIN_SCORES = (0.0, *np.round(np.arange(0.80, 0.895, 0.01), 2))  # 0: no minimum


@dataclass(frozen=True)
class Quotes:
    """Per ticket of a set: its top chunk's score, whether the guard's category test passes, and
    whether the chunk's article is the labelled one / of the labelled category."""

    name: str
    score: np.ndarray
    same_category: np.ndarray  # top chunk's category == the triage's
    right_article: np.ndarray
    right_category: np.ndarray


def top_chunks(
    embedder, chunks: pl.DataFrame, passages: np.ndarray, tickets: list[dict]
) -> tuple[pl.DataFrame, np.ndarray]:
    """(per ticket its top chunk's article, category and score; the tickets' query vectors)."""
    queries, _ = embedder.embed(ticket_texts(tickets), "query")
    ranked = rank_chunks(chunks, passages, tickets, queries, k=1)
    categories = chunks.select("article_id", "category").unique()
    top = ranked.select("row_key", "top_score", article_id=pl.col("article_ids").list.first())
    order = pl.DataFrame({"row_key": [t["ticket_id"] for t in tickets]})
    return order.join(top.join(categories, on="article_id", how="left"), on="row_key", how="left"), queries


def quotes(name: str, tickets: list[dict], top: pl.DataFrame, triage: list[str | None]) -> Quotes:
    labels = [t["labels"] for t in tickets]
    article, category = top["article_id"].to_list(), top["category"].to_list()
    return Quotes(
        name,
        top["top_score"].to_numpy(),
        np.array([c == t for c, t in zip(category, triage)]),
        np.array([a == label.get("kb_article_id") for a, label in zip(article, labels)]),
        np.array(
            [c == label["category"] and label.get("kb_article_id") is not None for c, label in zip(category, labels)]
        ),
    )


def measure(embedder) -> tuple[Quotes, Quotes]:
    """The golden set's and the held-out set's top chunks under `embedder`."""
    chunks, golden = sample_knowledge_base()
    heldout = [json.loads(line) for line in HELDOUT.read_text().splitlines()]
    passages, _ = embedder.embed(chunks["text"].to_list(), "passage")
    golden_top, golden_vectors = top_chunks(embedder, chunks, passages, golden)
    heldout_top, heldout_vectors = top_chunks(embedder, chunks, passages, heldout)
    labels = {"category": [t["labels"]["category"] for t in golden]}
    golden_triage = cascade.held_out_votes(golden_vectors, labels)["category"].labels
    heldout_triage = cascade.linear_votes(golden_vectors, labels, heldout_vectors)["category"].labels
    return (
        quotes(f"generated golden set ({len(golden)} tickets)", golden, golden_top, golden_triage),
        quotes(f"hand-written held-out set ({len(heldout)} tickets)", heldout, heldout_top, heldout_triage),
    )


def scored(q: Quotes, min_score: float, by_category: bool) -> tuple[float, float | None, float | None]:
    """(coverage, right-article precision, right-category precision; None with nothing quoted)."""
    quoted = (q.score >= min_score) & (q.same_category if by_category else True)
    if not quoted.any():
        return 0.0, None, None
    return float(quoted.mean()), float(q.right_article[quoted].mean()), float(q.right_category[quoted].mean())


def choose(golden: Quotes, by_category: bool) -> float | None:
    """The lowest minimum score at which the guard's quotes on the golden set are from the right
    article at least TARGET_PRECISION of the time (0: no minimum); None if none is."""
    for min_score in MIN_SCORES:
        _, precision, _ = scored(golden, min_score, by_category)
        if precision is not None and precision >= TARGET_PRECISION:
            return float(min_score)
    return None


def print_guards(embedder, shipped: float) -> None:
    golden, heldout = measure(embedder)
    print(f"guards on {embedder.model}; triage category: the embedded default's (the cascade's proxy)")
    print("coverage: share of tickets quoted; precision: of the quotes, from the right article / right category\n")
    for q in (golden, heldout):
        print(q.name)
        print(
            f"{'min score':>9}   {'score alone: cov  article  category':<36}   category + score: cov  article  category"
        )
        for min_score in MIN_SCORES:
            cells = []
            for by_category in (False, True):
                coverage, article, category = scored(q, min_score, by_category)
                shown = [f"{v:.2f}" if v is not None else "  - " for v in (article, category)]
                cells.append(f"{coverage:17.2f}  {shown[0]:>7}  {shown[1]:>8}")
            print(f"{f'{min_score:.2f}' if min_score else 'none':>9}   {cells[0]:<36}   {cells[1]}")
        print()
    alone = choose(golden, by_category=False)
    needs = "no minimum of the grid" if alone is None else f"a minimum of {alone:.2f}" if alone else "no minimum"
    print(f"score alone: precision >= {TARGET_PRECISION} on the golden set needs {needs}")
    chosen = choose(golden, by_category=True)
    if chosen is None:
        print(f"no minimum score gives precision >= {TARGET_PRECISION} on the golden set with the category guard")
        return
    coverage, article, category = scored(heldout, chosen, by_category=True)
    print(
        f"chosen on the golden set: the category guard, minimum score {chosen:g} (shipped: {shipped:g}); "
        f"held-out at it: coverage {coverage:.2f}, precision {article or 0:.2f} article / {category or 0:.2f} category"
    )
