"""OCR lines → prompt text (SPEC §3), and label fields → training completion (SPEC §4).

The prompt layout is fixed by the original fine-tuned GPT-J, so ``build_prompt`` is
byte-exact with the SPEC §3 test vector. OCR is untrusted text: every line is cleaned
and any reserved tag it spells out is neutralised, so OCR can never end the prompt early
or smuggle a field into the model's answer. The special tokens of the checkpoint's tokenizer
(``<|im_start|>``, ``<file_sep>``, ``</s>`` ... — whatever the architecture) are passed in by the
job and training (``special_tokens``) and neutralised too, so OCR can only ever spell text.
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Collection, Iterable, Iterator, Mapping, Sequence

# ``regex`` (a dependency of dateparser) knows Unicode categories; ``re`` does not.
import regex

from formats.tags import COMPLETION_FIELDS, END_TAG, LANGUAGE_TAG, RESERVED_TAGS, TAG_START, tag

LINE_SEPARATOR = " <b> "
# Pre-caps applied per side before any tokenisation (see ``cap_lines``). A GPT-J prompt
# budget is at most 2048 tokens, i.e. roughly 8,000 characters; these caps are well above
# that, so they only bound the work done on pathological rows.
MAX_LINES = 512
MAX_CHARS_PER_LINE = 2000
MAX_TOTAL_CHARS = 20000

# Control (Cc: C0, C1, DEL), format (Cf: zero-width, bidi overrides, BOM, soft hyphen) and
# lone surrogates (Cs, which UTF-8 cannot encode). Format characters are invisible and
# could hide a tag from a reader, so they go too.
_INVISIBLE = regex.compile(r"[\p{Cc}\p{Cf}\p{Cs}]+")
_RESERVED = re.compile(
    r"<\s*(" + "|".join(re.escape(name) for name in RESERVED_TAGS) + r")\s*>", re.IGNORECASE)
# "<|" opens a tokenizer special token such as <|endoftext|>; OCR must not spell one.
_SPECIAL_OPEN = re.compile(r"<\|")
# In completion values any tag-looking "<x...>" is defused (see ``clean_field``).
_TAG_LIKE = re.compile(r"<(\s*[A-Za-z|][^<>]*)>")
# A special token's brackets become parentheses, as a reserved tag's do.
_DEFUSE_BRACKETS = str.maketrans("<>[]{}", "()()()")


def split_ocr(value: str | bytes | Sequence | None) -> list[str]:
    """One OCR column value (SPEC §2) → raw lines.

    A string is split on line breaks and on " | " (the flattened form some OCR exports
    use); a list is taken as lines already (an element's own line breaks become spaces
    when cleaned). None and None elements mean "no line". Bytes are decoded as UTF-8 with
    replacement, since a stray bad byte in OCR is noise, not a reason to lose the row.
    ``records.validate_row`` rejects wrong types first; other values are stringified
    here rather than raising.
    """
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return [part for line in value.splitlines() for part in line.split(" | ")]
    if isinstance(value, (list, tuple)):
        lines = []
        for item in value:
            if item is None:
                continue
            if isinstance(item, bytes):
                item = item.decode("utf-8", errors="replace")
            lines.append(item if isinstance(item, str) else str(item))
        return lines
    return [str(value)]


def clean_line(line: str, special_tokens: Collection[str] = ()) -> str:
    """Drop invisible characters, collapse white space, strip, then neutralise tags.

    Neutralising rewrites ``<NAME>`` (any case, spaces allowed inside the brackets) for a
    reserved NAME as ``(NAME)``, and ``<|`` as ``(|``. One pass is enough: a reserved tag
    is ``<``, name letters/spaces, ``>`` with no bracket inside, so matches never overlap,
    and every replacement only removes angle brackets, so no new tag can form. The
    function is therefore idempotent (the tests check both properties). ``special_tokens``
    (a tokenizer's) are then neutralised too (``neutralise_special_tokens``).
    """
    text = " ".join(part for part in (_INVISIBLE.sub("", word) for word in line.split()) if part)
    text = _RESERVED.sub(r"(\1)", text)
    text = _SPECIAL_OPEN.sub("(|", text)
    return neutralise_special_tokens(text, special_tokens) if special_tokens else text


@lru_cache(maxsize=16)
def _special_pattern(special_tokens: frozenset[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(special_tokens, key=len, reverse=True)))


def _defuse(token: str) -> str:
    """A special token as plain text: its brackets as parentheses, or (bracket-free) split by a space
    after its first character; a bracket-free single character is dropped."""
    defused = token.translate(_DEFUSE_BRACKETS)
    if defused != token:
        return defused
    return f"{token[0]} {token[1:]}" if len(token) > 1 else ""


def neutralise_special_tokens(text: str, special_tokens: Collection[str]) -> str:
    """``text`` with no occurrence of any of ``special_tokens`` (exact, as a tokenizer matches them).

    OCR that spells ``<|im_end|>`` or ``<file_sep>`` must not reach the model as the control
    token: ``<file_sep>`` becomes ``(file_sep)``, a bracket-free token gets a space after its
    first character. A replacement can (in contrived vocabularies) complete another token with
    its neighbours, so passes repeat until none is left; each removes brackets or adds a space
    inside a token, so this ends, and the result is idempotent.
    """
    tokens = frozenset(t for t in special_tokens if t and not t.isspace())
    if not tokens:
        return text
    pattern = _special_pattern(tokens)
    while pattern.search(text):
        text = " ".join(pattern.sub(lambda match: _defuse(match.group(0)), text).split())
    return text


def clean_lines(lines: Iterable[str], special_tokens: Collection[str] = ()) -> list[str]:
    """Cleaned lines, empty ones dropped."""
    return list(_iter_clean(lines, special_tokens))


def _iter_clean(lines: Iterable[str], special_tokens: Collection[str] = ()) -> Iterator[str]:
    for line in lines:
        cleaned = clean_line(line, special_tokens)
        if cleaned:
            yield cleaned


def build_prompt(back_lines: Iterable[str], front_lines: Iterable[str], language: str,
                 special_tokens: Collection[str] = ()) -> str:
    """The SPEC §3 prompt; lines are cleaned here (cleaning is idempotent).

    An empty side leaves its tag alone: ``<back> <front> ...`` with single spaces.
    ``special_tokens``: the checkpoint tokenizer's, neutralised in every line.
    """
    parts = [
        LANGUAGE_TAG, clean_line(language, special_tokens),
        tag("back"), LINE_SEPARATOR.join(clean_lines(back_lines, special_tokens)),
        tag("front"), LINE_SEPARATOR.join(clean_lines(front_lines, special_tokens)),
        END_TAG,
    ]
    return " ".join(part for part in parts if part)


def model_input(prompt: str, bos_token: str) -> str:
    """What the tokenizer sees: ``{bos_token} {prompt}``; just the prompt when there is no BOS."""
    return f"{bos_token} {prompt}" if bos_token else prompt


@dataclass(frozen=True)
class FittedPrompt:
    """A prompt within the token budget, with the lines it kept."""

    text: str
    back_lines: tuple[str, ...]
    front_lines: tuple[str, ...]
    truncated: bool
    n_tokens: int


def cap_lines(lines: Iterable[str], max_lines: int = MAX_LINES,
              max_chars_per_line: int = MAX_CHARS_PER_LINE,
              max_total_chars: int = MAX_TOTAL_CHARS) -> tuple[list[str], bool]:
    """Keep the leading lines within cheap character limits, before any tokenisation.

    Each line is cut to ``max_chars_per_line``; lines are kept in order until
    ``max_lines`` lines or ``max_total_chars`` characters (separators not counted), the
    line that crosses the total being cut to fit. Empty lines are skipped. The iterable
    is consumed lazily and only as far as needed. Returns the lines and whether anything
    was cut or dropped.
    """
    kept: list[str] = []
    total = 0
    capped = False
    for line in lines:
        if not line:
            continue
        if len(kept) >= max_lines or total >= max_total_chars:
            capped = True
            break
        limit = min(max_chars_per_line, max_total_chars - total)
        if len(line) > limit:
            line = line[:limit].rstrip()
            capped = True
        if line:
            kept.append(line)
            total += len(line)
    return kept, capped


def _clean_and_cap(lines: Iterable[str], max_lines: int, max_chars_per_line: int,
                   max_total_chars: int, special_tokens: Collection[str] = ()) -> tuple[list[str], bool]:
    """Clean lazily and cap; raw lines are sliced to the per-line cap *before* cleaning.

    Cleaning only shortens a line, so slicing first bounds the work on a huge line; a
    sliced line counts as capped even if cleaning would have brought it under the limit.
    """
    sliced = False

    def sliced_lines() -> Iterator[str]:
        nonlocal sliced
        for line in lines:
            if len(line) > max_chars_per_line:
                sliced = True
                line = line[:max_chars_per_line]
            yield line

    kept, capped = cap_lines(_iter_clean(sliced_lines(), special_tokens), max_lines, max_chars_per_line,
                             max_total_chars)
    return kept, capped or sliced


class _Side:
    """One side's lines, cut to a character *level* (see ``fit_prompt``)."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        # joined[k]: length of the first k lines joined with the separator.
        self.joined = [0]
        for line in lines:
            self.joined.append(self.joined[-1] + len(line) + (len(LINE_SEPARATOR) if len(self.joined) > 1 else 0))

    @property
    def length(self) -> int:
        return self.joined[-1]

    def at_level(self, level: int) -> list[str]:
        keep = bisect_right(self.joined, level) - 1
        if keep == 0 and self.lines and level > 0:
            first = self.lines[0][:level].rstrip()
            return [first] if first else []
        return self.lines[:keep]


def prompt_budget(context: int, max_new_tokens: int, max_prompt_tokens: int | None = None) -> int:
    """Tokens a prompt may take: the context less the room kept for the answer, capped by ``max_prompt_tokens``.

    One rule for the job (``pipeline.job``) and training (``train.data``), so the model is
    trained on prompts cut exactly as they are cut at inference.
    """
    budget = context - max_new_tokens
    return min(budget, max_prompt_tokens) if max_prompt_tokens else budget


def fit_prompt(back_lines: Iterable[str], front_lines: Iterable[str], language: str,
               budget_tokens: int, count_tokens: Callable[[str], int], bos_token: str = "", *,
               max_lines: int = MAX_LINES, max_chars_per_line: int = MAX_CHARS_PER_LINE,
               max_total_chars: int = MAX_TOTAL_CHARS, special_tokens: Collection[str] = ()) -> FittedPrompt:
    """The SPEC §3 prompt shortened until ``count_tokens(model_input(prompt))`` ≤ budget.

    ``special_tokens``: the tokenizer's special tokens, neutralised in the OCR (``clean_line``).

    Rule ("drop trailing lines of the longer side first"):

    1. Each side is cleaned and pre-capped with ``cap_lines`` (cheap, no tokenizer).
    2. If the prompt still exceeds the budget, both sides are cut to a common character
       level L, the largest one that fits. A side no longer than L is untouched; a longer
       side keeps its leading lines whose joined text is at most L characters, or, when
       even its first line is longer than L, the first L characters of that line.
       Lowering L therefore takes trailing lines off the longer side (length measured in
       characters of cleaned text) until it is no longer than the other, then off both,
       and cuts characters only from a side reduced to its first line. Sides of equal
       length are cut together.
    3. L is found by binary search, so ``count_tokens`` runs O(log characters) times
       (about 20 calls at the default caps) whatever the number of lines. Only prompts
       that were measured to fit are returned, so the budget holds even if a tokenizer
       is not perfectly monotone.

    ``truncated`` is True whenever step 1 or 2 removed anything. Raises ValueError when
    the tag skeleton alone (both sides empty) exceeds the budget.
    """
    back, back_capped = _clean_and_cap(back_lines, max_lines, max_chars_per_line, max_total_chars, special_tokens)
    front, front_capped = _clean_and_cap(front_lines, max_lines, max_chars_per_line, max_total_chars, special_tokens)
    counts: dict[str, int] = {}

    def measure(b: list[str], f: list[str]) -> tuple[str, int]:
        text = build_prompt(b, f, language, special_tokens)
        if text not in counts:
            counts[text] = count_tokens(model_input(text, bos_token))
        return text, counts[text]

    text, n_tokens = measure(back, front)
    if n_tokens <= budget_tokens:
        return FittedPrompt(text, tuple(back), tuple(front), back_capped or front_capped, n_tokens)

    skeleton, skeleton_tokens = measure([], [])
    if skeleton_tokens > budget_tokens:
        raise ValueError(f"prompt budget of {budget_tokens} tokens is smaller than the empty prompt "
                         f"({skeleton_tokens} tokens)")

    sides = (_Side(back), _Side(front))
    fits, too_long = 0, max(side.length for side in sides)  # invariant: level `fits` fits
    best = ([], [], skeleton, skeleton_tokens)
    while too_long - fits > 1:
        level = (fits + too_long) // 2
        b, f = (side.at_level(level) for side in sides)
        text, n_tokens = measure(b, f)
        if n_tokens <= budget_tokens:
            fits, best = level, (b, f, text, n_tokens)
        else:
            too_long = level
    b, f, text, n_tokens = best
    return FittedPrompt(text, tuple(b), tuple(f), True, n_tokens)


def clean_field(value: str | None) -> str:
    """A completion value: ``clean_line``, then any tag-looking ``<x...>`` defused.

    The parser treats every ``<`` followed by a letter or ``|`` as a possible tag, so a
    training target must not contain one inside a value, or the model would learn to
    emit stray tags and the target would not parse back to its own fields.
    """
    text = clean_line(value or "")
    text = _TAG_LIKE.sub(r"(\1)", text)
    return TAG_START.sub("(", text)


def build_completion(language: str, fields: Mapping[str, str | None]) -> str:
    """The training target (SPEC §4), keyed by field name (``description``, ``title``, ...).

    Fields whose cleaned value is empty are left out together with their tag, as the
    original model does; ``parse_completion`` returns the cleaned values unchanged.
    """
    parts = [LANGUAGE_TAG, clean_field(language)]
    for tag_name, field in COMPLETION_FIELDS:
        value = clean_field(fields.get(field))
        if value:
            parts += [tag(tag_name), value]
    return " ".join(part for part in parts if part)


def prompt_hash(prompt: str) -> str:
    """sha256 hex of the prompt text (UTF-8), the ``input_hash`` output column."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()
