-- Per query vector (registered as query_vectors: row_key, embedding), its $k nearest chunks, best first.
WITH scored AS (
    SELECT
        q.row_key,
        e.chunk_id,
        e.article_id,
        -- Lists, not arrays: Parquet keeps no fixed width, so the stored vectors read back as FLOAT[].
        list_cosine_similarity(q.embedding::FLOAT[], e.embedding::FLOAT[])::DOUBLE AS score
    FROM query_vectors AS q
    CROSS JOIN kb_embeddings AS e
    QUALIFY row_number() OVER (PARTITION BY q.row_key ORDER BY score DESC, e.chunk_id) <= $k
)
SELECT
    row_key,
    list(chunk_id ORDER BY score DESC, chunk_id) AS chunk_ids,
    list(article_id ORDER BY score DESC, chunk_id) AS article_ids,
    list(score ORDER BY score DESC, chunk_id) AS scores,
    max(score) AS top_score
FROM scored
GROUP BY row_key
