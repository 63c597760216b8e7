"""How sound a description is (SPEC §5b ``description_confidence``). Pure: rapidfuzz, no Beam, no torch.

The description is the one field that is not copied from a single line, so its evidence is word by
word (SPEC §4b: every fact in it comes from the OCR). Three signs of an unsound one, multiplied:

* the model's own probability of its tokens (the geometric mean, ``formats.review.AGGREGATES``'
  ``mean_prob``: one unlikely token in a long sentence is not yet a wrong sentence);
* repeated words: a word or a run of up to three words written twice in a row (``Mrs. Mrs. Mrs.``,
  a loop the guard cut late) — each repetition is a share of the words that carries no fact;
* invented words: words found neither in the OCR (up to OCR noise: rapidfuzz ``ratio`` ≥
  ``WORD_MATCH`` against an OCR word) nor among the language's common words (articles,
  prepositions, the words a caption is rewritten with), and numbers that are not in the OCR.

``confidence = p_tokens × (1 - repeated share) × (1 - invented share)``.
"""
from __future__ import annotations

import re
from typing import Sequence

from rapidfuzz import fuzz, process

from formats.evidence import digit_runs, join_spaced_years

WORD_MATCH = 70.0  # rapidfuzz ratio at which a description word is the OCR word up to noise
_WORD = re.compile(r"[^\W\d_]+|\d+")
_MIN_LETTERS = 3  # shorter words (initials, "de", "of") are not judged

# Words a rewritten caption uses that need not be on the print: articles, pronouns, prepositions,
# conjunctions, common verbs of captions, in the job's five languages (written from general knowledge).
LANGUAGE_WORDS: frozenset[str] = frozenset("""
the and for with from into onto over under after before during at his her hers its their they them this that
these those who whom which what when where while was were are has had have been being will would can could not
one two three four five six seven eight nine ten first second last left right front back next near about
photo photograph picture shows showing shown seen during today yesterday here there also other during
der die das den dem des ein eine einer eines einem und oder mit von vom zum zur bei nach vor über unter
auf aus für ist sind war waren hat hatte haben wird wurde werden sein seine ihre ihr ihm sich nicht auch
bild foto zeigt links rechts heute gestern beim während
les des une aux avec pour par sur sous dans après avant pendant est sont était étaient son ses leur leurs
qui que quoi dont cette ces ont été sera photo montre gauche droite aujourd hier lors entre chez pas
gli della delle degli dello dei alla alle allo agli nel nella nelle negli con per tra fra sul sulla dopo
prima durante sono era erano suo sua suoi loro che chi questo questa foto mostra sinistra destra oggi ieri
los las del una unos unas con para por sobre bajo tras entre después antes durante son era eran sus
que quien este esta estos estas foto muestra izquierda derecha hoy ayer
""".split())


def words_of(text: str) -> list[str]:
    """The words and numbers of ``text``, lower case, a spaced-out year joined."""
    return [word.casefold() for word in _WORD.findall(join_spaced_years(text))]


def repeated_words(words: Sequence[str]) -> int:
    """How many words repeat the run of one to three words just before them (``a b a b`` → 2)."""
    repeated, i = 0, 0
    while i < len(words):
        for size in (1, 2, 3):
            if i >= size and words[i - size:i] == list(words[i:i + size]):
                repeated += size
                i += size
                break
        else:
            i += 1
    return repeated


def invented_words(words: Sequence[str], ocr_lines: Sequence[str]) -> int:
    """How many of ``words`` are neither in the OCR (up to noise) nor common words of a caption."""
    ocr_words = {word for line in ocr_lines for word in words_of(line)}
    ocr_numbers = {number for line in ocr_lines for number in digit_runs(line)}
    invented = 0
    for word in words:
        if word.isdigit():
            invented += int(word) not in ocr_numbers
        elif len(word) >= _MIN_LETTERS and word not in ocr_words and word not in LANGUAGE_WORDS:
            invented += process.extractOne(word, ocr_words, scorer=fuzz.ratio, score_cutoff=WORD_MATCH) is None
    return invented


def description_confidence(description: str, token_probability: float, ocr_lines: Sequence[str]) -> float | None:
    """The description's confidence (module doc); None for an empty description.

    ``token_probability``: the model's probability of the description's tokens (the caller's
    aggregate of the recorded log-probabilities; 0 when none were recorded: no ground to vouch).
    """
    words = words_of(description)
    if not words:
        return None
    return (token_probability * (1 - repeated_words(words) / len(words))
            * (1 - invented_words(words, ocr_lines) / len(words)))
