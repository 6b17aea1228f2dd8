"""Knowledge-base chunks and embeddings, and each ticket's context: retrieval plus customer memory."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from ai_assets.defs.reference.assets import KB_CHUNK_MAX_CHARS
from ai_assets.defs.retrieval.search import top_k_chunks
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.llm.embeddings import EmbeddingCache, LocalE5Embedder, embed_texts
from ai_assets.sample_data.generator import generate_sample_data
from ai_assets_tests.conftest import DAY_1, DAY_2, Pipeline


def _article(body: str) -> pl.DataFrame:
    return pl.DataFrame({"article_id": ["kb-x"], "title": ["Refunds"], "category": ["billing"], "body": [body]})


def test_chunks_follow_headings_then_size():
    long_section = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(6))
    body = f"# Refunds\n\nIntro line.\n\n## When\nWithin 14 days.\n\n## Long\n{long_section}\n\n## Empty\n"
    chunks = chunk_articles(_article(body), max_chars=400)

    assert chunks["heading"].to_list()[:2] == ["", "When"]
    assert chunks["text"][1] == "Refunds - When\nWithin 14 days."
    long = chunks.filter(pl.col("heading") == "Long")
    assert long.height > 1 and (long["text"].str.len_chars() <= 400 + len("Refunds - Long\n")).all()
    assert "Empty" not in chunks["heading"].to_list()  # a heading with no text is no chunk
    assert chunks["chunk_id"].to_list() == [f"kb-x#{i}" for i in range(chunks.height)]
    assert chunk_articles(_article(body), max_chars=400).equals(chunks)  # stable ids and hashes


def test_embedded_e5_finds_the_labelled_article_for_golden_tickets(tmp_path):
    generate_sample_data(tmp_path, days=1, tickets_per_day=10, golden_size=60, handwritten=False)
    articles, _ = read_kb_articles(tmp_path / "landing" / "kb")
    chunks = chunk_articles(articles, KB_CHUNK_MAX_CHARS)
    golden = [json.loads(line) for line in (tmp_path / "eval" / "golden_tickets.jsonl").read_text().splitlines()]
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    passages, _ = embed_texts(chunks["text"].to_list(), "passage", LocalE5Embedder(), cache)
    queries, stats = embed_texts([f"{g['subject']}\n{g['body']}" for g in golden], "query", LocalE5Embedder(), cache)
    with duckdb.connect() as conn:
        conn.register(
            "kb", chunks.select("chunk_id", "article_id").with_columns(embedding=pl.Series(passages)).to_arrow()
        )
        conn.execute("CREATE TABLE kb_embeddings AS SELECT * FROM kb")
        nearest = top_k_chunks(conn, [g["ticket_id"] for g in golden], queries, k=3)
    found = dict(zip(nearest["row_key"], nearest["article_ids"].to_list()))

    hits = [g["labels"]["kb_article_id"] in found[g["ticket_id"]] for g in golden]
    # Measured 0.98 hit@3 on the full golden set of 120 (benchmarks/retrieval_quality.py).
    assert sum(hits) / len(hits) >= 0.9
    assert all(scores == sorted(scores, reverse=True) for scores in nearest["scores"].to_list())
    assert stats.rows - stats.cache_hits - stats.deduplicated == len({f"{g['subject']}\n{g['body']}" for g in golden})

    _, again = embed_texts([f"{g['subject']}\n{g['body']}" for g in golden], "query", LocalE5Embedder(), cache)
    assert again.calls == 0 and again.cache_hits == len(golden)
    cache.close()


def _context(pipeline: Pipeline, day: str) -> list[dict]:
    with pipeline.settings.warehouse.lake.connect(read_only=True) as conn:
        return (
            conn.execute(f"select * from ticket_context where created_date = '{day}' order by ticket_id")
            .pl()
            .to_dicts()
        )


def test_ticket_context_has_top_k_chunks_and_customer_memory(pipeline: Pipeline):
    pipeline.run("reference_data_job")
    chunks = pipeline.count("kb_chunks")
    assert pipeline.count("kb_embeddings") == chunks
    assert sum(len(body["input"]) for body in pipeline.server.embedding_requests) == chunks
    pipeline.run("daily_tickets_job", DAY_1)
    pipeline.run("daily_tickets_job", DAY_2)

    rows = _context(pipeline, DAY_2)
    assert len(rows) == pipeline.count("raw_tickets", f"created_date = '{DAY_2}'")
    assert all(len(r["chunk_ids"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True) for r in rows)
    assert all(r["top_score"] == r["scores"][0] for r in rows)
    known = {c for (c,) in pipeline.sql("select customer_id from customers")}
    assert all((r["customer_tier"] is not None) == (r["customer_id"] in known) for r in rows)
    # Memory: every earlier ticket of the customer, newest first, with its triage outcome.
    with_history = [r for r in rows if r["previous_ticket_count"]]
    assert with_history
    for row in with_history:
        earlier = pipeline.sql(
            f"select ticket_id from raw_tickets where customer_id = '{row['customer_id']}'"
            " and created_at < (select created_at from raw_tickets"
            f" where ticket_id = '{row['ticket_id']}' and created_date = '{DAY_2}')"
            " order by created_at desc limit 5"
        )
        assert [h["ticket_id"] for h in row["history"]] == [t for (t,) in earlier]
        assert row["previous_ticket_count"] >= len(row["history"])
    assert any(h["category"] for r in with_history for h in r["history"])


def test_unchanged_chunks_are_never_embedded_twice(pipeline: Pipeline):
    pipeline.run("reference_data_job")
    first = pipeline.sql("select chunk_id, embedding from kb_embeddings order by 1")
    sent = len(pipeline.server.embedding_requests)

    pipeline.run("reference_data_job")
    assert len(pipeline.server.embedding_requests) == sent  # nothing changed: no request at all

    article = sorted((pipeline.settings.landing_dir / "kb").glob("*.md"))[0]
    article.write_text(article.read_text() + "\n## New section\nOpening hours changed to 8:00-20:00.\n")
    pipeline.run("reference_data_job")
    resent = [text for body in pipeline.server.embedding_requests[sent:] for text in body["input"]]
    assert resent and all("Opening hours" in text for text in resent)  # only the new chunk
    after = dict(pipeline.sql("select chunk_id, embedding from kb_embeddings"))
    assert len(after) == len(first) + 1
    assert all(after[chunk_id] == vector for chunk_id, vector in first)  # reused, not recomputed


def test_context_degrades_without_reference_data_and_stops_on_a_model_mismatch(pipeline: Pipeline, monkeypatch):
    result = pipeline.run("daily_tickets_job", DAY_1)  # no CRM, no KB loaded yet
    rows = _context(pipeline, DAY_1)
    assert rows and all(r["chunk_ids"] == [] and r["customer_tier"] is None for r in rows)
    logs = [entry.user_message for entry in pipeline.instance.all_logs(result.run_id)]
    assert any("customers is empty" in m and "reference_data_job" in m for m in logs)
    assert any("kb_embeddings is empty" in m for m in logs)

    pipeline.run("reference_data_job")
    monkeypatch.setenv("AI_ASSETS_EMBED_MODEL", "another-embedding-model")
    from ai_assets.config import load_settings
    from ai_assets.definitions import build_definitions

    other = build_definitions(load_settings())
    failed = other.resolve_job_def("daily_tickets_job").execute_in_process(
        instance=pipeline.instance, partition_key=DAY_1, raise_on_error=False
    )
    assert not failed.success
    messages = " ".join(
        str(e.event_specific_data.error) for e in failed.all_events if e.event_type_value == "STEP_FAILURE"
    )
    assert "materialise kb_embeddings again" in messages


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_e5_vectors_are_unit_length(kind):
    vectors, _ = LocalE5Embedder().embed(["Where is my parcel?", "Wo ist mein Paket?"], kind)
    assert vectors.shape == (2, 384)
    assert abs(float((vectors**2).sum(axis=1).max()) - 1.0) < 1e-3
