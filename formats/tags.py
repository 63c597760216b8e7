"""The closed set of tags shared by the prompt (SPEC §3) and the completion (SPEC §4).

The fine-tuned GPT-J sees these tags as plain text; training may add them to the
tokenizer, but only as *non-special* added tokens, because the original model decodes
with ``skip_special_tokens=True`` and the tags must survive decoding.
"""
from __future__ import annotations

import re

# Every name that may appear between angle brackets in a prompt or a completion.
RESERVED_TAGS: tuple[str, ...] = (
    "language", "back", "front", "b", "END", "rewrite", "title", "agency", "photographer", "date",
)

# Completion tags in the order the model writes them, each with its output field.
COMPLETION_FIELDS: tuple[tuple[str, str], ...] = (
    ("rewrite", "description"),
    ("title", "title"),
    ("agency", "agency"),
    ("photographer", "photographer"),
    ("date", "date"),
)
COMPLETION_TAGS: tuple[str, ...] = tuple(name for name, _ in COMPLETION_FIELDS)
FIELD_BY_TAG: dict[str, str] = dict(COMPLETION_FIELDS)
FIELDS: tuple[str, ...] = tuple(field for _, field in COMPLETION_FIELDS)
# The fields that get a confidence, a source and review routing (SPEC §5b; formats/review.py).
REVIEWED_FIELDS: tuple[str, ...] = ("title", "agency", "photographer", "date")

# Tags that belong to the prompt only; a completion never contains them.
PROMPT_ONLY_TAGS: tuple[str, ...] = ("back", "front", "b")

# GPT-J's end-of-text token. It is a special token, so OCR text spelling it out could
# end the prompt early inside the tokenizer; the prompt neutralises it like a tag.
END_OF_TEXT = "<|endoftext|>"


def tag(name: str) -> str:
    """The literal tag text, e.g. ``tag("title") == "<title>"``."""
    return f"<{name}>"


END_TAG = tag("END")
LANGUAGE_TAG = tag("language")

# What training adds to the tokenizer (as non-special tokens), in RESERVED_TAGS order.
ALL_TAG_TOKENS: list[str] = [tag(name) for name in RESERVED_TAGS]

# Where the parser starts looking for a tag: "<" followed by a letter or "|" (spaces
# allowed). Completion values never contain one (``prompt.clean_field``).
TAG_START = re.compile(r"<(?=\s*[A-Za-z|])")
