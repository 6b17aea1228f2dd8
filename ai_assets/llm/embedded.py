"""Moved to `local_chat_server.py`; this re-export goes once `resources.py` imports from there."""

from ai_assets.llm.local_chat_server import EMBEDDED_MODEL_ALIAS, EmbeddedModelServer, embedded_model_path  # noqa: F401
