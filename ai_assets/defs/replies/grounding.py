"""Auto-send by grounding: a reply goes out without a human only when each of its sentences is
supported by the knowledge-base excerpts it cites, or is one of a few fixed formulaic sentences, or
asks for nothing but what a customer may safely be asked for. No Dagster here.

Why not more rules: each rule catches one phrasing and the next phrasing passes ("Type your login
password in your reply" passed every rule). Here what is allowed is listed, not what is forbidden:
a sentence nobody can trace to a cited excerpt goes to a human, whatever it says and in whatever
language. The rule checks of `tasks.py` stay as a second line.

The support of a reply is the text of the excerpts it cites, and the facts the investigation
rendered for the ticket from the tools' structured answers ("- Order ORD-1 is delayed (...)",
"- Earlier tickets of this customer: 2 (...)"), one a line; the help-centre search line, which
quotes the model's query, is left out. A sentence is supported when
- it is a formulaic sentence (greeting, thanks, apology, closing, "a colleague will follow up"),
  compared whole after normalising case and punctuation (a greeting may carry the customer's name
  from the CRM, when the caller gives it); or
- every word of it is in `SAFE_REQUEST_WORDS`, a closed vocabulary that can only ask for an order
  number, a photo, a date and the like; or
- its embedding is at least `min_support` (cosine) from a sentence of the cited excerpts of the same
  polarity (both negated or neither: embeddings barely tell "we will never ask for your password"
  from "we will ask for your password"), every number in it is in the support, and, when it
  asks the customer for something, every word of it is in that supporting sentence or the safe
  vocabulary: a request is sent only when the knowledge base itself makes it.

Embedding similarities depend on the model, so `min_support` is chosen per embedding model on the
labelled sentences of `benchmarks/data/grounding_labels.jsonl` (`benchmarks/grounding.py`); with no
threshold for the configured model, or when the sentences cannot be embedded, every reply goes to a
human with the reason (fail closed).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import polars as pl

from ai_assets.defs.replies.tasks import cited_excerpts

# texts -> unit-normalised or not vectors, one row per text (the project's embedding engine).
Embed = Callable[[list[str]], np.ndarray]

# Whole sentences, normalised by `_normal`, that say nothing a knowledge base must back.
FORMULAIC = frozenset(
    {
        # en
        "hello", "hi", "hi there", "dear customer", "good morning", "good afternoon",
        "thank you", "thanks", "thank you for your message", "thank you for contacting us",
        "thank you for reaching out", "thanks for reaching out", "thank you for your patience",
        "thank you for letting us know", "thanks for letting us know",
        "we are sorry for the inconvenience", "sorry for the inconvenience",
        "we apologise for the inconvenience", "we apologize for the inconvenience",
        "we are sorry to hear that", "we're sorry to hear that", "sorry to hear that",
        "a colleague will follow up", "a colleague will follow up shortly",
        "a colleague will follow up with you", "a colleague will follow up with you shortly",
        "a colleague will get back to you", "a colleague will get back to you shortly",
        "let us know if there is anything else we can help with",
        "let us know if you have any other questions", "we are happy to help", "we're happy to help",
        "have a nice day", "have a great day", "best regards", "kind regards", "regards", "best wishes",
        "your support team", "the support team", "customer support",
        # de
        "hallo", "guten tag", "sehr geehrte kundin sehr geehrter kunde", "vielen dank",
        "vielen dank für ihre nachricht", "danke für ihre nachricht", "danke für ihre geduld",
        "entschuldigen sie die unannehmlichkeiten", "wir entschuldigen uns für die unannehmlichkeiten",
        "ein kollege meldet sich bei ihnen", "eine kollegin oder ein kollege meldet sich bei ihnen",
        "mit freundlichen grüßen", "freundliche grüße", "viele grüße", "ihr support-team", "ihr support team",
        # fr
        "bonjour", "madame monsieur", "merci", "merci pour votre message", "merci de nous avoir contactés",
        "merci pour votre patience", "nous sommes désolés pour la gêne occasionnée",
        "nous vous prions de nous excuser pour la gêne occasionnée",
        "un collègue reviendra vers vous", "un collègue vous recontactera", "cordialement",
        "bien cordialement", "l'équipe support", "l'équipe du support",
        # es
        "hola", "buenos días", "estimado cliente", "gracias", "gracias por su mensaje",
        "gracias por contactarnos", "gracias por su paciencia", "disculpe las molestias",
        "lamentamos las molestias", "un compañero se pondrá en contacto con usted", "saludos cordiales",
        "un saludo", "el equipo de soporte", "atentamente",
        # it
        "ciao", "buongiorno", "gentile cliente", "grazie", "grazie per il suo messaggio",
        "grazie per averci contattato", "ci scusiamo per il disagio", "un collega la ricontatterà",
        "cordiali saluti", "distinti saluti", "il team di supporto",
        # nl ("hallo" is above)
        "beste klant", "dank u wel", "bedankt voor uw bericht", "bedankt voor je bericht",
        "excuses voor het ongemak", "een collega neemt contact met u op", "met vriendelijke groet",
        "vriendelijke groeten", "het supportteam",
        # ja
        "こんにちは", "お問い合わせいただきありがとうございます", "よろしくお願いいたします", "サポートチーム",
        # what a template reply (templates.py) says before the excerpt it quotes, in each language
        "from our help centre", "aus unserem hilfe-center auf englisch", "de notre centre d'aide en anglais",
        "de nuestro centro de ayuda en inglés", "dal nostro centro assistenza in inglese",
        "uit ons helpcentrum in het engels", "ヘルプセンターより 英語",
    }
)  # fmt: skip

# A greeting with the customer's name from the CRM (never from the ticket): "{name}" is replaced by
# the normalised name, and the whole sentence compared ("Hello Anna Weber," with Anna Weber the
# customer; "Hello Anna, send your password" is no greeting).
NAMED_GREETINGS = (
    "hello {name}", "hi {name}", "dear {name}", "hallo {name}", "guten tag {name}", "bonjour {name}",
    "hola {name}", "buongiorno {name}", "gentile {name}", "beste {name}", "{name}様", "{name} 様",
)  # fmt: skip

# A closed vocabulary in which a sentence can ask for an order number, a photo of the item or its
# packaging, the date of a charge, a cancellation confirmation, a serial number, and nothing else:
# no word of it names a secret, a card, an identity document, a link, a payment or a place to go.
SAFE_REQUEST_WORDS = frozenset(
    """
    please kindly could would can you your yours us we our the a an and or of on for with to from in
    it its this that these those if any each also just by so help check look into
    send share reply attach include provide let know tell give forward
    order orders number numbers reference photo photos picture pictures image images
    item items parcel packaging package box damage damaged date dates charge charges
    cancellation confirmation serial device product
    bitte senden schicken sie uns ihre ihren ihr die der das den dem und oder ein eine einen von vom mit
    bestellnummer bestellung foto fotos bild bilder artikel paket verpackung datum seriennummer
    s'il vous plaît plait merci de nous envoyer envoyez votre vos le la les l' un une et ou du des
    numéro commande photo colis emballage article date série
    por favor envíenos envíe nos su sus el la los las un una y o de del número pedido foto fotos
    paquete embalaje artículo fecha serie
    per favore ci invii inviateci il lo la i gli le un una e o di del numero ordine foto pacco
    imballaggio articolo data serie
    graag alstublieft stuur stuurt ons uw je de het een en of van met bestelnummer bestelling foto
    pakket verpakking artikel datum serienummer
    """.split()  # noqa: SIM905 -- a word list reads best as words
)

# A sentence asks the customer to do or give something when it is a question or holds one of these
# (imperatives and polite requests, in the ticket languages). Missing one only means the sentence
# must still be supported by an excerpt; finding one holds a request to the excerpt's own words.
_REQUEST_WORDS = (
    r"please|kindly|send|reply|respond|type|enter|click|tap|visit|go|call|phone|pay|transfer|wire|share"
    r"|provide|confirm|give|tell|submit|upload|attach|include|forward|log|sign|download|install|open|write"
    r"|text|email|e-mail|message|contact|verify|let us know|scan|follow|use|choose|start|print"
    r"|bitte|senden|schicken|geben|antworten|klicken|zahlen|bezahlen|überweisen|rufen|teilen|bestätigen"
    r"|melden|öffnen|installieren|eingeben"
    r"|veuillez|merci de|envoyez|envoyer|répondez|cliquez|payez|tapez|saisissez|indiquez|communiquez"
    r"|confirmez|appelez|ouvrez|installez|transférez"
    r"|por favor|envíe|envíenos|responda|haga clic|pague|escriba|introduzca|indique|confirme|llame"
    r"|abra|instale|transfiera"
    r"|per favore|invii|inviate|risponda|clicchi|paghi|scriva|inserisca|confermi|chiami|apra|installi"
    r"|alstublieft|graag|stuur|antwoord|klik|betaal|typ|voer|bevestig|bel|open|installeer"
)
_REQUEST = re.compile(rf"\?|(?<!\w)(?:{_REQUEST_WORDS})(?!\w)", re.IGNORECASE)
_NEGATION = re.compile(
    r"(?<!\w)(?:not|no|never|nothing|none|nobody|cannot|can't|won't|don't|doesn't|didn't|isn't|aren't"
    r"|nicht|nie|niemals|kein|keine|keinen|keiner|nichts|ne|pas|jamais|aucun|aucune|rien|nunca|nada"
    r"|ningún|ninguna|non|mai|nessun|nessuna|niente|niet|nooit|geen|niets)(?!\w)",
    re.IGNORECASE,
)
# `investigation.summarise` renders facts one a line; only the search line quotes model-chosen text.
_FACT = re.compile(r"^- ((?!Help-centre search for ).+)$", re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_ADDRESS = re.compile(r"\S*[@/]\S*|\w+(?:\.\w+)+")
# Anything in a sentence but words, spaces and sentence punctuation: digits, @, /, +, a dotted name.
_NOT_PLAIN = re.compile(r"[^\w\s.,!?;:'’\"()-]|[\d_]|\w[.:]\w")


def sentences(text: str) -> list[str]:
    """The sentences of `text`: split after . ! ? and at line breaks; those with neither a word nor a
    number dropped (a line of digits alone, a phone number, is a sentence to judge)."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text or "")
    return [part.strip() for part in parts if _WORD.search(part) or _NUMBER.search(part)]


