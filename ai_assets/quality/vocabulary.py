"""The closed vocabularies of the support domain, shared by schemas, prompts' output models and tests."""

CATEGORIES = ("billing", "shipping", "returns", "technical", "account", "feedback", "other")
URGENCIES = ("low", "medium", "high", "critical")
SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = ("email", "chat", "web", "phone")
TIERS = ("free", "pro", "enterprise")
