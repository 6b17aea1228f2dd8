"""The triage answer's normalisations: what a model says loosely becomes what the table stores."""

import pytest
from pydantic import ValidationError

from ai_assets.defs.triage.tasks import TicketTriage

ANSWER = {"category": "billing", "urgency": "low", "sentiment": "neutral", "language": "en", "confidence": 0.9}


@pytest.mark.parametrize(("said", "stored"), [(0.85, 0.85), (85, 0.85), (1, 1.0), (100, 1.0), (0, 0.0)])
def test_a_percentage_confidence_is_a_share(said, stored):
    assert TicketTriage.model_validate({**ANSWER, "confidence": said}).confidence == pytest.approx(stored)


@pytest.mark.parametrize("said", [700, -0.5, "high"])
def test_a_confidence_that_is_no_share_nor_percentage_is_invalid(said):
    with pytest.raises(ValidationError, match="confidence"):
        TicketTriage.model_validate({**ANSWER, "confidence": said})


def test_a_language_tag_is_its_primary_subtag():
    assert TicketTriage.model_validate({**ANSWER, "language": "EN-us"}).language == "en"