def _normal(sentence: str) -> str:
    text = unicodedata.normalize("NFC", sentence).lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w\s'-]", " ", text).split())


def _words(sentence: str) -> set[str]:
    return set(_WORD.findall(_normal(sentence)))


def _negated(sentence: str) -> bool:
    return bool(_NEGATION.search(sentence.replace("’", "'")))


def _numbers(text: str) -> set[str]:
    return {n.rstrip(".,:") for n in _NUMBER.findall(text)}


def _addresses(text: str) -> set[str]:
    """E-mail addresses, links and dotted names (help@order.it, evil.example/pay, order.it)."""
    return {a.rstrip(".,:;!?").lower() for a in _ADDRESS.findall(text)}


def _greets(sentence: str, name: str | None) -> bool:
    """A greeting with the customer's name, and nothing else."""
    return bool(name) and _normal(sentence) in {_normal(g.format(name=name)) for g in NAMED_GREETINGS}


def _free(sentence: str, name: str | None = None) -> bool:
    """Formulaic (a greeting may name the customer `name`), or said in the safe request vocabulary
    alone, with nothing but words: no number, address or link can ride along ("Please send the photo
    to +49 151 2345678", "... to help@order.it")."""
    if _normal(sentence) in FORMULAIC or _greets(sentence, name):
        return True
    return not _NOT_PLAIN.search(sentence) and _words(sentence) <= SAFE_REQUEST_WORDS


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _quote(sentence: str) -> str:
    return f'"{sentence[:77]}..."' if len(sentence) > 80 else f'"{sentence}"'


