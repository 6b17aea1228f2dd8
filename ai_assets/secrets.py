"""Keeps secrets out of every text the pipeline stores or logs.

Error texts come from outside (a provider's or a webhook's error body) and some servers echo the
request back, key included. Every error text that reaches a table, the metadata or the run log
goes through `scrub_secrets` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# Environment variables whose values are secrets wherever they appear.
SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AI_ASSETS_OUTBOX_WEBHOOK_TOKEN",
    "AI_ASSETS_ORDERS_API_TOKEN",
    "AI_ASSETS_SMTP_PASSWORD",
    "AI_ASSETS_TICKETING_TOKEN",
    "AI_ASSETS_STATE_URL",
    "PGPASSWORD",  # set for dbt's build from AI_ASSETS_STATE_URL's password
    "AWS_SECRET_ACCESS_KEY",  # the lake's and the landing bucket's store
    "AWS_SESSION_TOKEN",
    "AI_ASSETS_CELERY_BROKER_URL",
    "AI_ASSETS_CELERY_BACKEND_URL",
)
# Secret values found elsewhere than in those variables (the S3 store's credentials from a profile or
# a role): scrubbed the same way.
_FOUND_SECRETS: set[str] = set()

# Where the state every machine shares lives (the delivery ledger): a URL that may hold a password.
STATE_URL_VARIABLE = "AI_ASSETS_STATE_URL"
SCRUBBED = "[secret removed]"

# What looks like a key even when it is not ours: OpenAI-style keys, bearer tokens, and
# `api_key=...` / `"api-key": "..."` pairs.
_KEY_SHAPES = re.compile(
    r"""
    \b(?:sk|pk|rk)-[A-Za-z0-9_\-]{12,}                         # sk-..., sk-proj-...
    | \bBearer\s+[A-Za-z0-9._~+/\-]{8,}=*                       # Authorization: Bearer ...
    | \bBasic\s+(?=[A-Za-z+/]*[0-9+/])[A-Za-z0-9+/]{12,}=*       # Authorization: Basic <base64 with a digit>
    | (?<=[\s"'{,(])(?:api[_-]?key|access[_-]?token|secret)     # api_key=..., "api-key": "..."
      ["']?\s*[:=]\s*["']?[^\s"',}]{6,}
    """,
    re.IGNORECASE | re.VERBOSE,
)


def scrub_secrets(text: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """`text` with the values of the secret variables, and anything shaped like a key, replaced."""
    if not text:
        return text
    env = os.environ if environ is None else environ
    for value in [*(env.get(name) or "" for name in SECRET_VARIABLES), *_FOUND_SECRETS]:
        if len(value) >= 6:  # shorter values would replace ordinary words
            text = text.replace(value, SCRUBBED)
    return _KEY_SHAPES.sub(SCRUBBED, " " + text)[1:]


def add_secret_values(*values: str | None) -> None:
    """Secrets the pipeline found elsewhere than in SECRET_VARIABLES, to scrub like theirs."""
    _FOUND_SECRETS.update(value for value in values if value)


def from_environment(variable: str, default: str = "") -> str:
    """A credential (token, user, password) read from the environment at each use, so it never sits
    in a setting, a resource's config or run metadata."""
    return os.environ.get(variable) or default


def bearer_header(variable: str) -> dict[str, str]:
    """`Authorization: Bearer <token>` from the environment variable `variable`, read at each use so
    the token never sits in a setting, or nothing when it is unset."""
    token = from_environment(variable)
    return {"Authorization": f"Bearer {token}"} if token else {}
