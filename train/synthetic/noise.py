"""OCR noise: what an archive's OCR does to a back — character confusions (O/0, l/1, rn/m, ...),
dropped and doubled characters, lost accents, case flips, truncated line ends, split and merged lines
and garbage lines. Words keep their label tag through the noise, so labels are read off the noisy text.
"""
from __future__ import annotations

import random
from dataclasses import replace

from train.synthetic.labels import Line, Word

# Lines of OCR garbage (specks, pencil marks, torn paper) that the OCR reads as text.
GARBAGE = ("ME", "RES", ":::", "1 l", "x", "/", "—", "..", "i", "'", "II", "ll", "- -", "0", "J", "AT", "«",
           "NO", "o o", ";", "ALL", "Ш", "(", "]", "%", "3", "m", "III", "ok", "4.", "l l")

CONFUSIONS = {
    "O": "0Q", "0": "O", "o": "0ea", "l": "1I|", "1": "lI", "I": "1l|", "i": "l1", "e": "co", "c": "e",
    "a": "oe", "S": "5$", "5": "S", "B": "8", "8": "B", "E": "F", "h": "b", "u": "v", "n": "m", "m": "n",
    "t": "f", "g": "q", "G": "C", "D": "O", "Z": "2", "2": "Z", "é": "e", "è": "e", "ü": "u", "ä": "a",
    "ö": "o", "ß": "B", "à": "a", "ç": "c", ",": ".", ".": ",", "6": "b", "9": "g", "3": "8", "r": "t",
}
MULTI_CONFUSIONS = (("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("vv", "w"), ("w", "vv"), ("li", "h"))


def ocr(rng: random.Random, lines: list[Line], level: float) -> list[Line]:
    """``lines`` as OCR'd at noise ``level`` (0: verbatim): noisy words, split, merged and truncated lines."""
    if level <= 0:
        return lines
    out: list[Line] = []
    for line in lines:
        line = [noisy_word(rng, w, level) for w in line]
        line = [w for w in line if w.text]
        if not line:
            continue
        r = rng.random()
        if r < level * 0.6 and len(line) > 2:  # split one line into two
            cut = rng.randint(1, len(line) - 1)
            out += [line[:cut], line[cut:]]
            continue
        if r < level * 1.0 and out:  # merge into the previous line
            out[-1] = out[-1] + line
            continue
        if r < level * 1.3 and len(line[-1].text) > 3 and not line[-1].tag:  # a truncated end of line
            line[-1].text = line[-1].text[: -rng.randint(1, 2)]
        out.append(line)
    return out


def noisy_word(rng: random.Random, w: Word, level: float) -> Word:
    if rng.random() >= level * 2.5:
        return w
    text = w.text
    op = rng.random()
    if op < 0.55:
        positions = [i for i, ch in enumerate(text) if ch in CONFUSIONS]
        if positions:
            i = rng.choice(positions)
            text = text[:i] + rng.choice(CONFUSIONS[text[i]]) + text[i + 1:]
    elif op < 0.65:
        for a, b in MULTI_CONFUSIONS:
            if a in text:
                text = text.replace(a, b, 1)
                break
    elif op < 0.85 and len(text) > 3:
        i = rng.randrange(len(text))
        text = text[:i] + text[i + 1:]
    elif op < 0.92:
        i = rng.randrange(len(text))
        text = text[:i] + text[i] + text[i:]
    else:
        text = text.lower() if rng.random() < 0.5 else text.upper()
    return replace(w, text=text)
