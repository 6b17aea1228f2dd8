"""The closed vocabularies of the support domain, shared by schemas, prompts' output models and tests."""

CATEGORIES = ("billing", "shipping", "returns", "technical", "account", "feedback", "other")
URGENCIES = ("low", "medium", "high", "critical")
SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = ("email", "chat", "web", "phone")
TIERS = ("free", "pro", "enterprise")
DECISIONS = ("approve", "edit", "reject")  # a reviewer's decision on a reply
ACTION_TYPES = ("send_reply", "escalate")  # the allow-list: the only actions the outbox may hold
