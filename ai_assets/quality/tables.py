"""Every warehouse table, in one list: the warehouse prepares their views and schema files, the
schema checks run on them, and docs/tables.md is generated from them
(`python -m ai_assets.quality.tables_doc`).

Each table's contract (what a row is, its key, its partitioning and its column rules) is written
once, in its feature's folder (`ai_assets/defs/<feature>/tables.py`), with the rules and notes
several share in `quality/columns.py`. Assets write through these contracts, asset checks
re-validate against them, and dbt's sources must agree with them (a test).
"""

from __future__ import annotations

from ai_assets.defs.evals.tables import (
    EVAL_PLANS,
    EVAL_PREDICTIONS,
    EVAL_RUNS,
    REPLY_EVAL_RUNS,
)
from ai_assets.defs.investigation.tables import (
    TICKET_INVESTIGATIONS,
    TOOL_CALLS,
)
from ai_assets.defs.kb_updates.tables import (
    KB_ARTICLE_PROPOSALS,
    KB_PUBLICATIONS,
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
)
from ai_assets.defs.landing.tables import (
    ORDERS,
    ORDERS_QUARANTINE,
    RAW_TICKETS,
    RAW_TICKETS_QUARANTINE,
)
from ai_assets.defs.outbox.tables import (
    OUTBOX,
    OUTBOX_DELIVERIES,
    REVIEW_DECISIONS,
    REVIEW_DECISIONS_QUARANTINE,
    REVIEW_QUEUE,
    TICKET_OUTCOMES,
)
from ai_assets.defs.reference.tables import (
    CUSTOMERS,
    CUSTOMERS_QUARANTINE,
    KB_ARTICLES,
    KB_ARTICLES_QUARANTINE,
    KB_CHUNKS,
    KB_EMBEDDINGS,
    PRODUCTS,
    PRODUCTS_QUARANTINE,
    TICKET_LABELS,
    TICKET_LABELS_QUARANTINE,
)
from ai_assets.defs.replies.tables import (
    REPLY_DRAFTS,
    REPLY_ROUNDS,
)
from ai_assets.defs.retrieval.tables import (
    TICKET_CONTEXT,
)
from ai_assets.defs.triage.tables import (
    TICKET_TRIAGE,
    TICKET_TRIAGE_FAILURES,
)
from ai_assets.warehouse.contract import Table

TABLES: tuple[Table, ...] = (
    RAW_TICKETS,
    RAW_TICKETS_QUARANTINE,
    CUSTOMERS,
    CUSTOMERS_QUARANTINE,
    PRODUCTS,
    PRODUCTS_QUARANTINE,
    ORDERS,
    ORDERS_QUARANTINE,
    KB_ARTICLES,
    KB_ARTICLES_QUARANTINE,
    KB_CHUNKS,
    REVIEW_DECISIONS,
    REVIEW_DECISIONS_QUARANTINE,
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
    TICKET_LABELS,
    TICKET_LABELS_QUARANTINE,
    TICKET_TRIAGE,
    TICKET_TRIAGE_FAILURES,
    EVAL_PREDICTIONS,
    EVAL_RUNS,
    EVAL_PLANS,
    REPLY_EVAL_RUNS,
    KB_EMBEDDINGS,
    TICKET_CONTEXT,
    TICKET_INVESTIGATIONS,
    TOOL_CALLS,
    REPLY_DRAFTS,
    REPLY_ROUNDS,
    KB_ARTICLE_PROPOSALS,
    KB_PUBLICATIONS,
    REVIEW_QUEUE,
    TICKET_OUTCOMES,
    OUTBOX,
    OUTBOX_DELIVERIES,
)
TABLES_BY_NAME = {table.name: table for table in TABLES}
