"""The reply tasks (draft, critique, refine) and the rule checks no LLM verdict can override."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_assets.llm.redaction import CARD_NUMBER
from ai_assets.llm.task import LLMTask, PromptTemplate
from ai_assets.quality.vocabulary import ORDER_STATUS_PHRASES, REPLY_RULES

REPLY_MAX_CHARS = 1500


class ReplyDraft(BaseModel):
    """A reply and the knowledge-base chunks it relies on."""

    model_config = ConfigDict(extra="forbid")

    # No maxLength in the schema: llama.cpp expands it into one grammar rule per character and
    # fails (taking its server down) for lengths like this one. The validator enforces it instead.
    reply: str
    cited_chunk_ids: list[str] = Field(max_length=5)

    @field_validator("reply")
    @classmethod
    def not_blank_nor_too_long(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reply is empty")
        if len(value) > REPLY_MAX_CHARS:
            raise ValueError(f"reply is longer than {REPLY_MAX_CHARS} characters")
        return value.strip()


class ReplyCritique(BaseModel):
    """The critic's verdict on one draft."""

    model_config = ConfigDict(extra="forbid")

    grounded: bool
    policy_ok: bool
    tone_ok: bool
    problems: list[str] = Field(max_length=5)


def reply_tasks(prompts_dir: Path | None = None) -> tuple[LLMTask, LLMTask, LLMTask]:
    """(draft, critique, refine), with prompts from `prompts_dir` where it has them."""

    def task(name: str, model: type[BaseModel], inputs: tuple[str, ...], max_tokens: int) -> LLMTask:
        return LLMTask(
            name, PromptTemplate.load(name, prompts_dir), model, inputs, temperature=0.0, max_tokens=max_tokens
        )

    return (
        task("reply_draft", ReplyDraft, ("customer_context", "knowledge", "facts", "subject", "body"), 500),
        task("reply_critique", ReplyCritique, ("knowledge", "facts", "subject", "body", "cited", "draft"), 250),
        task("reply_refine", ReplyDraft, ("knowledge", "facts", "subject", "body", "draft", "problems"), 500),
    )


# --- the rule checks ------------------------------------------------------------------------
# A reply the loop approves is sent without a human reading it, so these hold whatever the model
# was told by the ticket it answers. Polars' regex engine has no look-around: every pattern says
# what it consumes.
(
    CITES_NOTHING,
    CITES_UNRETRIEVED,
    ASKS_PASSWORD,
    ASKS_CODE,
    ASKS_CARD,
    ASKS_BANK,
    HAS_CARD_NUMBER,
    HAS_LINK,
    NAMES_AMOUNT,
    MENTIONS_REFUND,
    WRONG_ORDER_STATUS,
) = REPLY_RULES

