"""How sound a description is (formats/description_trust.py): repeated and invented words."""
from __future__ import annotations

import pytest

from formats.description_trust import description_confidence, invented_words, repeated_words, words_of

OCR = ["LONDON, Oct. 3 -- The Queen opens the new Severn Bridge", "Photo by John Smith", "1 9 6 6"]


@pytest.mark.parametrize("text, repeated", [
    ("Mrs. Mrs. Mrs. Smith", 2), ("the the Queen", 1), ("at the bridge at the bridge", 3),
    ("The Queen opens the bridge", 0), ("Queen, queen", 1),
])
def test_repeated_words_count_each_repetition_of_the_run_before(text, repeated):
    assert repeated_words(words_of(text)) == repeated


def test_words_found_in_the_ocr_up_to_noise_or_common_in_the_language_are_not_invented():
    assert invented_words(words_of("The Queen opens the Sevem Bridge in 1966"), OCR) == 0  # Sevem: OCR noise
    assert invented_words(words_of("La reine inaugure le pont"), OCR) == 3  # reine, inaugure, pont: not on the print
    assert invented_words(words_of("Die Königin mit dem Fotografen"), OCR) == 2


def test_a_number_not_on_the_print_is_invented():
    assert invented_words(words_of("The Queen in 1967"), OCR) == 1
    assert invented_words(words_of("The Queen on Oct. 3"), OCR) == 0


def test_the_confidence_multiplies_token_probability_and_the_shares_of_sound_words():
    assert description_confidence("The Queen opens the Severn Bridge.", 0.9, OCR) == pytest.approx(0.9)
    assert description_confidence("The Queen Queen opens it", 1.0, OCR) == pytest.approx(0.8)  # 1 of 5 repeated
    assert description_confidence("The Queen opens marmalade", 1.0, OCR) == pytest.approx(0.75)  # 1 of 4 invented
    assert description_confidence("", 1.0, OCR) is None
    assert description_confidence("The Queen", 0.0, OCR) == 0.0  # no probabilities recorded: nothing to vouch with
