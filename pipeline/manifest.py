"""The run manifest (SPEC §5): counts, model version, options and times, as JSON beside the output.

Counts of written and dead-lettered rows are read from the Parquet footers of the files
the run committed, so the manifest states what is really there, not what a counter saw.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.redaction import redact_value


@dataclass
class Manifest:
    run_id: str
    model_version: str
    input: str
    output: str
    started_at: str
    finished_at: str
    wall_seconds: float
    records_read: int
    records_written: int
    records_dead_lettered: int
    parse_status: dict[str, int]
    dead_letter_reasons: dict[str, int]
    prompt_tokens: int
    output_tokens: int
    truncated: int
    records_skipped: int = 0  # a backfill's records already processed by an earlier run
    review: dict[str, Any] = field(default_factory=dict)  # SPEC §5b: see review_counts
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def count_invariant_holds(self) -> bool:
        return self.records_read == self.records_written + self.records_dead_lettered + self.records_skipped

    def to_json(self) -> str:
        # Redacted here too: the backfill writes manifests without going through job.execute.
        return json.dumps(redact_value({**asdict(self), "count_invariant_holds": self.count_invariant_holds}),
                          indent=2, sort_keys=True, default=str) + "\n"


def review_counts(counters: dict[str, int]) -> dict[str, Any]:
    """Records and fields sent to review (SPEC §5b), from ``transforms.count_review``'s counters.

    ``by_reason``: records with each reason (a field reason such as ``low_confidence:title``
    counts one field per record); ``by_field``: records with each field in ``review_fields``.
    """
    def under(prefix: str) -> dict[str, int]:
        return {k.removeprefix(prefix): v for k, v in sorted(counters.items()) if k.startswith(prefix)}

    return {"records": counters.get("review_records", 0), "fields": counters.get("review_fields", 0),
            "by_reason": under("review_reason:"), "by_field": under("review_field:")}


def write_json(path: str, text: str) -> None:
    with FileSystems.create(path, mime_type="application/json",
                            compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(text.encode("utf-8"))
