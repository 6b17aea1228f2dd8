"""The triage's language identifier (transform/language.py) and its settings."""

from __future__ import annotations

import pytest

from ai_assets.config import SettingsError, load_settings
from ai_assets.quality.metrics import accuracy_lower_bound
from ai_assets.transform.language import LanguageIdentifier


def test_it_answers_what_it_is_sure_of_and_leaves_the_rest_to_the_llm():
    identifier = LanguageIdentifier()
    found = identifier.identify(
        [
            "Hallo, mein Paket ist seit einer Woche nicht angekommen. Bitte helfen Sie mir.",
            "Bonjour, ma commande n'est toujours pas arrivée et personne ne répond.",
            "Olá, o meu pedido ainda não chegou e ninguém responde aos meus emails.",  # not served
            "",
            None,
            "  \n ",
        ]
    )
    assert [f[0] if f else None for f in found] == ["de", "fr", None, None, None, None]
    assert all(f[1] >= identifier.min_confidence for f in found[:2])
    # Served, the same Portuguese ticket is the identifier's.
    assert LanguageIdentifier(("en", "pt")).identify(["Olá, o meu pedido ainda não chegou."])[0][0] == "pt"


def test_a_code_it_does_not_know_fails_naming_the_setting():
    with pytest.raises(ValueError, match="AI_ASSETS_TRIAGE_LANGUAGES names languages the identifier does not know"):
        LanguageIdentifier(("en", "xx")).identify(["hello there, my parcel is late"])


def test_the_setting_is_normalised_and_checked():
    assert load_settings({"AI_ASSETS_TRIAGE_LANGUAGES": "de, EN,en-US"}).project.triage_languages == "de,en"
    for bad in (" , ", "e1,en"):
        with pytest.raises(SettingsError, match="AI_ASSETS_TRIAGE_LANGUAGES"):
            load_settings({"AI_ASSETS_TRIAGE_LANGUAGES": bad})


def test_the_version_and_the_codes_are_in_the_code_version():
    described = LanguageIdentifier(("en", "de"), 0.5).describe()
    assert described.startswith("py3langid-0.") and described.endswith(">=0.5[de,en]")
    assert described == LanguageIdentifier(("de", "en"), 0.5).describe()  # the order does not matter


def test_the_lower_bound_stays_within_zero_and_one():
    bounds = accuracy_lower_bound([0] * 200, list(range(200)))
    assert (bounds >= 0).all() and (bounds <= 1).all()
    assert float(accuracy_lower_bound(5, 5)) == pytest.approx(0.649, abs=1e-3)
    assert float(accuracy_lower_bound(0, 0)) == 0.0
