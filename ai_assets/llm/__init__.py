"""The LLM engine: declarative tasks run over polars frames, with no Dagster dependency.

A task is a prompt template plus a pydantic output model. The engine renders each row, serves it
from the response cache or calls the OpenAI-compatible endpoint (bounded concurrency, retries),
validates the answer, and returns output rows with lineage, failure rows with a reason, and metrics.
Embeddings (`embeddings.py`) go through the same client, limits, budget, cache store and metrics.
"""