def judge_reply(
    reply: str, cited: str, vectors: dict[str, np.ndarray], min_support: float, name: str | None = None
) -> list[str]:
    """The problems of one reply against its cited excerpts' text (empty: it may be sent);
    `vectors` holds a unit vector for every sentence of both; `name`: the customer's, from the CRM."""
    support = sentences(cited)
    cited_numbers, cited_addresses = _numbers(cited), _addresses(cited)
    problems = []
    for sentence in sentences(reply):
        if _free(sentence, name):
            continue
        same_polarity = [s for s in support if _negated(s) == _negated(sentence)]
        scores = [float(vectors[sentence] @ vectors[s]) for s in same_polarity]
        best = int(np.argmax(scores)) if scores else -1
        score = scores[best] if scores else 0.0
        if not scores or score < min_support:
            problems.append(
                f"not grounded: {_quote(sentence)} has best support {score:.2f} in the cited excerpts"
                f" (needs {min_support:.2f})"
            )
        elif not _numbers(sentence) <= cited_numbers:
            problems.append(f"not grounded: {_quote(sentence)} states a number its support does not")
        elif not _addresses(sentence) <= cited_addresses:
            problems.append(f"not grounded: {_quote(sentence)} names an address or link its support does not")
        elif _REQUEST.search(sentence) and not _words(sentence) <= _words(same_polarity[best]) | SAFE_REQUEST_WORDS:
            extra = sorted(_words(sentence) - _words(same_polarity[best]) - SAFE_REQUEST_WORDS)
            problems.append(
                f"not grounded: {_quote(sentence)} asks the customer for what no cited excerpt asks for"
                f" ({', '.join(extra[:5])})"
            )
    return problems


