"""The review-thresholds document and which threshold is in force, field by field (SPEC §5b, §9).

One JSON shape serves three writers: ``python -m pipeline thresholds --to FILE`` (chosen from
people's decisions), training (``backstamp.json``'s ``"review"`` key) and a person::

    {"thresholds": {"title": 0.9, "agency": 0.8, "photographer": 0.8, "date": 0.5, "description": 0.6},
     "chosen_on": "<what the figures came from>", "target": 0.95, ...}

Every other key is information for people (figures, sample sizes) and is not read back.

The job resolves each field's threshold from the most specific source that names it:
``--review_threshold_<field>`` > ``--review_config FILE`` > the checkpoint's ``backstamp.json``
``"review"`` > the built-in default (``formats.review.DEFAULT_THRESHOLDS``), and the manifest
records the value and the source of each. Per field rather than per document, so a person can
override one threshold of a chosen file. A document's key for a field the job does not route
is ignored; a value outside [0, 1] or not a number is refused, naming where it came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

THRESHOLDS_KEY = "thresholds"
OPTION, CONFIG_FILE, CHECKPOINT, DEFAULT = "option", "review_config", "checkpoint", "default"


class ThresholdsError(ValueError):
    """A thresholds document that cannot be used; the message names it and what is wrong."""


def read_document(document: Any, where: str) -> dict[str, float]:
    """The thresholds of a document (module doc), checked; ``where`` names it in errors."""
    if not isinstance(document, Mapping) or not isinstance(document.get(THRESHOLDS_KEY), Mapping):
        raise ThresholdsError(f"{where}: expected a JSON object with a {THRESHOLDS_KEY!r} object "
                              '(e.g. {"thresholds": {"title": 0.9, ...}})')
    thresholds: dict[str, float] = {}
    for name, value in document[THRESHOLDS_KEY].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ThresholdsError(f"{where}: threshold of {name!r} must be a number in [0, 1], not {value!r}")
        thresholds[str(name)] = float(value)
    return thresholds


def document(thresholds: Mapping[str, float], chosen_on: str, target: float, **extra: Any) -> dict[str, Any]:
    """A thresholds document in the shared shape."""
    return {THRESHOLDS_KEY: dict(thresholds), "chosen_on": chosen_on, "target": target, **extra}


@dataclass(frozen=True)
class InForce:
    """The threshold a field runs with and where it came from (``source``: OPTION, CONFIG_FILE, ...)."""

    threshold: float
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "from": self.source}


def resolve(defaults: Mapping[str, float], options: Mapping[str, Optional[float]],
            config_file: Optional[Mapping[str, float]] = None,
            checkpoint: Optional[Mapping[str, float]] = None) -> dict[str, InForce]:
    """Per field of ``defaults`` the threshold in force: option > config file > checkpoint > default.

    ``options`` maps a field to its ``--review_threshold_<field>`` value (None: not given).
    """
    resolved: dict[str, InForce] = {}
    for name, default in defaults.items():
        for value, source in ((options.get(name), OPTION), ((config_file or {}).get(name), CONFIG_FILE),
                              ((checkpoint or {}).get(name), CHECKPOINT), (default, DEFAULT)):
            if value is not None:
                resolved[name] = InForce(float(value), source)
                break
    return resolved
