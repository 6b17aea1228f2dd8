"""Transform: LLM-enriched assets (reasoning over the extracted context)."""