def tool_facts(facts: str | None) -> str:
    """The facts of an investigation rendered from tool results alone."""
    return "\n".join(_FACT.findall(facts or ""))


def grounding_problems(drafts: pl.DataFrame, embed: Embed, min_support: float | None, model: str) -> pl.Series:
    """Per draft (columns `reply`, `cited_chunk_ids`, `knowledge`, `facts` when investigated and
    `customer_name` when the CRM's name may greet the customer), why
    it may not be sent without a human; an empty list when every sentence is supported. Fails closed:
    with no threshold for `model`, or when `embed` fails, every draft gets the reason."""
    if drafts.height == 0:
        return pl.Series("grounding", [], pl.List(pl.Utf8))
    replies, cited = drafts["reply"].fill_null("").to_list(), cited_excerpts(drafts).to_list()
    if "facts" in drafts.columns:
        cited = [f"{text}\n{tool_facts(facts)}" for text, facts in zip(cited, drafts["facts"].to_list())]

    def everyone(reason: str) -> pl.Series:
        return pl.Series("grounding", [[reason]] * drafts.height, pl.List(pl.Utf8))

    if min_support is None:
        return everyone(
            f"not grounded: no grounding threshold for the embedding model {model}; set "
            "AI_ASSETS_GROUNDING_MIN_SUPPORT (choose it with benchmarks/grounding.py)"
        )
    texts = sorted({s for text in replies + cited for s in sentences(text)})
    try:
        vectors = dict(zip(texts, _unit(embed(texts)))) if texts else {}
    except Exception as error:  # noqa: BLE001 -- any failure to score must send the replies to a human
        return everyone(f"not grounded: the sentences could not be embedded ({type(error).__name__}: {error})")
    names = drafts["customer_name"].to_list() if "customer_name" in drafts.columns else [None] * drafts.height
    judged = [judge_reply(reply, text, vectors, min_support, name) for reply, text, name in zip(replies, cited, names)]
    return pl.Series("grounding", judged, pl.List(pl.Utf8))
