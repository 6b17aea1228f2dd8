"""Auto-send by grounding: the threshold, and what the rules alone and the rules plus grounding send.

    .venv/bin/python benchmarks/grounding.py [--embedder configured|fake]
    .venv/bin/python benchmarks/grounding.py --quick   # the same as --embedder fake: seconds, for CI

1. Chooses the support threshold on hand-written labelled sentences
   (`benchmarks/data/grounding_labels.jsonl`: a reply sentence, the sample KB chunk it cites,
   supported or not): the lowest threshold at which no unsupported sentence passes the whole
   grounding rule, and the share of supported ones that pass there.
2. Runs hand-written replies (`benchmarks/data/grounding_replies.jsonl`: hostile ones asking for
   passwords and codes, links to click, payments elsewhere, in six languages; benign ones grounded
   in the sample knowledge base) through the old decision (the rule checks of `defs/replies/tasks.py` pass) and
   the new one (the rules pass and `grounding.py` finds every sentence supported, at the threshold
   the settings give this model), and prints how many of each are auto-sent.

`configured` embeds with the project's embedding engine as the settings select it (the embedded
multilingual-e5-small by default, else the configured endpoint); `fake` with the tests' fake
server's bag-of-words (`ai_assets_tests/fakes/llm_server.py`), for the threshold the tests use.
Neither file is made from the sample generator's templates; the KB is the sample one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from ai_assets.config import load_settings
from ai_assets.defs.reference.assets import KB_CHUNK_MAX_CHARS
from ai_assets.defs.replies.grounding import grounding_problems, judge_reply, sentences
from ai_assets.defs.replies.tasks import rule_problems
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.llm.cache import EmbeddingCache
from ai_assets.llm.embeddings import embed_texts
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.fakes.embedder import FakeEmbedder

DATA = Path(__file__).parent / "data"


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def choose_threshold(labels: list[dict], chunks: dict[str, str], vectors: dict[str, np.ndarray]) -> float:
    """The lowest threshold (0.01 steps) at which no unsupported labelled sentence passes."""
    grid = [round(t, 2) for t in np.arange(0.30, 1.0, 0.01)]

    def passes(row: dict, t: float) -> bool:
        return not judge_reply(row["sentence"], chunks[row["chunk_id"]], vectors, t)

    def tally(t: float) -> tuple[int, int]:
        false_pass = sum(passes(r, t) for r in labels if not r["supported"])
        true_pass = sum(passes(r, t) for r in labels if r["supported"])
        return false_pass, true_pass

    supported = sum(r["supported"] for r in labels)
    chosen = next((t for t in grid if tally(t)[0] == 0), grid[-1])
    print(f"labelled sentences: {len(labels)} ({supported} supported, {len(labels) - supported} not)")
    print("  threshold  unsupported passing  supported passing")
    for t in sorted({max(grid[0], round(chosen - 0.04, 2)), round(chosen - 0.02, 2), chosen, round(chosen + 0.02, 2)}):
        false_pass, true_pass = tally(t)
        mark = "  <- chosen" if t == chosen else ""
        print(f"  {t:9.2f}  {false_pass:19d}  {true_pass:3d}/{supported} ({true_pass / supported:.0%}){mark}")
    return chosen


def decide(replies: list[dict], chunks: dict[str, str], embed, threshold: float | None, model: str) -> pl.DataFrame:
    drafts = pl.DataFrame(
        {
            "reply": [r["reply"] for r in replies],
            "cited_chunk_ids": [r["cited"] for r in replies],
            "retrieved_chunk_ids": [r["cited"] for r in replies],
            # As the prompts show them: "[chunk id] text", a blank line apart.
            "knowledge": ["\n\n".join(f"[{c}] {chunks[c]}" for c in r["cited"]) for r in replies],
        }
    )
    rules = rule_problems(drafts)
    grounding = grounding_problems(drafts, embed, threshold, model)
    return pl.DataFrame(
        {
            "kind": [r["kind"] for r in replies],
            "reply": drafts["reply"],
            "old_sent": rules.list.len() == 0,
            "new_sent": (rules.list.len() == 0) & (grounding.list.len() == 0),
            "why": grounding.list.first(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", choices=("configured", "fake"), default="configured")
    parser.add_argument("--quick", action="store_true", help="--embedder fake: seconds, for CI")
    args = parser.parse_args()
    if args.quick:
        args.embedder = "fake"
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample_data(Path(tmp), days=1, tickets_per_day=10, golden_size=0)
        articles, _ = read_kb_articles(Path(tmp) / "landing" / "kb")
        chunk_rows = chunk_articles(articles, KB_CHUNK_MAX_CHARS)
        chunks = dict(zip(chunk_rows["chunk_id"], chunk_rows["text"]))
        resource = settings.embeddings
        source = FakeEmbedder() if args.embedder == "fake" else resource.source()
        cache = EmbeddingCache(Path(tmp) / "embedding_cache.sqlite")

        def embed(texts: list[str]) -> np.ndarray:
            # Exactly as the reply_drafts asset embeds them: kind "query" for both sides.
            return embed_texts(texts, "query", source, cache, limits=resource.limits())[0]

        labels, replies = _jsonl("grounding_labels.jsonl"), _jsonl("grounding_replies.jsonl")
        texts = sorted({s for r in labels for s in [*sentences(r["sentence"]), *sentences(chunks[r["chunk_id"]])]})
        vectors = dict(zip(texts, _unit(embed(texts))))
        print(f"embedding model: {source.model}")
        chosen = choose_threshold(labels, chunks, vectors)
        configured = settings.embeddings.grounding_threshold() if args.embedder == "configured" else None
        threshold = configured if configured is not None else chosen
        print(
            f"threshold used below: {threshold:.2f} ("
            + ("AI_ASSETS_GROUNDING_MIN_SUPPORT for this model" if configured is not None else "chosen above")
            + ")"
        )
        decided = decide(replies, chunks, embed, threshold, source.model)
        cache.close()

    print(f"\n{'':8s} {'replies':>8s} {'auto-sent, rules only':>22s} {'auto-sent, rules + grounding':>29s}")
    for kind in ("hostile", "benign"):
        rows = decided.filter(pl.col("kind") == kind)
        old, new = int(rows["old_sent"].sum()), int(rows["new_sent"].sum())
        shares = f"{old:>10d} ({old / rows.height:4.0%})      {new:>10d} ({new / rows.height:4.0%})"
        print(f"{kind:8s} {rows.height:8d} {shares}")
    for kind, title in (("hostile", "hostile replies still auto-sent"), ("benign", "benign replies sent to review")):
        wrong = decided.filter((pl.col("kind") == kind) & (pl.col("new_sent") == (kind == "hostile")))
        print(f"\n{title}: {wrong.height}")
        for row in wrong.iter_rows(named=True):
            print(f"  - {row['reply'][:90]!r}\n      {row['why'] or 'a rule check'}")


if __name__ == "__main__":
    main()
