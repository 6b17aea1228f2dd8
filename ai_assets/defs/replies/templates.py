"""Template replies, for a model too small to draft (the embedded 135M one drafts no reply that passes
the checks): the ticket's best knowledge-base chunk quoted verbatim inside fixed phrases in the
ticket's language. No Dagster here.

A template reply is a greeting (with the customer's CRM name when there is one), a thank-you, "From
our help centre:" (in English, or saying the excerpt is in English: the knowledge base is, and a
quote is not translated), the first sentences of the top chunk retrieved for the ticket, and a
closing. It cites that chunk and goes through the same rule and grounding checks as a drafted reply;
no critic is asked, because nothing in it comes from the ticket: its text is the knowledge base's
and ours, so a ticket that tells the model what to write has no model to tell. A ticket with no
chunk to quote goes to a human, and so does one whose top chunk is about another category than the
ticket's triage category, or scores below the minimum: the nearest passage is not always an answer
("where is my parcel" retrieved the password reset), and an off-topic reply sent unread is worse
than a review. The category guard was chosen by measurement (benchmarks/template_replies.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import polars as pl

from ai_assets.defs.replies.grounding import sentences
from ai_assets.defs.replies.loop import LOOP_INPUTS, Ground, LoopResult, as_rounds
from ai_assets.defs.replies.tasks import cited_excerpts, rule_problems

TEMPLATE_STEP = "template"  # reply_rounds.step of a template reply
QUOTED_SENTENCES = 2  # of the top chunk, after its title line
FALLBACK_LANGUAGE = "en"
# What a template reply reads of a ticket besides the loop's inputs: the triage's language and
# category, the customer's name from the CRM, and its top chunk's category and score.
# A name the greeting may carry: letters (any script), spaces, hyphens, apostrophes, up to 4 words and
# 40 characters. Anything else (digits, a phone number, "Dr." with its period) greets without a name:
# the greeting's sentence is exempt from the grounding check, so it must not carry CRM text that says more.
GREETABLE_NAME = r"^[^\W\d_]+(?:[ '-][^\W\d_]+){0,3}$"
TEMPLATE_INPUTS = (*LOOP_INPUTS, "language", "customer_name", "category", "top_chunk_category", "top_score")


@dataclass(frozen=True)
class ReplyTemplate:
    """The fixed phrases of a reply in one language, each a sentence the grounding check knows as
    formulaic (grounding.FORMULAIC, NAMED_GREETINGS)."""

    greeting: str  # with {name}: the customer's name from the CRM
    nameless_greeting: str
    thanks: str
    source: str  # before the quote: it is the help centre's, in English
    closing: str
    signature: str


TEMPLATES = {
    "en": ReplyTemplate(
        "Hello {name},", "Hello,", "Thank you for your message.", "From our help centre:", "Kind regards,",
        "Your support team",
    ),
    "de": ReplyTemplate(
        "Hallo {name},", "Guten Tag,", "Vielen Dank für Ihre Nachricht.", "Aus unserem Hilfe-Center (auf Englisch):",
        "Mit freundlichen Grüßen", "Ihr Support-Team",
    ),
    "es": ReplyTemplate(
        "Hola {name}:", "Hola:", "Gracias por su mensaje.", "De nuestro centro de ayuda (en inglés):",
        "Saludos cordiales,", "El equipo de soporte",
    ),
    "fr": ReplyTemplate(
        "Bonjour {name},", "Bonjour,", "Merci pour votre message.", "De notre centre d'aide (en anglais) :",
        "Cordialement,", "L'équipe support",
    ),
    "it": ReplyTemplate(
        "Buongiorno {name},", "Buongiorno,", "Grazie per il suo messaggio.",
        "Dal nostro centro assistenza (in inglese):", "Cordiali saluti,", "Il team di supporto",
    ),
    "ja": ReplyTemplate(
        "{name}様", "こんにちは。", "お問い合わせいただきありがとうございます。", "ヘルプセンターより（英語）：",
        "よろしくお願いいたします。", "サポートチーム",
    ),
    "nl": ReplyTemplate(
        "Beste {name},", "Beste klant,", "Bedankt voor uw bericht.", "Uit ons helpcentrum (in het Engels):",
        "Met vriendelijke groet,", "Het supportteam",
    ),
}  # fmt: skip


def template_version(grounding: str, min_score: float = 0.0) -> str:
    """The version of template replies: the phrases, the quote's length, the minimum score of a quote
    and the grounding check's embedding model and threshold; a change to any marks the replies unsynced."""
    material = json.dumps(
        [{k: asdict(t) for k, t in sorted(TEMPLATES.items())}, QUOTED_SENTENCES, min_score, grounding]
    )
    return f"reply_template@{hashlib.sha256(material.encode()).hexdigest()[:12]}"


def quote(chunk_text: str) -> str:
    """The first QUOTED_SENTENCES sentences of a chunk, one a line, as the grounding check splits
    them (so each is a sentence of the excerpt, word for word); the chunk's first line, its article
    title and heading, left out."""
    body = chunk_text.partition("\n")[2]
    return "\n".join(sentences(body)[:QUOTED_SENTENCES])


