"""Review reason codes (SPEC §5b ``review_reasons``) and what each means in plain words.

A field reason is ``<kind>:<field>``; a record reason stands alone. The report and the review
workbench show ``describe_reason`` beside the field, so a cataloguer reads why a value was not
vouched for without knowing the codes. Pure: no Beam, no torch.
"""
from __future__ import annotations

from formats.roles import CONTRADICTING, EXPECTED, ROLE_WORDS, line_roles

LOW_CONFIDENCE, NOT_IN_OCR, ROLE_MISMATCH, MISSED = "low_confidence", "not_in_ocr", "role_mismatch", "missed"
FIELD_REASONS = (LOW_CONFIDENCE, NOT_IN_OCR, ROLE_MISMATCH, MISSED)
DATE_UNREADABLE = "date_unreadable"
RECORD_REASONS: dict[str, str] = {
    "loop": "the model repeated itself and was moved on; what follows the loop may be missing",
    "token_limit": "the output ran out of tokens; the last fields may be cut or missing",
    "parse_partial": "the model's output was malformed in places",
    "truncated": "the OCR was too long for the prompt, so the model did not see all of it",
}
# What an empty field's missed evidence looks like, by field.
_MISSED_WORDS = {"title": "a caption naming a subject", "agency": ROLE_WORDS["agency"],
                 "photographer": ROLE_WORDS["credit"], "date": "a dated caption or dateline"}


def reason(kind: str, field: str) -> str:
    """The code of a field reason: ``reason("missed", "agency") == "missed:agency"``."""
    if kind not in FIELD_REASONS:
        raise ValueError(f"unknown review reason {kind!r}; one of {FIELD_REASONS}")
    return f"{kind}:{field}"


def describe_reason(code: str, evidence_line: str | None = None) -> str:
    """``code`` (a ``review_reasons`` entry) in plain words.

    ``evidence_line``: for ``role_mismatch``, the text of the field's source line (the row's
    ``<field>_source`` line), whose kind the words name; without it they say "a line of the
    wrong kind". An unknown code is returned as it is, so a newer run still renders.
    """
    if code in RECORD_REASONS:
        return RECORD_REASONS[code]
    if code == DATE_UNREADABLE:
        return "the date cannot be read as a calendar date"
    kind, _, field = code.partition(":")
    if kind == LOW_CONFIDENCE:
        if field == "description":
            return "the description looks unsound: unlikely words, repeated words or words not on the print"
        return f"the model was unsure of the {field}: its confidence is below the threshold"
    if kind == NOT_IN_OCR:
        return f"the {field} was not found in the OCR (or its digits differ from the print's)"
    if kind == MISSED and field in _MISSED_WORDS:
        return f"the {field} was left empty although the OCR holds {_MISSED_WORDS[field]}"
    if kind == ROLE_MISMATCH and field in CONTRADICTING:
        wrong = [role for role in ROLE_WORDS if role in (line_roles(evidence_line) if evidence_line else ())
                 and role in CONTRADICTING[field]]
        if wrong:
            words = f"the {field} was found only in {ROLE_WORDS[wrong[0]]}"
        elif evidence_line is not None and field == "photographer":
            words = "the photographer was found only in the line naming the print's subject (its title)"
        else:
            words = f"the {field} was found only in a line of the wrong kind for it"
        return words + (" while another line dates the photo" if field == "date" else "")
    return code
