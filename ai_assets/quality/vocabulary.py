"""The closed vocabularies of the support domain, shared by contracts, prompts' output models,
routing and tests: a value allowed anywhere is listed here, once."""

CATEGORIES = ("billing", "shipping", "returns", "technical", "account", "feedback", "other")
URGENCIES = ("low", "medium", "high", "critical")
SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = ("email", "chat", "web", "phone")
TIERS = ("free", "pro", "enterprise")
DECISIONS = ("approve", "edit", "reject")  # a reviewer's decision on a reply
ACTION_TYPES = ("send_reply", "escalate")  # the allow-list: the only actions the outbox may hold
# An order's state in the order system (landing/orders or AI_ASSETS_ORDERS_API_URL), and how a reply says it.
ORDER_STATUS_PHRASES = {
    "processing": "being prepared",
    "shipped": "shipped",
    "in_transit": "in transit",
    "delayed": "delayed",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "returned": "returned",
}
ORDER_STATUSES = tuple(ORDER_STATUS_PHRASES)
# The tools an investigation may call (tools/registry.py): the allow-list, and what became of a call.
TOOL_NAMES = ("order_status", "search_knowledge_base", "customer_history")
TOOL_CALL_STATUSES = ("ok", "not_found", "error", "refused", "over_budget")
# native: the model chose the calls (chat tool calling); plan: the calls the triage implies.
INVESTIGATION_MODES = ("native", "plan")

LLM_ERROR_TYPES = ("provider_error", "invalid_output", "budget_exceeded")
REPLY_OUTCOMES = ("approved", "needs_human")
REPLY_STEPS = ("draft", "refine", "template")  # template: a knowledge-base template reply, no LLM
VERDICTS = ("pass", "fail", "error")
ROUTES = ("auto", "review")
ROUTE_STATUSES = ("auto_approved", "pending_review", "human_approved", "human_edited", "rejected")
# The statuses whose reply is sent: approved by the loop and nobody's concern, or by a human.
SENDABLE_STATUSES = ("auto_approved", "human_approved", "human_edited")
DELIVERY_STATUSES = ("delivered", "failed")
# What a reviewer's decision makes of a ticket sent to review (no decision: pending_review).
DECISION_STATUSES = {"approve": "human_approved", "edit": "human_edited", "reject": "rejected"}
# The rules a drafted reply must pass before it may be sent, whatever the critic says
# (defs/replies/tasks.py): a reply that breaks one goes to a human with the rule's name as a problem.
REPLY_RULES = (
    "cites no knowledge-base chunk",
    "cites a chunk that was not retrieved for this ticket",
    "asks for a password",
    "asks for a one-time code or PIN",
    "asks for card details",
    "asks for bank details",
    "contains a card number",
    "contains a link",
    "names an amount the cited excerpts do not state",
    "mentions a refund or credit the cited excerpts do not cover",
    "states an order status the order system does not",
)
# Where a labelled ticket's expected answer comes from: a landing/labels file, or a reviewer's correction.
LABEL_SOURCES = ("file", "review")
# The triage fields a label gives and an evaluation scores.
LABEL_FIELDS = ("category", "urgency", "sentiment", "language")
# Who answered a ticket in an evaluation: the LLM, (with the cascade) a cheap proxy model, or both.
ANSWERERS = ("llm", "proxy", "both")
# How a cascaded step answers (transform/cascade.plan_thresholds; quality/plans.py chooses one): the
# proxy's top vote on every row, the proxy where sure and the small LLM (AI_ASSETS_SMALL_LLM) or the
# configured one for the rest, or the LLM alone. In this order: the first of equally cheap plans runs.
CASCADE_PLANS = ("proxy_only", "proxy_small_llm", "proxy_llm", "llm_alone")
# The fields the cascade's proxy can answer.
PROXIED_FIELDS = ("category", "urgency", "sentiment")
# A reviewer's decision on a knowledge-base article proposal (landing/kb_reviews/).
KB_DECISIONS = ("approve", "reject")
# Where a knowledge-base article proposal stands: no approved or edited reply to write it from, or
# its draft failed; its article breaks a reply rule; awaiting a decision; decided; superseded by a
# newer proposal for its category before anyone decided; copied into landing/kb/.
PROPOSAL_STATUSES = (
    "needs_material",
    "failed",
    "blocked",
    "proposed",
    "approved",
    "rejected",
    "superseded",
    "published",
)
# What publishing an approved proposal came to (load/kb_publishing.py).
PUBLICATION_STATUSES = ("published", "refused")