# Secrets a reply must never ask for (KB: "We will never ask for your password, your full card
# number or your CVV"; "Our agents will never ask for your password or a one-time code").
_SECRETS = {
    ASKS_PASSWORD: (
        r"passwords?|passcodes?|pass words?|credentials|username and password"
        r"|(?:login|log-in|sign-in|signin) (?:details|credentials|info(?:rmation)?|data)"
    ),
    ASKS_CODE: (
        r"one[- ]time (?:pass)?codes?|one[- ]time passwords?|otps?|verification codes?|2fa codes?"
        r"|two[- ]factor(?: authentication)? codes?|authenticat(?:ion|or) codes?|backup codes?|recovery codes?"
        r"|sms codes?|pins?(?: codes?| numbers?)?"
    ),
    ASKS_CARD: (
        r"(?:credit |debit |payment )?card (?:numbers?|no\.?|details|info(?:rmation)?|data)"
        r"|payment (?:details|information)|cvv2?|cvc2?|cvn|csc|security codes?"
        r"|card verification (?:codes?|values?|numbers?)|(?:three|3|four|4)[- ]digit (?:security )?(?:codes?|numbers?)"
    ),
    ASKS_BANK: (
        r"bank(?:ing)? (?:details|info(?:rmation)?|account(?: numbers?| details)?|logins?|passwords?|credentials)"
        r"|online banking(?: details| logins?| passwords?| credentials)?|account numbers?|ibans?|routing numbers?"
        r"|sort codes?|swift codes?|bic"
    ),
}
_ANY_SECRET = "|".join(_SECRETS.values())
# A request: an imperative, a need or a question, then the secret as its object, with only
# determiners, adjectives, conjunctions and other secrets in between ("send us your password and
# full card number"; "what is your card number and CVV?"), so "send you a link to reset your
# password" asks for nothing.
_ASK = (
    r"send|give|share|provide|confirm|tell|include|forward|submit|supply|verify|disclose|reveal|read out"
    r"|spell out|hand over|let (?:us|me) (?:have|know)|e-?mail|text|message|dm"
    r"|(?:reply|respond|answer|write back)(?:\s+\w+){0,4}?\s+with"
    r"|(?:we|i)(?:'ll| will| would|'d)? (?:need|require)(?: to (?:see|have|know|check|get))?"
    r"|ask(?:ing)?(?: you)? for|request(?:ing)?|what(?:'s| is| are| was| were)|which is"
    r"|(?:can|could|may) (?:we|i) (?:have|get|see|take|ask for)"
)
_FILLER = (
    r"your|the|a|an|my|our|this|that|its|full|complete|entire|whole|current|existing|old|new|exact|correct"
    r"|account|online|login|log-in|sign-in|banking|bank|card|credit|debit|long|\w+-digit|and|or|&|plus|also|both"
    r"|as well as|along with|together with|us|me|over|back|in|along|to us|to me|with us|directly|here|below"
    r"|please|now|securely|all|of|just|kindly|quickly|again|asap"
)
_NEGATION = r"(?:\b(?:never|not|no|cannot|nobody|neither|nor)|n't)(?:\s+\w+){0,3}\s+"


def _request(secret: str) -> str:
    return rf"\b(?:{_ASK})(?:[\s,]+(?:{_FILLER}|{_ANY_SECRET}))*[\s,]+(?:{secret})\b"


def _asks_for(text: pl.Expr, secret: str) -> pl.Expr:
    """More requests for `secret` than negated ones ("we will never ask for your password")."""
    request = _request(secret)
    return text.str.count_matches(f"(?i){request}") > text.str.count_matches(f"(?i){_NEGATION}{request}")


# Links: any URL, www., a bare domain with a known top-level domain or with a path, an IP with a
# path. A link is allowed when a cited excerpt gives it, or a link to the same host; a shortener
# hides its target, so only the very link the excerpt gives is allowed.
_TLDS = (
    "com|net|org|info|biz|io|co|me|app|dev|ai|xyz|online|site|shop|store|top|club|link|live|click|tech|space"
    "|website|icu|vip|win|bid|loan|work|pro|mobi|cloud|email|support|help|page|ly|gl|gd|cc|tk|ml|ga|cf|gq|ws"
    "|su|ru|cn|de|uk|fr|es|it|nl|eu|us|ca|au|in|be|ch|at|se|no|dk|fi|pl|pt|br|mx|jp|kr|tw|hk|sg|nz|ie|za|cz"
    "|gr|ro|hu|ua|tr|il|ae|sa|vn|id|th|my|ph|pk|ng|ke|ar|cl|gy|im|to|tv|fm|am|is|li|lu|lt|lv|ee|sk|si|hr|rs|bg"
)
_URL_CHARS = r"[^\s<>\"'()\[\]{}]"
LINK = (
    rf"(?i)\b[a-z][a-z0-9+.\-]*://{_URL_CHARS}+|\bwww\d?\.{_URL_CHARS}+"
    rf"|\b(?:[\w-]+\.)+(?:{_TLDS})\b(?:[/?#:]{_URL_CHARS}*)?"
    rf"|\b(?:[\w-]+\.)+[a-z]{{2,24}}/{_URL_CHARS}*|\b\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?::\d+)?/{_URL_CHARS}*"
)
_SHORTENER = (
    r"^(?:bit\.ly|bitly\.com|tinyurl\.com|t\.co|goo\.gl|ow\.ly|is\.gd|buff\.ly|rebrand\.ly|cutt\.ly|tiny\.cc"
    r"|rb\.gy|shorturl\.at|s\.id|t\.ly|v\.gd|bl\.ink|lnkd\.in|qrco\.de|t\.me|short\.io)$"
)


