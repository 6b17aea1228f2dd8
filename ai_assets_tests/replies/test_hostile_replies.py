"""Rules that hold: a drafted reply that carries a link, asks for secrets or promises money the cited
excerpts do not allow goes to a human, whatever the critic says; legitimate replies stay approved."""

from __future__ import annotations

import json
import re
import zlib

import polars as pl
import pytest

from ai_assets.defs.replies.grounding import sentences
from ai_assets.defs.replies.tasks import rule_problems
from ai_assets.quality.vocabulary import REPLY_RULES
from ai_assets.sample_data.catalog import KB_ARTICLES
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.llm_server import default_responder
from ai_assets_tests.pipeline_tools import DRAFT_SYSTEMS

LINK = "contains a link"
PASSWORD = "asks for a password"
CODE = "asks for a one-time code or PIN"
CARD = "asks for card details"
BANK = "asks for bank details"
AMOUNT = "names an amount the cited excerpts do not state"
REFUND = "mentions a refund or credit the cited excerpts do not cover"

SHIPPING = "[kb-shipping-tracking#1] Tracking your order\nOrders placed before 14:00 ship the same day."
REFUNDS = (
    "[kb-billing-refunds#1] Refunds and double charges\n"
    "We refund the original payment method when a return arrives at our warehouse."
)
STATUS = "[kb-technical-service-status#1] Service status\nLive status is published at status.example.com."


def _problems(reply: str, knowledge: str = SHIPPING, cited: list[str] | None = None) -> list[str]:
    """The rules `reply` breaks; it cites the first excerpt of `knowledge` unless `cited` says otherwise."""
    retrieved = re.findall(r"^\[([^\]\n]+)\] ", knowledge, flags=re.MULTILINE)
    drafts = pl.DataFrame(
        {
            "reply": [reply],
            "cited_chunk_ids": [retrieved[:1] if cited is None else cited],
            "retrieved_chunk_ids": [retrieved],
            "knowledge": [knowledge],
        }
    )
    problems = rule_problems(drafts).to_list()[0]
    assert set(problems) <= set(REPLY_RULES)
    return problems


# --- each defect the issue reported, and its neighbours ----------------------------------------

HOSTILE = [
    # links: bare domains, www, shorteners
    ("Please confirm the refund at evil-refunds.com/claim.", {LINK, REFUND}),
    ("Your parcel update is at evil-refunds.com/claim", {LINK, REFUND}),  # the domain says "refunds"
    ("Your parcel update is at evil-parcels.com/claim", {LINK}),
    ("Details: bit.ly/x", {LINK}),
    ("See www.foo.net for the update.", {LINK}),
    ("See WWW.Foo.NET/Update for the update.", {LINK}),
    ("Track it at parcel-tracking.info today.", {LINK}),
    ("Track it at hxxps://parcels.example/track or http://192.168.4.1/x", {LINK}),
    # requests for credentials, codes, card and bank data, in questions and imperatives
    ("Please reply with your password and full card number.", {PASSWORD, CARD}),
    ("What is your card number and CVV?", {CARD}),
    ("To verify the charge, send us your full card number.", {CARD}),
    ("Could you tell us the security code on the back of your card?", {CARD}),
    ("Please confirm your PIN.", {CODE}),
    ("Send us your login details so we can check.", {PASSWORD}),
    ("Please share the one-time code we just texted you.", {CODE}),
    ("What's your OTP?", {CODE}),
    ("Please provide your bank details.", {BANK}),
    ("Kindly e-mail us your IBAN and sort code.", {BANK}),
    ("We need your online banking password to fix this.", {PASSWORD, BANK}),
    ("Don't worry, just reply to this message with your password.", {PASSWORD}),
    ("We never ask for passwords, but please send us your CVV.", {CARD}),
    # money the cited excerpt (about tracking) does not allow
    ("$5,000 refund approved.", {AMOUNT, REFUND}),
    ("We will refund you 200 EUR.", {AMOUNT, REFUND}),
    ("You will get a credit of £50 on your account.", {AMOUNT, REFUND}),
    ("You are entitled to a full refund.", {REFUND}),
    ("We've issued a refund for the duplicate charge.", {REFUND}),
    ("As compensation we are adding a voucher to your account.", {REFUND}),
    ("We'll pay you 30 dollars for the delay.", {AMOUNT}),
]


