"""Redact personal data from text before it leaves for a model endpoint that is not on this machine:
e-mail addresses, IBANs, phone numbers, payment card numbers, card security codes and one-time
codes or PINs. Vectorised: one regex pass per kind over a column (polars' regex engine has no
look-around, so every pattern says what it consumes).

Privacy comes first where a format is ambiguous: a card number is any 13 to 19 digits (no Luhn
check, so a mistyped card number is still redacted) and an IBAN any string of its country's length
(no checksum, for the same reason). What stays, so the models can still work: order and ticket
ids, dates and times, amounts, version numbers, and digits that are not grouped like a phone
number (a bare 10-digit number is an order reference as often as a phone number)."""

from __future__ import annotations

import re

import polars as pl

# Total IBAN length per country (SWIFT IBAN registry): country code, 2 check digits, the BBAN.
_IBAN_REGISTRY = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 "
    "DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 "
    "HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 "
    "MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 "
    "RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 "
    "VA22 VG24 XK20 YE30"
)
IBAN_LENGTHS = {country: int(length) for country, length in re.findall(r"([A-Z]{2})(\d{2})", _IBAN_REGISTRY)}

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

# Compact, or spaced in groups (of four, usually), in either case; exactly the country's length.
IBAN = (
    r"(?i)\b(?:"
    + "|".join(f"{cc}\\d{{2}}(?:[ -]{{0,2}}[A-Z0-9]){{{n - 4}}}" for cc, n in IBAN_LENGTHS.items())
    + r")\b"
)

# "+" or "00", a country code, then 7 to 15 digits in all (16 with a trunk "(0)"), any of
# space . - / ( ) between them, up to four together ("+44 (0) 20 ...", "+1 (555) 123-4567").
# Before card numbers, so a long international number is not taken for one.
PHONE_INTERNATIONAL = (
    r"(?:\+[1-9](?:[ .\-/()]{0,4}\d){6,15}"
    r"|\b00[1-9]\d{0,2}[ .\-/(](?:[ .\-/()]{0,4}\d){6,15})"
)

# 13 to 19 digits, any separators between them (spaces, double spaces, dashes, dots): payment card
# numbers (ISO/IEC 7812). The reply rules flag the same pattern, so what is redacted and what is
# refused agree.
CARD_NUMBER = r"\b\d(?:[ .\-]{0,3}\d){12,18}\b"

# The code next to its name, in the same sentence: "CVV: 123", "security code is 789", "cvc 1234".
CARD_CODE = (
    r"(?i)\b(?:cvv2?|cvc2?|cvn|csc|security code|card code|card verification (?:code|value|number))\b"
    r"[^\d\n.!?]{0,20}\d{3,4}\b"
)
ONE_TIME_CODE = (
    r"(?i)\b(?:one[- ]time (?:pass)?code|one[- ]time password|otp|verification code|2fa code|"
    r"two[- ]factor code|authentication code|backup code|recovery code|passcode|pin(?: code| number)?)\b"
    r"[^\d\n.!?]{0,20}\d{4,8}\b"
)

# National formats. North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199.
_NANP = r"(?:\b1[ .\-]{1,2})?(?:\(\d{3}\)[ .\-]{0,2}|\b\d{3}[ .\-]{1,2})\d{3}[ .\-]{1,2}\d{4}\b"
# A trunk 0 and an area code, then the subscriber number: 07911 123456, 030 1234567,
# (030) 123 4567, 020 7946 0958, 0171/1234567. No dots, and no dash or slash after a one-digit
# area code, so 01.05.2024, 05/01/2024 14:00 and 05-01-2024 09:15 stay dates.
_TRUNK = r"(?:\(0\d{1,4}\)[ \-]{0,2}|\b0\d{2,4}[\-/]|\b0\d{1,4} {1,2})(?:\d{3,8}(?:[ \-]{1,2}\d{2,8}){1,3}|\d{5,10})\b"
# French pairs (01 23 45 67 89, 01.23.45.67.89) and a compact national number (0612345678).
_PAIRS = r"\b0[1-9](?:[ .\-]{1,2}\d{2}){4}\b|\b0[1-9]\d{8,9}\b"
PHONE_NATIONAL = f"{_NANP}|{_TRUNK}|{_PAIRS}"

# Order matters: each pass runs on what the earlier ones left, so the most specific come first
# (the domain of an e-mail, the digits of an IBAN, an international number's country code).
PII_PATTERNS = (
    ("[EMAIL]", EMAIL),
    ("[IBAN]", IBAN),
    ("[PHONE]", PHONE_INTERNATIONAL),
    ("[CARD]", CARD_NUMBER),
    ("[CVV]", CARD_CODE),
    ("[CODE]", ONE_TIME_CODE),
    ("[PHONE]", PHONE_NATIONAL),
)


def redact_expr(expr: pl.Expr) -> pl.Expr:
    for placeholder, pattern in PII_PATTERNS:
        expr = expr.str.replace_all(pattern, placeholder)
    return expr


def redact_text(text: str) -> str:
    """`redact_expr` for one text (a tool result on its way to a model)."""
    return pl.select(redact_expr(pl.lit(text, pl.Utf8))).item()