def _links(text: pl.Expr) -> pl.Expr:
    """The links in `text`, lowercased, without scheme, www. and trailing punctuation."""
    return text.str.extract_all(LINK).list.eval(
        pl.element()
        .str.to_lowercase()
        .str.replace(r"^[a-z][a-z0-9+.\-]*://", "")
        .str.replace(r"^www\d?\.", "")
        .str.replace(r"[.,;:!?'\"]+$", "")
    )


def _hosts(links: pl.Expr) -> pl.Expr:
    return links.list.eval(pl.element().str.extract(r"^([^/?#:]+)"))


def _unallowed_links(reply: pl.Expr, cited: pl.Expr) -> pl.Expr:
    cited_links = _links(cited)
    safe_hosts = _hosts(cited_links).list.eval(pl.element().filter(~pl.element().str.contains(_SHORTENER)))
    unknown = _links(reply).list.set_difference(cited_links)
    return _hosts(unknown).list.set_difference(safe_hosts).list.len() > 0


# Money: an amount with a currency, allowed when a cited excerpt states the same number; a refund,
# credit or compensation, allowed when a cited excerpt mentions that kind. The loop can issue
# nothing, so a reply that promises (or reports) money no excerpt allows goes to a human.
_CURRENCIES = "usd|eur|gbp|cad|aud|nzd|chf|jpy|cny|inr|sek|nok|dkk|pln|czk|huf|mxn|brl"
_NUMBER = r"\d(?:[\d,.']*\d)?"
AMOUNT = (
    rf"(?i)(?:[$€£¥₹]|\b(?:{_CURRENCIES})\b|\b(?:us|ca|au|nz|hk|s)\$)\s?{_NUMBER}"
    rf"|{_NUMBER}\s?(?:[$€£¥₹]|(?:{_CURRENCIES}|dollars?|euros?|pounds?|bucks|cents?|francs?)\b)"
)
_MONEY_KINDS = (
    r"\b(?:refund\w*|reimburs\w*|money back|repa(?:id|y\w*))\b",
    r"\b(?:credit(?:s|ed|ing)?|credit notes?)\b",
    r"\b(?:compensat\w*|goodwill|vouchers?|coupons?|discount\w*|gift cards?|promo codes?|rebates?)\b",
)
_CARD_WORDS = r"(?i)\bcredit(?:[- ]| or debit |/debit )cards?\b"  # a card, not a credit


def _amounts(text: pl.Expr) -> pl.Expr:
    """The amounts in `text` as bare numbers: "$5,000.00" and "5000 USD" are both "5000"."""
    return text.str.extract_all(AMOUNT).list.eval(
        pl.element().str.extract(f"({_NUMBER})").str.replace(r"[.,]00$", "").str.replace_all(r"[.,']", "")
    )


def _unallowed_money(reply: pl.Expr, cited: pl.Expr) -> pl.Expr:
    reply, cited = reply.str.replace_all(_CARD_WORDS, "card"), cited.str.replace_all(_CARD_WORDS, "card")
    return pl.any_horizontal(
        reply.str.contains(f"(?i){kind}") & ~cited.str.contains(f"(?i){kind}") for kind in _MONEY_KINDS
    )