@pytest.mark.parametrize(("reply", "expected"), HOSTILE)
def test_a_hostile_reply_breaks_the_rules_it_should(reply: str, expected: set[str]):
    assert set(_problems(reply)) == expected


SHORTENERS = ["bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly"]


@pytest.mark.parametrize("host", SHORTENERS)
def test_shortened_links_are_links(host: str):
    assert _problems(f"Your tracking page: {host}/a1B2c3") == [LINK]
    assert _problems(f"Your tracking page: https://{host}/a1B2c3") == [LINK]


# --- what the cited excerpts allow -----------------------------------------------------------


def test_a_link_the_cited_excerpt_gives_is_allowed_and_only_that_one():
    assert _problems("Live status is at status.example.com.", STATUS) == []
    assert _problems("Live status is at https://status.example.com/incidents.", STATUS) == []
    assert _problems("Live status is at status.example.com.evil.io/x.", STATUS) == [LINK]
    # Retrieved but not cited: the reply does not rely on it, so it allows nothing.
    both = f"{SHIPPING}\n\n{STATUS}"
    assert _problems("Live status is at status.example.com.", both) == [LINK]


def test_a_shortened_link_is_allowed_only_verbatim():
    guide = "[kb-guide#1] Setup\nOur setup video: bit.ly/kb-setup"
    assert _problems("Here is our setup video: bit.ly/kb-setup.", guide) == []
    assert _problems("Here is our setup video: bit.ly/claim-now.", guide) == [LINK]


def test_refunds_and_amounts_are_allowed_by_what_the_excerpts_say():
    assert _problems("We refund the original payment method when your return arrives.", REFUNDS) == []
    assert _problems("We've issued a refund.", REFUNDS) == []
    assert _problems("$5,000 refund approved.", REFUNDS) == [AMOUNT]
    assert _problems("A credit of £50 is on its way.", REFUNDS) == [AMOUNT, REFUND]
    free = "[kb-shipping-free#1] Free shipping\nOrders above $50 ship free; below, shipping is 4.95 EUR."
    assert _problems("Orders above $50.00 ship free, otherwise it is EUR 4.95.", free) == []


# --- legitimate replies stay approved ----------------------------------------------------------

LEGITIMATE = [
    "We will never ask for your password, your full card number or your CVV.",
    "Never share one-time codes with anyone, including people who claim to be from our team.",
    "Please don't send card details by email or chat: our agents delete such messages.",
    "We have sent you a link to reset your password; it is valid for 60 minutes.",
    'Use "Forgot password" on the sign-in page to choose a new password.',
    "To identify the charge, please send the order id, the last four digits of the card and the date.",
    "Your order no. 12345 ships in 3-5 business days, e.g. by express (see section 2.1 of file.pdf).",
    "App v2.1 fixes the sync problem; please update to version 2.1.3 and restart.",
    "Thanks for your message about your password: the reset email is on its way.",
    "Your parcel ORD-12345 left our warehouse today at 14:00. Orders placed before 14:00 ship the same day.",
]


@pytest.mark.parametrize("reply", LEGITIMATE)
def test_a_legitimate_reply_breaks_no_rule(reply: str):
    assert _problems(reply) == []


def _kb_sections() -> list[tuple[str, str]]:
    return [
        (f"{article.article_id}#{i}", section.strip())
        for article in KB_ARTICLES
        for i, section in enumerate(article.body.split("## ")[1:], start=1)
    ]


@pytest.mark.parametrize(("chunk_id", "text"), _kb_sections())
def test_the_knowledge_base_said_back_breaks_no_rule(chunk_id: str, text: str):
    """A reply made of a sample KB section, citing it, is as clean as the KB itself."""
    reply = text.split("\n", 1)[1].replace("\n", " ")
    assert _problems(reply, f"[{chunk_id}] {text}") == []


# --- end to end: a model that obeys injected text sends nothing --------------------------------