def off_topic(min_score: float) -> pl.Expr:
    """Why a ticket's top chunk may not be quoted to it, null when it may: its article's category is
    not the ticket's triage category, or its cosine is below `min_score`."""
    passage = pl.format(
        "the nearest help-centre passage ({}, score {}, category {})",
        pl.col("retrieved_chunk_ids").list.first(),
        # Two decimals: 0.8 reads 0.80, as the setting does.
        pl.col("top_score").round(2).cast(pl.Utf8).str.pad_end(4, "0").fill_null("unknown"),
        pl.col("top_chunk_category").fill_null("unknown"),
    )
    return (
        pl.when(pl.col("top_chunk_category").ne_missing(pl.col("category")))
        .then(
            pl.format(
                "{} is not about this ticket's category {}: not quoted",
                passage,
                pl.col("category").fill_null("unknown"),
            )
        )
        .when(pl.col("top_score").fill_null(float("-inf")) < min_score)
        .then(pl.format(f"{{}} is below AI_ASSETS_TEMPLATE_MIN_SCORE {min_score:.2f}: not quoted", passage))
    )


def _templates() -> pl.DataFrame:
    return pl.DataFrame([{"template_language": language, **asdict(t)} for language, t in TEMPLATES.items()])


def template_replies(tickets: pl.DataFrame) -> pl.DataFrame:
    """Per ticket (TEMPLATE_INPUTS), its template reply citing its top chunk; `reply` null when the
    ticket has no chunk, or its chunk no sentence, to quote."""
    cited = tickets.with_columns(cited_chunk_ids=pl.col("retrieved_chunk_ids").list.head(1))
    # One Python call per ticket, no LLM: the grounding check's own sentence splitter picks the quote.
    excerpt = cited_excerpts(cited).map_elements(quote, return_dtype=pl.Utf8)
    language = pl.when(pl.col("language").is_in(list(TEMPLATES))).then("language").otherwise(pl.lit(FALLBACK_LANGUAGE))
    framed = cited.with_columns(excerpt=excerpt, template_language=language).join(
        _templates(), on="template_language", how="left"
    )
    greeting = (
        pl.when(
            pl.col("customer_name").str.strip_chars().str.contains(GREETABLE_NAME)
            & (pl.col("customer_name").str.strip_chars().str.len_chars() <= 40)
        )
        .then(pl.col("greeting").str.replace("{name}", pl.col("customer_name").str.strip_chars(), literal=True))
        .otherwise("nameless_greeting")
    )
    reply = pl.concat_str(
        [greeting, pl.lit("\n\n"), "thanks", pl.lit("\n"), "source", pl.lit("\n"), "excerpt", pl.lit("\n\n"), "closing"]
        + [pl.lit("\n"), "signature"]
    )
    return framed.select(*tickets.columns, "cited_chunk_ids", reply=pl.when(pl.col("excerpt") != "").then(reply))


def run_template_replies(tickets: pl.DataFrame, ground: Ground, version: str, min_score: float = 0.0) -> LoopResult:
    """A template reply per ticket (`tickets`: TEMPLATE_INPUTS), checked by the rules and the grounding
    check like a drafted one: approved when both pass, else needs_human with their problems; a
    ticket with nothing to quote, or whose top chunk is off its topic (`off_topic(min_score)`), goes
    to a human without a round. `version`: template_version's."""
    replies = template_replies(tickets.select(TEMPLATE_INPUTS)).with_columns(
        quotable=pl.col("reply").is_not_null(), off_topic=off_topic(min_score)
    )
    replies = replies.with_columns(reply=pl.when(pl.col("off_topic").is_null()).then("reply"))
    quoted = replies.filter(pl.col("reply").is_not_null())
    checked = quoted.with_columns(rules=rule_problems(quoted), grounding=ground(quoted)).with_columns(
        problems=pl.concat_list("rules", "grounding")
    )
    passed = pl.col("problems").list.len() == 0
    rounds = checked.select(
        "row_key",
        "reply",
        "cited_chunk_ids",
        "problems",
        round=pl.lit(1, pl.Int32),
        step=pl.lit(TEMPLATE_STEP),
        verdict=pl.when(passed).then(pl.lit("pass")).otherwise(pl.lit("fail")),
        draft_prompt_version=pl.lit(version),
        prompt_tokens=pl.lit(0),
        completion_tokens=pl.lit(0),
        cost_usd=pl.lit(0.0),
        cache_hit=pl.lit(True),  # no call was made
    )
    nothing_to_quote = pl.format(
        "no knowledge-base excerpt to quote: {}",
        pl.when(pl.col("retrieved_chunk_ids").list.len() == 0)
        .then(pl.lit("no chunk was retrieved for this ticket"))
        .otherwise(pl.format("its top chunk {} has no sentence", pl.col("retrieved_chunk_ids").list.first())),
    )
    outcomes = replies.join(checked.select("row_key", "problems"), on="row_key", how="left").select(
        "row_key",
        "reply",
        pl.when(pl.col("reply").is_not_null()).then("cited_chunk_ids").otherwise(pl.lit([], pl.List(pl.Utf8))),
        rounds=pl.when(pl.col("reply").is_not_null()).then(pl.lit(1)).otherwise(pl.lit(0)),
        outcome=pl.when(pl.col("reply").is_not_null() & (pl.col("problems").list.len() == 0))
        .then(pl.lit("approved"))
        .otherwise(pl.lit("needs_human")),
        reason=pl.when(~pl.col("quotable"))
        .then(nothing_to_quote)
        .when(pl.col("off_topic").is_not_null())
        .then("off_topic")
        .when(pl.col("problems").list.len() > 0)
        .then(pl.format("the template reply fails its checks: {}", pl.col("problems").list.join("; "))),
    )
    return LoopResult(as_rounds([rounds]), outcomes)