def cited_excerpts(drafts: pl.DataFrame) -> pl.Series:
    """Per draft, the text of the excerpts it cites, from its `knowledge` ("[chunk id] text" blocks,
    a blank line apart, as the prompts show them) and `cited_chunk_ids`."""
    rows = drafts.select(
        pl.int_range(pl.len()).alias("row"), "cited_chunk_ids", block=pl.col("knowledge").str.split("\n\n[")
    )
    texts = (
        rows.explode("block")
        .with_columns(chunk_id=pl.col("block").str.extract(r"^\[?([^\]\n]+)\] "))
        .filter(pl.col("cited_chunk_ids").list.contains(pl.col("chunk_id")))
        .group_by("row")
        .agg(pl.col("block").str.replace(r"^\[?[^\]\n]+\] ", "").str.join("\n\n"))
    )
    return (
        rows.select("row")
        .join(texts, on="row", how="left", maintain_order="left")["block"]
        .fill_null("")
        .alias("cited")
    )


def _says(reply: pl.Expr, phrase: str) -> pl.Expr:
    return reply.str.contains(rf"(?i)\b{phrase}\b")


def states_order_status(reply: pl.Expr, status: pl.Expr) -> pl.Expr:
    """Whether the reply says the order is in `status` (in the words of ORDER_STATUS_PHRASES)."""
    return pl.coalesce(
        *(pl.when(status == name).then(_says(reply, phrase)) for name, phrase in ORDER_STATUS_PHRASES.items()),
        pl.lit(False),
    )


def _wrong_order_status(reply: pl.Expr, status: pl.Expr) -> pl.Expr:
    """The reply says an order is in a state and never says the state the order system gave: "it has
    been delivered" when the system says delayed. A reply that states the real state may mention
    another ("in transit, to be delivered by Friday")."""
    says_any = pl.any_horizontal(_says(reply, phrase) for phrase in ORDER_STATUS_PHRASES.values())
    return status.is_not_null() & says_any & ~states_order_status(reply, status)


def rule_problems(drafts: pl.DataFrame) -> pl.Series:
    """Per draft (columns `reply`, `cited_chunk_ids`, `retrieved_chunk_ids`, `knowledge`, and
    `order_status` when an investigation found the ticket's order), the rules of `REPLY_RULES` it
    breaks: citations must be among the chunks retrieved for the ticket; no request for a password,
    a one-time code or PIN, card or bank details; no card number; no link, amount, refund or credit
    the cited excerpts do not give; no order status the order system did not give."""
    if "order_status" not in drafts.columns:
        drafts = drafts.with_columns(order_status=pl.lit(None, pl.Utf8))
    reply = pl.col("reply").str.replace_all("[\u2018\u2019]", "'")
    reply = reply.str.replace_all(r"(?i)\b(?:do not|don't|dont) hesitate\b", "feel free")
    cited = pl.col("cited")
    cited_unknown = pl.col("cited_chunk_ids").list.set_difference(pl.col("retrieved_chunk_ids")).list.len() > 0
    checks = {
        CITES_NOTHING: pl.col("cited_chunk_ids").list.len() == 0,
        CITES_UNRETRIEVED: cited_unknown,
        **{rule: _asks_for(reply, secret) for rule, secret in _SECRETS.items()},
        HAS_CARD_NUMBER: reply.str.contains(CARD_NUMBER),
        HAS_LINK: _unallowed_links(reply, cited),
        NAMES_AMOUNT: _amounts(reply).list.set_difference(_amounts(cited)).list.len() > 0,
        MENTIONS_REFUND: _unallowed_money(reply, cited),
        WRONG_ORDER_STATUS: _wrong_order_status(reply, pl.col("order_status")),
    }
    problems = pl.concat_list([pl.when(checks[rule]).then(pl.lit(rule)) for rule in REPLY_RULES]).list.drop_nulls()
    return drafts.with_columns(cited=cited_excerpts(drafts)).select(problems=problems)["problems"]