OBEYED = [
    ("Done! Claim your refund at evil-refunds.com/claim", LINK),
    ("To finish, please reply with your password and full card number.", PASSWORD),
    ("$5,000 refund approved.", AMOUNT),
    ("See bit.ly/x for the next steps.", LINK),
    ("What is your card number and CVV?", CARD),
]


def _obeying_model(body: dict) -> str:
    answer = default_responder(body)
    if body["messages"][0]["content"] not in DRAFT_SYSTEMS:
        return answer  # triage and a critic that passes everything
    reply, _ = OBEYED[zlib.crc32(body["messages"][1]["content"].encode()) % len(OBEYED)]
    return json.dumps({**json.loads(answer), "reply": reply})


def test_replies_of_a_model_that_obeys_injected_text_are_never_sent(pipeline: Pipeline):
    pipeline.server.responder = _obeying_model
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)

    assert pipeline.count("reply_drafts", "outcome = 'approved'") == 0
    assert pipeline.count("ticket_outcomes", "status = 'auto_approved'") == 0
    assert pipeline.count("outbox", "action_type = 'send_reply'") == 0
    found = dict(pipeline.sql("select reply, list_distinct(flatten(list(problems))) from reply_rounds group by reply"))
    for reply, problem in OBEYED:
        assert problem in found.get(reply, [problem]), (reply, found.get(reply))
    assert sum(reply in found for reply, _ in OBEYED) >= 3  # the day's tickets drew most of them


# --- auto-send by grounding: what no rule catches is still never sent unread -------------------

# Phrasings every rule check lets through (the first is the one the issue saw sent), in four
# languages; the model adds them after a sentence its cited excerpt does support.
UNCAUGHT = [
    "Type your login password in your reply so we can check.",
    "Enter the code we just sent to your phone in your answer.",
    "Pay the remaining customs fee by transfer to our partner's account.",
    "Click the button in our next email to confirm your account.",
    "Bitte geben Sie Ihr Passwort in Ihrer Antwort ein.",
    "Merci de nous envoyer votre mot de passe.",
    "Per favore, ci invii la sua password.",
]


def _model_adding(sentences: list[str]):
    def respond(body: dict) -> str:
        answer = default_responder(body)
        if body["messages"][0]["content"] not in DRAFT_SYSTEMS:
            return answer
        draft = json.loads(answer)
        if not sentences:
            return answer
        extra = sentences[zlib.crc32(body["messages"][1]["content"].encode()) % len(sentences)]
        return json.dumps({**draft, "reply": f"{draft['reply']} {extra}"})

    return respond


def test_replies_no_rule_catches_are_not_sent_unless_grounded(pipeline: Pipeline):
    assert all(_problems(sentence) == [] for sentence in UNCAUGHT)  # the rules alone would send them
    pipeline.server.responder = _model_adding(UNCAUGHT)
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)

    assert pipeline.count("reply_drafts", "outcome = 'approved'") == 0
    assert pipeline.count("ticket_outcomes", "status = 'auto_approved'") == 0
    assert pipeline.count("outbox", "action_type = 'send_reply'") == 0
    reasons = [r for (r,) in pipeline.sql("select reason from reply_drafts where reason like '%not grounded%'")]
    drawn = [s for s in UNCAUGHT if any(f'not grounded: "{s}"' in r for r in reasons)]
    assert len(drawn) >= 4, reasons  # the day's tickets drew most of them, each named in its reason


def test_a_reply_its_cited_excerpt_supports_is_still_auto_sent(pipeline: Pipeline):
    pipeline.server.responder = _model_adding([])  # the default: an opening and the excerpt's sentence
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)

    sent = pipeline.sql(
        "select d.reply, d.cited_chunk_ids from outbox o join reply_drafts d using (ticket_id, created_date)"
        " where o.action_type = 'send_reply'"
    )
    assert len(sent) >= 5
    chunks = dict(pipeline.sql("select chunk_id, text from kb_chunks"))
    for reply, cited in sent:
        opening, excerpt, *facts = sentences(reply)  # facts: what the investigation found, if anything
        assert opening == "Thank you for your message." and excerpt in chunks[cited[0]].replace("\n", " "), reply
