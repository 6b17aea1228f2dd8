"""The fake server's bag-of-words embeddings in process, as an embedding source: what a benchmark
or test uses in place of the embedded e5 model when it needs vectors fast, not good ones."""

from __future__ import annotations

import numpy as np

from ai_assets_tests.fakes.llm_server import _embedding


class FakeEmbedder:
    """`embed(texts, kind)` as the project's embedding sources have it; texts that share words are close."""

    model = "fake bag-of-words (ai_assets_tests/fakes/llm_server.py)"

    def embed(self, texts: list[str], kind: str) -> tuple[np.ndarray, int]:
        return np.asarray([_embedding(t) for t in texts], dtype=np.float32), 0
